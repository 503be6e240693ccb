//! `kadi cards`: command-line arguments and their handler.
//!
//! `generate` takes the generate-cards body as flags or `--body FILE.json` (flags win), shows a
//! progress bar when stderr is a terminal and `--json` is off, and prints a report. `preview`
//! renders one enrollment's card. `templates` lists the templates. `bench` (hidden) renders
//! synthetic cards like the Pillow baseline, for `bench/cards_bench.sh`.
use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use kadi::cards::bench::bench_card;
use kadi::cards::generate::{generate, EnrollmentFilter, GenerateRequest, TaskView};
use kadi::cards::render::{render_frame, RenderOptions};
use kadi::cards::template::{template_names, Template, TemplateOptions};
use kadi::cards::{png_out, preview_png};
use kadi::output::report;
use kadi::store::Store;
use rayon::prelude::*;

/// Which enrollments a command selects (`kadi cards generate`, `kadi wallet bulk`): flags that
/// narrow an [`EnrollmentFilter`].
#[derive(Debug, Default, Args)]
pub struct EnrollmentFilterArgs {
    /// Enrolled on or after (YYYY-MM-DD).
    #[arg(long)]
    pub from: Option<String>,
    /// Enrolled on or before (YYYY-MM-DD).
    #[arg(long)]
    pub to: Option<String>,
    /// Org unit UID (a district selects its clinics).
    #[arg(long)]
    pub org_unit: Option<String>,
    /// Enrollment status (ACTIVE, COMPLETED, CANCELLED).
    #[arg(long)]
    pub status: Option<String>,
}

impl EnrollmentFilterArgs {
    /// Sets in `filter` each criterion given on the command line, keeping the others.
    pub fn apply_to(&self, filter: &mut EnrollmentFilter) {
        for (slot, v) in [
            (&mut filter.enrollment_date_from, &self.from),
            (&mut filter.enrollment_date_to, &self.to),
            (&mut filter.org_unit, &self.org_unit),
            (&mut filter.enrollment_status, &self.status),
        ] {
            if v.is_some() {
                *slot = v.clone();
            }
        }
    }
}
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Arguments of `kadi cards`.
#[derive(Debug, clap::Args)]
pub struct CardsArgs {
    /// Print one JSON document instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: CardsCommand,
}

/// What `kadi cards` does.
#[derive(Debug, Subcommand)]
pub enum CardsCommand {
    /// Render the cards of a program (a resumable task; unchanged cards are skipped).
    Generate(Box<GenerateArgs>),
    /// Render one enrollment's card to a PNG file.
    Preview(PreviewArgs),
    /// List the card templates.
    Templates,
    /// Render synthetic cards and print the speed (used by bench/cards_bench.sh).
    #[command(hide = true)]
    Bench(BenchArgs),
    /// Write a contact sheet of all templates (docs/cards-contact-sheet.png).
    #[command(hide = true)]
    ContactSheet {
        /// PNG file to write.
        #[arg(long)]
        out: PathBuf,
    },
}

/// `kadi cards generate`.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// The request as JSON (the generate-cards body); flags below override its fields.
    #[arg(long)]
    pub body: Option<PathBuf>,
    /// Program UID.
    #[arg(long, alias = "programme", required_unless_present = "body")]
    pub program: Option<String>,
    /// Template name (see `kadi cards templates`).
    #[arg(long)]
    pub template: Option<String>,
    /// 300, 450 or 600.
    #[arg(long)]
    pub dpi: Option<u32>,
    /// Do not print the MPI ID as text (the QR still carries it, signed).
    #[arg(long)]
    pub hide_mpi_id: bool,
    #[command(flatten)]
    pub select: EnrollmentFilterArgs,
    /// Template options as JSON, e.g. '{"accent_hex":"#C8102E","max_attrs":3}'.
    #[arg(long)]
    pub template_options: Option<String>,
    /// Output directory (default: cards/<template>-<dpi>/ beside the database).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Also write A4 sheets (PNG) and a printable HTML page.
    #[arg(long)]
    pub sheets: bool,
    /// Rendering threads (default: one per core).
    #[arg(long)]
    pub threads: Option<usize>,
}

