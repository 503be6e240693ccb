//! `kadi mpi`: command-line arguments and their handler (a thin shell over `kadi::mpi`).
use anyhow::{bail, Result};
use kadi::actor::Actor;
use kadi::mpi::eval::{EvalInput, EvalOptions};
use kadi::mpi::review::{self, Decision};
use kadi::output::report;
use kadi::store::Store;
use std::path::{Path, PathBuf};

/// Arguments of `kadi mpi`.
#[derive(Debug, clap::Args)]
pub struct MpiArgs {
    /// Print one JSON document instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: MpiCommand,
}

/// The `kadi mpi` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum MpiCommand {
    /// Resolve every pending card record (what sync does after each run).
    Resolve,
    /// Recheck automatic links with the current scorer: each link it would not make now goes to
    /// the review queue as a split item for a person (nothing is unlinked automatically).
    Recheck {
        /// List the links that would go to review; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// The review queue: list pending pairs, decide one.
    Review {
        #[command(subcommand)]
        command: ReviewCommand,
    },
    /// Link an enrollment to an identity by hand.
    Link {
        /// The enrollment (UID) to link.
        enrollment: String,
        /// The MPI ID of the identity it joins.
        mpi_id: String,
        /// The staff member deciding (audited).
        #[arg(long)]
        by: String,
    },
    /// Take an enrollment out of its identity into a new one.
    Unlink {
        /// The enrollment (UID) to take out.
        enrollment: String,
        /// The staff member deciding (audited).
        #[arg(long)]
        by: String,
    },
    /// Merge identity B into A (B stays resolvable and points to A).
    Merge {
        /// The MPI ID that stays.
        a: String,
        /// The MPI ID merged into A.
        b: String,
        /// The staff member deciding (audited).
        #[arg(long)]
        by: String,
    },
    /// Undo the merge of a merged identity.
    Unmerge {
        /// The MPI ID that was merged into another.
        merged: String,
        /// The staff member deciding (audited).
        #[arg(long)]
        by: String,
    },
    /// Move the given enrollments of one identity into a new identity.
    Split {
        /// The enrollments (UIDs) that move to a new identity.
        #[arg(required = true)]
        enrollments: Vec<String>,
        /// The staff member deciding (audited).
        #[arg(long)]
        by: String,
    },
    /// Show the MPI ID (in force) of an enrollment or of any MPI ID ever issued.
    Show {
        /// An enrollment UID or an MPI ID.
        id: String,
    },
    /// Explain the score of two records given as JSON objects (what SQL `mpi_explain` returns).
    Explain {
        /// The first record, a JSON object of card fields.
        a_json: String,
        /// The second record, a JSON object of card fields.
        b_json: String,
    },
    /// Check an MPI ID's shape and check character.
    CheckId {
        /// The MPI ID to check, e.g. SN-DKR-26-XXXXXXXX.
        mpi_id: String,
    },
    /// Evaluate resolution on labelled records (kadi CSV or FEBRL) in a fresh store.
    Eval(EvalArgs),
    /// Learn the scorer's parameters from this box's own card records (u from random pairs, m by
    /// EM on blocked pairs, term frequencies); prints them and the automatic links they would not
    /// make, and changes nothing unless --apply.
    Train {
        /// Keep the trained table and put it in force for every resolution from now on.
        /// Existing identities are never re-linked or unlinked by it: the automatic links it would
        /// not make are queued for review as split items.
        #[arg(long)]
        apply: bool,
    },
}

