//! Settings of the Google Wallet save links (s11-w): issuer, class, service-account email and the
//! sealed private key. They live in the `settings` table (no schema of their own); the one thing
//! this file adds over [`Store::set_setting`] is a write that audits *that* a secret changed
//! without copying even its sealed form into the audit trail, which backups and analysts read.
use super::Store;
use anyhow::Result;
use rusqlite::params;

impl Store {
    /// Writes a setting that holds a sealed secret; the audit row says "sealed secret replaced"
    /// (or "stored") instead of the value.
    pub fn set_sealed_setting(&self, actor: &str, key: &str, sealed: &str) -> Result<()> {
        let had = self.setting(key)?.is_some();
        self.conn().execute(
            "INSERT INTO settings(key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![key, sealed],
        )?;
        let before = had.then_some("\"(sealed secret)\"");
        self.audit(
            actor,
            "setting.set_secret",
            Some(key),
            before,
            Some("\"(sealed secret)\""),
        )
    }
}
