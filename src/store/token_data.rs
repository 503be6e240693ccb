//! Queries for the `api_tokens` table: the API tokens an admin creates (`kadi token create`) for
//! scripts and other systems calling the JSON API with `Authorization: Bearer`. Only the token's
//! SHA-256 arrives here (computed by `web::tokens`); this module never sees a token in clear, so
//! nothing it stores, audits or puts in an error can leak one. Audit rows name a token
//! `token:NAME`.
use super::web_data::StaffRole;
use super::{now_utc, Store};
use anyhow::{Context, Result};
use rusqlite::{params, OptionalExtension};
use serde::Serialize;

/// One API token as listed (never the token or its hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiTokenRow {
    pub name: String,
    pub role: StaffRole,
    pub created_at: String,
    pub last_used_at: Option<String>,
    pub revoked_at: Option<String>,
}

/// What a presented token hash matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenLookup {
    /// No token has this hash.
    Unknown,
    /// The token was revoked (at this time, UTC).
    Revoked { name: String, at: String },
    /// A live token.
    Live { name: String, role: StaffRole },
}

/// The audit entity of a token.
pub fn token_entity(name: &str) -> String {
    format!("token:{name}")
}

impl Store {
    /// Stores a new token's hash under `name` (unique, also among revoked tokens) and audits it.
    /// Answers the creation time.
    pub fn create_api_token(
        &self,
        actor: &str,
        name: &str,
        role: StaffRole,
        token_hash: &str,
    ) -> Result<String> {
        if let Some(existing) = self.api_token(name)? {
            let state = match existing.revoked_at {
                Some(at) => format!("revoked at {at}"),
                None => "in use".to_string(),
            };
            anyhow::bail!(
                "a token named {name} already exists ({state}); names are never reused, so audit rows name one token: choose another name"
            );
        }
        let now = now_utc();
        self.conn()
            .execute(
                "INSERT INTO api_tokens(name, role, token_hash, created_at) VALUES (?1, ?2, ?3, ?4)",
                params![name, role, token_hash, now],
            )
            .with_context(|| format!("saving API token {name}"))?;
        let after = serde_json::json!({ "role": role }).to_string();
        self.audit(
            actor,
            "token.create",
            Some(&token_entity(name)),
            None,
            Some(&after),
        )?;
        Ok(now)
    }

    /// One token by name.
    pub fn api_token(&self, name: &str) -> Result<Option<ApiTokenRow>> {
        self.conn()
            .query_row(
                "SELECT name, role, created_at, last_used_at, revoked_at FROM api_tokens WHERE name = ?1",
                params![name],
                token_row,
            )
            .optional()
            .context("reading an API token")
    }

    /// Every token, oldest first.
    pub fn api_tokens(&self) -> Result<Vec<ApiTokenRow>> {
        let mut stmt = self.conn().prepare(
            "SELECT name, role, created_at, last_used_at, revoked_at FROM api_tokens ORDER BY id",
        )?;
        let rows = stmt.query_map([], token_row)?;
        rows.collect::<rusqlite::Result<_>>()
            .context("listing API tokens")
    }

    /// Revokes a token (audited). `Ok(None)`: no token of that name; `Ok(Some(false))`: it was
    /// already revoked (nothing changes).
    pub fn revoke_api_token(&self, actor: &str, name: &str) -> Result<Option<bool>> {
        let Some(row) = self.api_token(name)? else {
            return Ok(None);
        };
        if row.revoked_at.is_some() {
            return Ok(Some(false));
        }
        self.conn()
            .execute(
                "UPDATE api_tokens SET revoked_at = ?2 WHERE name = ?1 AND revoked_at IS NULL",
                params![name, now_utc()],
            )
            .with_context(|| format!("revoking API token {name}"))?;
        self.audit(actor, "token.revoke", Some(&token_entity(name)), None, None)?;
        Ok(Some(true))
    }

    /// What a presented token's hash is; a live token's `last_used_at` is brought up to date
    /// (at most once a minute, so a busy script does not write on every call).
    pub fn use_api_token(&self, token_hash: &str) -> Result<TokenLookup> {
        let found: Option<(String, StaffRole, Option<String>)> = self
            .conn()
            .query_row(
                "SELECT name, role, revoked_at FROM api_tokens WHERE token_hash = ?1",
                params![token_hash],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()
            .context("looking up an API token")?;
        let Some((name, role, revoked)) = found else {
            return Ok(TokenLookup::Unknown);
        };
        if let Some(at) = revoked {
            return Ok(TokenLookup::Revoked { name, at });
        }
        let now = now_utc();
        let a_minute_ago =
            crate::clock::format_utc(chrono::Utc::now() - chrono::Duration::minutes(1));
        self.conn()
            .execute(
                "UPDATE api_tokens SET last_used_at = ?2
                 WHERE token_hash = ?1 AND (last_used_at IS NULL OR last_used_at < ?3 OR last_used_at > ?2)",
                params![token_hash, now, a_minute_ago],
            )
            .context("recording an API token's use")?;
        Ok(TokenLookup::Live { name, role })
    }
}

fn token_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ApiTokenRow> {
    Ok(ApiTokenRow {
        name: r.get(0)?,
        role: r.get(1)?,
        created_at: r.get(2)?,
        last_used_at: r.get(3)?,
        revoked_at: r.get(4)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_found_by_hash_revoked_and_their_names_never_reused() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("kadi.db")).unwrap();
        assert_eq!(s.use_api_token("h1").unwrap(), TokenLookup::Unknown);
        s.create_api_token("cli", "etl", StaffRole::Admin, "h1")
            .unwrap();
        assert_eq!(
            s.use_api_token("h1").unwrap(),
            TokenLookup::Live {
                name: "etl".into(),
                role: StaffRole::Admin
            }
        );
        assert!(s.api_token("etl").unwrap().unwrap().last_used_at.is_some());
        assert!(s
            .create_api_token("cli", "etl", StaffRole::Staff, "h2")
            .is_err());
        assert_eq!(s.revoke_api_token("cli", "etl").unwrap(), Some(true));
        assert_eq!(s.revoke_api_token("cli", "etl").unwrap(), Some(false));
        assert_eq!(s.revoke_api_token("cli", "nope").unwrap(), None);
        assert!(matches!(
            s.use_api_token("h1").unwrap(),
            TokenLookup::Revoked { .. }
        ));
        let e = s
            .create_api_token("cli", "etl", StaffRole::Staff, "h3")
            .unwrap_err()
            .to_string();
        assert!(e.contains("revoked"), "{e}");
        let audited: i64 = s
            .conn()
            .query_row(
                "SELECT count(*) FROM audit_log WHERE entity = 'token:etl'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(audited, 2);
    }
}