/// Arguments of `kadi mpi eval`: exactly one input (`--records`, `--synced` or `--febrl`), each
/// with its truth file.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("input").required(true).args(["records", "synced", "febrl"])))]
pub struct EvalArgs {
    /// kadi evaluation CSV (`id` plus card field columns, `address`, `national_id`).
    #[arg(long, conflicts_with_all = ["febrl", "synced"], requires = "truth")]
    pub records: Option<PathBuf>,
    /// A kadi database filled by `kadi sync` (e.g. from `kadi sim dhis2 --truth PAIRS.csv`):
    /// its card records, read only, are resolved again in a fresh store.
    #[arg(long, conflicts_with = "febrl", requires = "truth")]
    pub synced: Option<PathBuf>,
    /// True pairs `id_a,id_b` for --records or --synced.
    #[arg(long)]
    pub truth: Option<PathBuf>,
    /// A FEBRL file (converted as ../shared/mpi-data/README.md says).
    #[arg(long, requires = "febrl_truth")]
    pub febrl: Option<PathBuf>,
    /// FEBRL truth pairs.
    #[arg(long)]
    pub febrl_truth: Option<PathBuf>,
    /// Drop a field from every record (repeatable), e.g. `--without national_id`.
    #[arg(long)]
    pub without: Vec<String>,
    /// Keep the evaluation store at this path (default: a temporary file, removed after).
    #[arg(long)]
    pub store: Option<PathBuf>,
    /// Also write the pairs that went wrong or to review to this CSV (`id_a,id_b,true_pair,
    /// outcome,scored`: true pairs not linked automatically, with `review` or `new`, and
    /// false pairs joined, with `auto` or `review`), for analysing misses.
    #[arg(long)]
    pub dump_pairs: Option<PathBuf>,
    /// Household of each record (CSV `id,household`, from `kadi sim dhis2 --households-truth`):
    /// false links inside households are then reported separately.
    #[arg(long)]
    pub households: Option<PathBuf>,
    /// Train the scorer on the evaluated records first (no truth used: what `kadi mpi train
    /// --apply` does on a box), and resolve with the learned parameters.
    #[arg(long)]
    pub train: bool,
    /// Also write the records exactly as evaluated (after `--without`) as kadi evaluation CSV to
    /// this file, and the truth pairs beside it (`<stem>_truth.csv`), for a peer tool.
    #[arg(long)]
    pub export_csv: Option<PathBuf>,
    /// Add `calibration` (scored pairs and true pairs per score band) and `blocking` (the
    /// counts behind blocking_recall) to the report.
    #[arg(long)]
    pub calibration: bool,
}

/// `kadi mpi review` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum ReviewCommand {
    /// Pending pairs with both records, score and explanation.
    List,
    /// Decide one review item.
    Decide {
        /// The review item's number (see `kadi mpi review list`).
        id: i64,
        /// The two records are the same person.
        #[arg(
            long,
            conflicts_with = "different",
            required_unless_present = "different"
        )]
        same: bool,
        /// The two records are different people.
        #[arg(long)]
        different: bool,
        /// The staff member deciding.
        #[arg(long)]
        by: String,
    },
}

impl MpiArgs {
    /// Runs the command against the database at `db`. Eval, explain and check-id need no box
    /// database; the rest work on it.
    pub fn run(self, db: &Path) -> Result<()> {
        let json = self.json;
        match self.command {
            MpiCommand::Eval(a) => eval(a, json),
            MpiCommand::Explain { a_json, b_json } => {
                let e = kadi_sqlext::mpi::explain_json(&a_json, &b_json)?;
                kadi::output::print_line(&e.to_string())
            }
            MpiCommand::CheckId { mpi_id } => check_id(&mpi_id, json),
            MpiCommand::Resolve => resolve(&Store::open(db)?, json),
            MpiCommand::Train { apply } => train(&Store::open(db)?, apply, json),
            MpiCommand::Recheck { dry_run } => recheck(&Store::open(db)?, dry_run, json),
            MpiCommand::Review { command } => review_command(&Store::open(db)?, command, json),
            MpiCommand::Show { id } => show(&Store::open(db)?, &id, json),
            identity => identity_command(&Store::open(db)?, identity, json),
        }
    }
}

