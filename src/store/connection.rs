//! Store queries for the `dhis2_connection` table: the one DHIS2 server this box talks to. The
//! secret (password or personal access token) arrives here already sealed by
//! [`crate::secret::SecretKey`]; this module never sees it in clear text and never audits it.
use super::{now_utc, Store};
use anyhow::{Context, Result};
use rusqlite::{params, OptionalExtension};

/// The stored DHIS2 connection.
#[derive(Debug, Clone, PartialEq)]
pub struct Dhis2Connection {
    pub base_url: String,
    /// `basic` or `token`.
    pub auth_kind: String,
    pub username: Option<String>,
    /// The sealed password or token (see [`crate::secret::SecretKey::open`]).
    pub secret_sealed: String,
    pub dhis2_version: Option<String>,
    pub last_test_at: Option<String>,
    pub last_test_status: Option<String>,
    pub updated_at: String,
    /// When the connection was first configured (the Oomus config's `created_at`).
    pub created_at: String,
    /// The programme the box works with (`POST /dhis2/config` `programme_uid`), when chosen.
    pub programme_uid: Option<String>,
}

impl Store {
    /// The configured DHIS2 connection, if any.
    pub fn dhis2_connection(&self) -> Result<Option<Dhis2Connection>> {
        self.conn()
            .query_row(
                "SELECT base_url, auth_kind, username, secret_sealed, dhis2_version, last_test_at, last_test_status, updated_at,
                   COALESCE(created_at, updated_at), programme_uid
                 FROM dhis2_connection WHERE id = 1",
                [],
                |r| {
                    Ok(Dhis2Connection {
                        base_url: r.get(0)?,
                        auth_kind: r.get(1)?,
                        username: r.get(2)?,
                        secret_sealed: r.get(3)?,
                        dhis2_version: r.get(4)?,
                        last_test_at: r.get(5)?,
                        last_test_status: r.get(6)?,
                        updated_at: r.get(7)?,
                        created_at: r.get(8)?,
                        programme_uid: r.get(9)?,
                    })
                },
            )
            .optional()
            .context("reading the DHIS2 connection")
    }

    /// Saves (replaces) the DHIS2 connection and audits the change (URL, kind and user only).
    pub fn save_dhis2_connection(
        &self,
        actor: &str,
        base_url: &str,
        auth_kind: &str,
        username: Option<&str>,
        secret_sealed: &str,
    ) -> Result<()> {
        let before = self
            .dhis2_connection()?
            .map(|c| audit_json(&c.base_url, &c.auth_kind, c.username.as_deref()));
        self.conn()
            .execute(
                "INSERT INTO dhis2_connection(id, base_url, auth_kind, username, secret_sealed, updated_at, created_at)
                 VALUES (1, ?1, ?2, ?3, ?4, ?5, ?5)
                 ON CONFLICT(id) DO UPDATE SET base_url = excluded.base_url, auth_kind = excluded.auth_kind,
                   username = excluded.username, secret_sealed = excluded.secret_sealed,
                   dhis2_version = NULL, last_test_at = NULL, last_test_status = NULL, updated_at = excluded.updated_at",
                params![base_url, auth_kind, username, secret_sealed, now_utc()],
            )
            .context("saving the DHIS2 connection")?;
        let after = audit_json(base_url, auth_kind, username);
        self.audit(
            actor,
            "dhis2.config",
            Some("dhis2_connection"),
            before.as_deref(),
            Some(&after),
        )
    }

    /// Sets (or clears) the programme the box works with; audited. The connection must exist.
    pub fn set_dhis2_programme(&self, actor: &str, programme_uid: Option<&str>) -> Result<()> {
        let before = self.dhis2_connection()?.and_then(|c| c.programme_uid);
        let n = self
            .conn()
            .execute(
                "UPDATE dhis2_connection SET programme_uid = ?1, updated_at = ?2 WHERE id = 1",
                params![programme_uid, now_utc()],
            )
            .context("saving the DHIS2 programme")?;
        anyhow::ensure!(n == 1, "no DHIS2 connection configured yet");
        if before.as_deref() != programme_uid {
            self.audit(
                actor,
                "dhis2.programme",
                Some("dhis2_connection"),
                before.as_deref(),
                programme_uid,
            )?;
        }
        Ok(())
    }

    /// Records the outcome of a connection test (`connected`, `auth_failed`, ...).
    pub fn record_dhis2_test(&self, status: &str, dhis2_version: Option<&str>) -> Result<()> {
        self.conn()
            .execute(
                "UPDATE dhis2_connection SET last_test_at = ?1, last_test_status = ?2,
                   dhis2_version = COALESCE(?3, dhis2_version) WHERE id = 1",
                params![now_utc(), status, dhis2_version],
            )
            .context("recording the DHIS2 connection test")?;
        Ok(())
    }
}

fn audit_json(base_url: &str, auth_kind: &str, username: Option<&str>) -> String {
    serde_json::json!({ "base_url": base_url, "auth_kind": auth_kind, "username": username })
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_connection_reads_back_and_tests_are_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("kadi.db")).unwrap();
        assert!(s.dhis2_connection().unwrap().is_none());
        s.save_dhis2_connection("cli", "http://x.org", "basic", Some("admin"), "SEALED")
            .unwrap();
        s.record_dhis2_test("connected", Some("2.41.0")).unwrap();
        let c = s.dhis2_connection().unwrap().unwrap();
        assert_eq!(c.base_url, "http://x.org");
        assert_eq!(c.secret_sealed, "SEALED");
        assert_eq!(c.dhis2_version.as_deref(), Some("2.41.0"));
        assert_eq!(c.last_test_status.as_deref(), Some("connected"));
        s.save_dhis2_connection("cli", "http://y.org", "token", None, "SEALED2")
            .unwrap();
        let c = s.dhis2_connection().unwrap().unwrap();
        assert_eq!((c.auth_kind.as_str(), c.username), ("token", None));
        assert_eq!(c.last_test_status, None);
    }
}