/// `kadi cards preview`.
#[derive(Debug, Args)]
pub struct PreviewArgs {
    /// Enrollment UID.
    #[arg(long)]
    pub enrollment: String,
    /// Template name.
    #[arg(long, default_value = "pulse")]
    pub template: String,
    /// 300, 450 or 600.
    #[arg(long, default_value_t = 300)]
    pub dpi: u32,
    /// PNG file to write.
    #[arg(long)]
    pub out: PathBuf,
}

/// `kadi cards bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Cards to render.
    #[arg(long, default_value_t = 1000)]
    pub n: usize,
    /// Resolution.
    #[arg(long, default_value_t = 300)]
    pub dpi: u32,
    /// Threads.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Template.
    #[arg(long, default_value = "pulse")]
    pub template: String,
    /// Directory to write PNGs to (default: a temporary directory, removed).
    #[arg(long)]
    pub keep: Option<PathBuf>,
    /// Render each card in this many bands (to measure splitting one large card).
    #[arg(long, default_value_t = 1)]
    pub bands: u32,
}

impl CardsArgs {
    /// Runs the command against the database at `db`.
    pub fn run(self, db: &Path) -> Result<()> {
        match self.command {
            CardsCommand::Generate(a) => run_generate(*a, db, self.json),
            CardsCommand::Preview(a) => {
                let store = Store::open(db)?;
                let png = preview_png(&store, &a.enrollment, &a.template, a.dpi)?;
                kadi::fsx::write_atomic(&a.out, &png)?;
                let v = serde_json::json!({ "out": a.out.display().to_string(), "bytes": png.len(), "template": a.template, "dpi": a.dpi });
                report(self.json, &v, || {
                    format!("wrote {} ({} bytes)", a.out.display(), png.len())
                })
            }
            CardsCommand::Templates => {
                let list: Vec<serde_json::Value> = template_names()
                    .into_iter()
                    .map(|n| {
                        let d = Template::named(n)
                            .map(|t| t.description)
                            .unwrap_or_default();
                        serde_json::json!({ "name": n, "description": d })
                    })
                    .collect();
                report(self.json, &list, || {
                    list.iter()
                        .map(|t| {
                            format!(
                                "{:<11} {}",
                                t["name"].as_str().unwrap_or(""),
                                t["description"].as_str().unwrap_or("")
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("\n")
                })
            }
            CardsCommand::Bench(a) => run_bench(a),
            CardsCommand::ContactSheet { out } => {
                let png = kadi::cards::bench::contact_sheet()?;
                kadi::fsx::write_atomic(&out, &png)?;
                report(
                    self.json,
                    &serde_json::json!({ "out": out.display().to_string(), "bytes": png.len() }),
                    || format!("wrote {}", out.display()),
                )
            }
        }
    }
}

fn request_from(a: &GenerateArgs) -> Result<GenerateRequest> {
    let mut req = match &a.body {
        Some(p) => {
            let text =
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            serde_json::from_str::<GenerateRequest>(&text)
                .with_context(|| format!("{} is not a generate-cards body", p.display()))?
        }
        None => GenerateRequest::new(
            a.program
                .as_deref()
                // clap requires one of them.
                .context("--program (or --body) is required")?,
        ),
    };
    if let Some(p) = &a.program {
        req.programme_uid = p.clone();
    }
    if let Some(t) = &a.template {
        req.template = t.clone();
    }
    if let Some(d) = a.dpi {
        req.dpi = d;
    }
    if a.hide_mpi_id {
        req.include_mpi_id = false;
    }
    a.select.apply_to(&mut req.enrollment_filter);
    if let Some(o) = &a.template_options {
        req.template_options = serde_json::from_str::<TemplateOptions>(o)
            .context("--template-options is not valid JSON of template options")?;
    }
    if let Some(o) = &a.out {
        req.out_dir = Some(o.display().to_string());
    }
    req.sheets |= a.sheets;
    Ok(req)
}

fn run_generate(a: GenerateArgs, db: &Path, json: bool) -> Result<()> {
    let req = request_from(&a)?;
    let store = Store::open(db)?;
    let bar = (!json && std::io::stderr().is_terminal()).then(|| {
        let b = indicatif::ProgressBar::new(0);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} cards {bar:40} {pos}/{len} ({percent}%) eta {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    });
    let on_progress = |t: &TaskView| {
        if let Some(b) = &bar {
            b.set_length(t.total_cards.max(0) as u64);
            b.set_position(t.cards_generated.max(0) as u64);
        }
    };
    let result = generate(
        &store,
        &GenerateRequest {
            threads: a.threads,
            ..req
        },
        on_progress,
    );
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let r = result?;
    report(json, &r, || {
        let mut s = format!(
            "{} cards ready in {} ({} rendered, {} unchanged) in {:.2} s; task {}",
            r.cards_generated, r.out_dir, r.cards_rendered, r.cards_unchanged, r.seconds, r.task_id
        );
        for f in &r.cards_failed {
            s.push_str(&format!(
                "\n  not rendered: {}: {}",
                f.enrollment_uid, f.error
            ));
        }
        if let Some(h) = &r.html {
            s.push_str(&format!(
                "\n  sheets: {} PNG, printable page {h}",
                r.sheets.len()
            ));
        }
        s
    })
}

fn peak_rss_mb() -> f64 {
    // SAFETY: getrusage only writes into the struct we pass.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) } != 0 {
        return 0.0;
    }
    (u.ru_maxrss as f64 / 1024.0 * 10.0).round() / 10.0
}

fn run_bench(a: BenchArgs) -> Result<()> {
    let template = Template::named(&a.template)?;
    let tmp;
    let dir = match &a.keep {
        Some(d) => {
            std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
            d.clone()
        }
        None => {
            tmp = tempdir()?;
            tmp.clone()
        }
    };
    let opts = RenderOptions {
        dpi: a.dpi,
        include_mpi_id: true,
        bands: a.bands,
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(a.threads.max(1))
        .build()?;
    let one = |i: usize| -> Result<usize> {
        let png = png_out::encode_png(&render_frame(&bench_card(i), &template, opts)?, a.dpi)?;
        let path = dir.join(format!("card_{i:05}_{}.png", a.dpi));
        std::fs::write(&path, &png).with_context(|| format!("writing {}", path.display()))?;
        Ok(png.len())
    };
    // Warm-up outside the timer (fonts, glyph caches), as the baseline does.
    pool.install(|| {
        (0..10 * a.threads.max(1))
            .into_par_iter()
            .map(one)
            .collect::<Result<Vec<_>>>()
    })?;
    let t0 = Instant::now();
    let sizes = pool.install(|| {
        (0..a.n)
            .into_par_iter()
            .map(one)
            .collect::<Result<Vec<_>>>()
    })?;
    let dt = t0.elapsed().as_secs_f64();
    if a.keep.is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    let v = serde_json::json!({
        "dpi": a.dpi, "n": a.n, "threads": a.threads, "bands": a.bands, "seconds": (dt * 1000.0).round() / 1000.0,
        "cards_per_s": (a.n as f64 / dt * 10.0).round() / 10.0, "peak_rss_mb": peak_rss_mb(),
        "mean_png_bytes": sizes.iter().sum::<usize>() / sizes.len().max(1),
    });
    kadi::output::print_line(&v.to_string())?;
    Ok(())
}

fn tempdir() -> Result<PathBuf> {
    let d = std::env::temp_dir().join(format!("kadi-cards-bench-{}", std::process::id()));
    std::fs::create_dir_all(&d).with_context(|| format!("creating {}", d.display()))?;
    Ok(d)
}