/// `kadi mpi eval`: resolution measured on labelled records in a fresh store.
fn eval(a: EvalArgs, json: bool) -> Result<()> {
    let input = match (a.records, a.synced, a.truth, a.febrl, a.febrl_truth) {
        (Some(records), None, Some(truth), None, _) => EvalInput::Kadi { records, truth },
        (None, Some(store), Some(truth), None, _) => EvalInput::Synced { store, truth },
        (None, None, _, Some(records), Some(truth)) => EvalInput::Febrl { records, truth },
        // clap's group and `requires` already refuse everything else.
        _ => bail!(
            "give --records FILE --truth PAIRS, --synced DB --truth PAIRS or --febrl FILE --febrl-truth PAIRS"
        ),
    };
    let r = kadi::mpi::eval::run(&EvalOptions {
        input,
        without: a.without,
        store: a.store,
        dump_pairs: a.dump_pairs,
        households: a.households,
        train: a.train,
        export_csv: a.export_csv,
        calibration: a.calibration,
    })?;
    let household_line = r.household_false_links.map(|h| {
        format!(
            "\n  false links inside households: auto {} ({} born 10+ years apart), auto+review {} ({} born 10+ years apart)",
            h.auto, h.auto_born_10y_apart, h.auto_plus_review, h.auto_plus_review_born_10y_apart
        )
    });
    let calibration_line = r.calibration.map(|c| {
        let band = |b: kadi::mpi::eval::BandCount| {
            format!("{} pairs, {} true ({:.4})", b.pairs, b.true_pairs, b.share_true)
        };
        format!(
            "\n  scored pairs: link band {}; review band {}; below {} ({} stopped before the names)",
            band(c.link),
            band(c.review),
            band(c.below),
            c.stopped_early
        )
    });
    report(json, &r, || {
        format!(
            "{}{}{}",
            eval_text(&r),
            household_line.clone().unwrap_or_default(),
            calibration_line.clone().unwrap_or_default()
        )
    })
}

/// The text form of an evaluation report.
fn eval_text(r: &kadi::mpi::eval::EvalReport) -> String {
    format!(
            "{} records, {} true pairs\n  auto:        P {:.4}  R {:.4}  F1 {:.4}\n  auto+review: P {:.4}  R {:.4}  F1 {:.4}\n  review items {}, true pairs left apart {}, blocking recall {:.4}, comparisons {}, {:.3} s, peak RSS {} MB",
            r.records, r.true_pairs, r.auto.precision, r.auto.recall, r.auto.f1, r.auto_plus_review.precision,
            r.auto_plus_review.recall, r.auto_plus_review.f1, r.review_items, r.new_identity_true_pairs,
            r.blocking_recall, r.comparisons, r.seconds, r.peak_rss_mb
    )
}

/// `kadi mpi check-id`: exits 1 (after its report) when the ID is not valid.
fn check_id(mpi_id: &str, json: bool) -> Result<()> {
    let valid = kadi::mpi::id::is_valid_mpi_id(mpi_id);
    report(
        json,
        &serde_json::json!({ "mpi_id": mpi_id, "valid": valid }),
        || {
            format!(
                "{mpi_id}: {}",
                if valid {
                    "valid"
                } else {
                    "INVALID (mistyped?)"
                }
            )
        },
    )?;
    if !valid {
        return Err(kadi::output::AlreadyReported(1).into());
    }
    Ok(())
}

/// `kadi mpi train [--apply]`.
fn train(store: &Store, apply: bool, json: bool) -> Result<()> {
    let params = kadi::mpi::learn::train_store(store, &Default::default())?;
    // Existing identities are never re-linked or unlinked by new parameters: without --apply the
    // links they would not make are listed; with it, each is queued for a person to keep or split.
    let (stored, links) = if apply {
        let id = kadi::mpi::learn::keep(store, &params, true, &Actor::Cli)?;
        (
            Some(id),
            kadi::mpi::recheck::recheck(store, false, &Actor::Cli)?,
        )
    } else {
        let mut settings = kadi::mpi::MpiSettings::load(store)?;
        settings.params = std::sync::Arc::new(params.clone());
        let r = kadi::mpi::recheck::recheck_with(store, &settings, true, &Actor::Cli)?;
        (None, r)
    };
    let body: serde_json::Value = serde_json::from_str(&params.to_json())?;
    let out = serde_json::json!({
        "params": body,
        "stored_id": stored,
        "in_force": apply,
        "links": links,
    });
    report(json, &out, || {
        format!(
            "{}\n{}",
            train_text(&params, stored),
            recheck_text(&links, "the trained parameters")
        )
    })
}

