//! `kadi token`: API tokens for the JSON API (`Authorization: Bearer`). The token is printed once,
//! by `create`; `list` never shows one. Handlers call `kadi::web::tokens` with [`Actor::Cli`].
use kadi::actor::Actor;
use kadi::output::report;
use kadi::store::web_data::StaffRole;
use kadi::store::Store;
use kadi::web::tokens;
use std::path::Path;

/// Arguments of `kadi token`.
#[derive(Debug, clap::Args)]
pub struct TokenArgs {
    #[command(subcommand)]
    pub command: TokenCommand,
}

/// The role a token acts with.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum RoleArg {
    /// What clinic staff may do: search, preview, cards, assign codes.
    Staff,
    /// Also the settings: DHIS2 connection, mapping, sync schedule.
    Admin,
}

/// What `kadi token` does.
#[derive(Debug, clap::Subcommand)]
pub enum TokenCommand {
    /// Create an API token and print it once (only its hash is stored).
    Create {
        /// A name for the token (letters, digits, '.', '_', '-'); audit rows say `token:NAME`.
        #[arg(long)]
        name: String,
        /// What the token may do.
        #[arg(long, value_enum)]
        role: RoleArg,
        /// Print one JSON document (`{"token": ...}`) instead of text.
        #[arg(long)]
        json: bool,
    },
    /// List API tokens (names, roles, times; never the tokens).
    List {
        /// Print one JSON document instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Revoke an API token: calls with it are refused (401) from now on.
    Revoke {
        /// The token's name.
        name: String,
        /// Print one JSON document instead of text.
        #[arg(long)]
        json: bool,
    },
}

impl TokenArgs {
    /// Runs the command against the database at `db`.
    pub fn run(self, db: &Path) -> anyhow::Result<()> {
        let store = Store::open(db)?;
        match self.command {
            TokenCommand::Create { name, role, json } => {
                let role = match role {
                    RoleArg::Staff => StaffRole::Staff,
                    RoleArg::Admin => StaffRole::Admin,
                };
                let t = tokens::create_token(&store, &Actor::Cli, &name, role)?;
                report(json, &t, || {
                    format!(
                        "{}\n(API token {} with role {}: shown this once; send it as `Authorization: Bearer TOKEN`)",
                        t.token, t.name, t.role
                    )
                })
            }
            TokenCommand::List { json } => {
                let all = tokens::list_tokens(&store)?;
                report(json, &all, || {
                    if all.is_empty() {
                        return "no API tokens".to_string();
                    }
                    all.iter()
                        .map(|t| {
                            let state = match &t.revoked_at {
                                Some(at) => format!("revoked {at}"),
                                None => match &t.last_used_at {
                                    Some(at) => format!("last used {at}"),
                                    None => "never used".to_string(),
                                },
                            };
                            format!("{}\t{}\tcreated {}\t{state}", t.name, t.role, t.created_at)
                        })
                        .collect::<Vec<_>>()
                        .join("\n")
                })
            }
            TokenCommand::Revoke { name, json } => {
                let changed = tokens::revoke_token(&store, &Actor::Cli, &name)?;
                let r = serde_json::json!({ "name": name, "revoked": true, "already_revoked": !changed });
                report(json, &r, || {
                    if changed {
                        format!("API token {name} revoked")
                    } else {
                        format!("API token {name} was already revoked")
                    }
                })
            }
        }
    }
}
