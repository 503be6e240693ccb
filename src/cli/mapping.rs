//! `kadi map`: command-line arguments and their handlers.
use anyhow::{bail, Context};
use kadi::actor::Actor;
use kadi::mapping::AssignCodesBody;
use kadi::output::report;
use kadi::store::Store;
use std::path::{Path, PathBuf};

/// Arguments of `kadi map`.
#[derive(Debug, clap::Args)]
pub struct MapArgs {
    #[command(subcommand)]
    pub command: MapCommand,
}

/// Subcommands of `kadi map`.
#[derive(Debug, clap::Subcommand)]
pub enum MapCommand {
    /// Set a program's mapping from an assign-codes JSON file (`-` reads stdin).
    Set {
        /// The program (UID) to map; its metadata is pulled from DHIS2 when the box lacks it.
        #[arg(long)]
        program: String,
        /// The assign-codes JSON file (`-` reads stdin).
        #[arg(long, required_unless_present = "demo")]
        file: Option<PathBuf>,
        /// Use the simulator's demo mapping instead of a file.
        #[arg(long, conflicts_with = "file")]
        demo: bool,
        /// Country calling code for phone numbers written without one (`221`, `+221`; stored as
        /// the setting `mapping.phone_country_code`, default 221). Cards are re-derived with it.
        #[arg(long)]
        phone_country_code: Option<String>,
        /// Print one JSON document instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Show a program's mapping and the card fields left unmapped.
    Show {
        /// The program (UID) whose mapping to show; it must be known to the box.
        #[arg(long)]
        program: String,
        /// Print one JSON document instead of text.
        #[arg(long)]
        json: bool,
    },
}

impl MapArgs {
    /// Runs the command against the database at `db`.
    pub fn run(self, db: &Path) -> anyhow::Result<()> {
        let store = Store::open(db)?;
        match self.command {
            MapCommand::Set {
                program,
                file,
                demo,
                phone_country_code,
                json,
            } => {
                let mut body = if demo {
                    demo_mapping()?
                } else {
                    let Some(file) = file else {
                        // clap requires one of them; kept for a caller that builds the args.
                        bail!("give the mapping: --file F.json (assign-codes body) or --demo")
                    };
                    read_body(&file)?
                };
                if body.programme_uid.trim().is_empty() {
                    body.programme_uid = program.clone();
                }
                if body.programme_uid.trim() != program {
                    bail!(
                        "the file maps programme_uid {} but --program is {program}: make them agree",
                        body.programme_uid
                    );
                }
                if let Some(code) = phone_country_code {
                    kadi::mapping::set_phone_country_code(&store, &Actor::Cli, &code)?;
                }
                let r = kadi::jobs::map_program(&store, &Actor::Cli, &body)?;
                report(json, &r, || {
                    format!(
                        "{} mappings configured for {}; {} card records re-derived; unmapped: {}",
                        r.mappings_configured,
                        r.programme_uid,
                        r.records_remapped,
                        if r.unmapped_card_fields.is_empty() {
                            "none".into()
                        } else {
                            r.unmapped_card_fields.join(", ")
                        }
                    )
                })
            }
            MapCommand::Show { program, json } => {
                let r = kadi::mapping::show_mapping(&store, &program)?;
                report(json, &r, || {
                    let mut s: Vec<String> = r
                        .mappings
                        .iter()
                        .map(|m| format!("{:<16} <- {}", m.card_field, m.source))
                        .collect();
                    s.push(format!(
                        "unmapped: {}",
                        if r.unmapped_card_fields.is_empty() {
                            "none".to_string()
                        } else {
                            r.unmapped_card_fields.join(", ")
                        }
                    ));
                    s.join("\n")
                })
            }
        }
    }
}

fn read_body(file: &Path) -> anyhow::Result<AssignCodesBody> {
    let text = if file == Path::new("-") {
        std::io::read_to_string(std::io::stdin()).context("reading the mapping from stdin")?
    } else {
        std::fs::read_to_string(file)
            .with_context(|| format!("reading mapping file {}", file.display()))?
    };
    serde_json::from_str(&text).with_context(|| {
        format!(
            "mapping file {} is not an assign-codes body ({{\"programme_uid\":…,\"mappings\":[{{\"dhis2_attribute_code\":…,\"card_field\":…}}]}})",
            file.display()
        )
    })
}

/// The simulator's mapping, for `map set --demo` (a build without the `demo` feature has none).
fn demo_mapping() -> anyhow::Result<kadi::mapping::AssignCodesBody> {
    #[cfg(feature = "demo")]
    return Ok(kadi::demo::demo_mapping());
    #[cfg(not(feature = "demo"))]
    bail!("this kadi was built without the demo feature: give the mapping with --file")
}