/// The text form of trained parameters: the prior and each level's weight beside the a-priori one.
fn train_text(p: &kadi_sqlext::mpi::Params, stored: Option<i64>) -> String {
    let mut s = String::new();
    if let Some(t) = &p.trained {
        s.push_str(&format!(
            "trained on {} records: {} random pairs (u), {} blocked pairs (m by EM, {} iterations{}), about {} true pairs\n",
            t.records,
            t.random_pairs,
            t.blocked_pairs,
            t.em_iterations,
            if t.converged { ", converged" } else { ", NOT converged" },
            t.expected_matches
        ));
        if let Some(off) = &t.tf_off {
            s.push_str(&format!("term frequencies off: {off}\n"));
        }
    }
    s.push_str(&format!(
        "prior log-odds {:.3} (a priori {:.3})\n",
        p.prior,
        kadi_sqlext::mpi::PRIOR
    ));
    s.push_str("level                              m          u     weight  (a priori)\n");
    for (i, (_, field, level, w0, _)) in kadi_sqlext::mpi::SLOTS.iter().enumerate() {
        let num = |x: Option<f64>| x.map_or("-".to_string(), |v| format!("{v:.6}"));
        s.push_str(&format!(
            "{:<30} {:>9} {:>10} {:>8.3}  ({w0:.1})\n",
            format!("{field}.{level}"),
            num(p.m[i]),
            num(p.u[i]),
            p.weights[i]
        ));
    }
    s.push_str(&match stored {
        Some(id) => format!("stored as mpi_params {id} and in force for resolution from now on"),
        None => "not stored (use --apply to put it in force)".to_string(),
    });
    s
}

/// `kadi mpi resolve`.
fn resolve(store: &Store, json: bool) -> Result<()> {
    let r = kadi::mpi::resolve_pending(store)?;
    report(json, &r, || {
        format!(
            "resolved {} (linked), created {}, pending review {}; {} comparisons, {} capped blocks",
            r.resolved, r.created, r.pending_review, r.comparisons, r.capped_blocks
        )
    })
}

/// `kadi mpi recheck [--dry-run]`.
fn recheck(store: &Store, dry_run: bool, json: bool) -> Result<()> {
    let r = kadi::mpi::recheck::recheck(store, dry_run, &Actor::Cli)?;
    report(json, &r, || recheck_text(&r, "the current scorer"))
}

/// The text form of a recheck: what was checked, flagged and queued, one line per link.
fn recheck_text(r: &kadi::mpi::recheck::RecheckReport, scorer: &str) -> String {
    let mut s = format!(
        "{} automatic link(s) checked, {} {scorer} would not make{}",
        r.links_checked,
        r.flagged.len(),
        if r.dry_run {
            " (dry run: nothing changed)".to_string()
        } else {
            format!("; {} queued for review as split items", r.queued)
        }
    );
    for f in &r.flagged {
        s.push_str(&format!(
            "\n{} in {}: score now {:.3}: {}{}",
            f.enrollment,
            f.mpi_id,
            f.score_now,
            f.reason,
            if f.already_queued {
                " (already waiting for a person)"
            } else {
                ""
            }
        ));
    }
    s
}

/// `kadi mpi review list|decide`.
fn review_command(store: &Store, command: ReviewCommand, json: bool) -> Result<()> {
    match command {
        ReviewCommand::List => {
            let items = review::review_list(store)?;
            report(json, &items, || {
                let mut s = format!("{} pending review item(s)", items.len());
                for i in &items {
                    s.push_str(&format!(
                        "\n#{} {} score {:.3}: {} {:?} <-> {} {:?}",
                        i.id,
                        i.kind,
                        i.score,
                        i.record.enrollment_uid,
                        i.record.fields.full_name(),
                        i.candidate.enrollment_uid,
                        i.candidate.fields.full_name()
                    ));
                    if let Some(r) = &i.reasons {
                        s.push_str(&format!("\n    {}", r.summary));
                    }
                }
                s
            })
        }
        ReviewCommand::Decide {
            id,
            same,
            different: _,
            by,
        } => {
            let d = if same {
                Decision::Same
            } else {
                Decision::Different
            };
            review::review_decide(store, id, d, &Actor::from_sql(&by))?;
            report(
                json,
                &serde_json::json!({ "id": id, "decision": if same { "same" } else { "different" }, "by": by }),
                || {
                    format!(
                        "review item {id} decided {} by {by}",
                        if same { "same" } else { "different" }
                    )
                },
            )
        }
    }
}

/// `kadi mpi link|unlink|merge|unmerge|split`: a person's decision on identities.
fn identity_command(store: &Store, command: MpiCommand, json: bool) -> Result<()> {
    match command {
        MpiCommand::Link {
            enrollment,
            mpi_id,
            by,
        } => {
            review::link(store, &enrollment, &mpi_id, &Actor::from_sql(&by))?;
            report(
                json,
                &serde_json::json!({ "enrollment": enrollment, "mpi_id": mpi_id }),
                || format!("{enrollment} linked to {mpi_id}"),
            )
        }
        MpiCommand::Unlink { enrollment, by } => {
            let id = review::unlink(store, &enrollment, &Actor::from_sql(&by))?;
            report(
                json,
                &serde_json::json!({ "enrollment": enrollment, "mpi_id": id }),
                || format!("{enrollment} now has its own identity {id}"),
            )
        }
        MpiCommand::Merge { a, b, by } => {
            review::merge(store, &a, &b, &Actor::from_sql(&by))?;
            report(
                json,
                &serde_json::json!({ "survivor": a, "merged": b }),
                || format!("{b} merged into {a}"),
            )
        }
        MpiCommand::Unmerge { merged, by } => {
            review::unmerge(store, &merged, &Actor::from_sql(&by))?;
            report(json, &serde_json::json!({ "unmerged": merged }), || {
                format!("{merged} stands on its own again")
            })
        }
        MpiCommand::Split { enrollments, by } => {
            let id = review::split(store, &enrollments, &Actor::from_sql(&by))?;
            report(
                json,
                &serde_json::json!({ "enrollments": enrollments, "mpi_id": id }),
                || format!("moved to new identity {id}"),
            )
        }
        // MpiArgs::run handles the others.
        _ => Ok(()),
    }
}

/// `kadi mpi show`: the MPI ID in force for an enrollment or any MPI ID ever issued.
fn show(store: &Store, id: &str, json: bool) -> Result<()> {
    let current = match kadi::mpi::mpi_id_for(store, id)? {
        Some(m) => Some(m),
        None if store.mpi_identity(id)?.is_some() => Some(kadi::mpi::current_mpi_id(store, id)?),
        None => None,
    };
    let Some(current) = current else {
        bail!("{id} is neither a resolved enrollment nor an MPI ID of this box")
    };
    let ident = store.mpi_identity(&current)?;
    let members = store.mpi_members(&current)?;
    let golden: serde_json::Value = ident
        .as_ref()
        .and_then(|i| serde_json::from_str(&i.golden_json).ok())
        .unwrap_or(serde_json::Value::Null);
    let v =
        serde_json::json!({ "query": id, "mpi_id": current, "members": members, "golden": golden });
    report(json, &v, || {
        format!("{id} -> {current} ({} record(s))", members.len())
    })
}
