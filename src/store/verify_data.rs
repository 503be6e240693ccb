//! Queries for signed cards (`crate::verify`): the box's ID, card keys (this box's and the ones
//! pulled from DHIS2), revocations, and the serials of issued cards. Private keys only ever pass
//! through here sealed.
use super::{now_utc, Store};
use anyhow::{Context, Result};
use rusqlite::{params, OptionalExtension};
use std::collections::HashMap;

/// Setting that names this box across the deployment (dataStore keys `keys-<box id>`).
const BOX_ID_KEY: &str = "box.id";

/// A row of `card_keys`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CardKeyRow {
    /// Hex key ID.
    pub kid: String,
    /// Hex Ed25519 public key.
    pub public_key: String,
    /// The box that holds (or held) the private key.
    pub box_id: String,
    /// `YYYY-MM-DD`.
    pub valid_from: String,
    /// `YYYY-MM-DD`, `None` while the key signs.
    pub valid_to: Option<String>,
    /// `local` or `dhis2`.
    pub source: String,
}

/// The two revocation lists, with the same columns: card serials (`card_revocations`) and whole
/// signing keys (`card_key_revocations`, a stolen box's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revocations {
    Cards,
    Keys,
}

impl Revocations {
    fn table(self) -> &'static str {
        match self {
            Revocations::Cards => "card_revocations",
            Revocations::Keys => "card_key_revocations",
        }
    }

    /// The column naming what is revoked.
    fn id(self) -> &'static str {
        match self {
            Revocations::Cards => "serial",
            Revocations::Keys => "kid",
        }
    }

    fn audit_action(self) -> &'static str {
        match self {
            Revocations::Cards => "card.revoke",
            Revocations::Keys => "card_key.revoke",
        }
    }
}

/// A row of either revocation list.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RevocationRow {
    /// What is revoked: the card's serial, or the key ID.
    pub id: String,
    /// Cards: `lost`, `reissued` or `merged`; keys: `stolen` or `compromised`.
    pub reason: String,
    /// `YYYY-MM-DD`.
    pub revoked_on: String,
    /// Who revoked it (an actor; a box ID for pulled rows).
    pub revoked_by: String,
}

/// The card issued to a subject under a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardIssue {
    /// The card's serial.
    pub serial: String,
    /// `YYYY-MM-DD`.
    pub issued_on: String,
}

fn key_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<CardKeyRow> {
    Ok(CardKeyRow {
        kid: r.get(0)?,
        public_key: r.get(1)?,
        box_id: r.get(2)?,
        valid_from: r.get(3)?,
        valid_to: r.get(4)?,
        source: r.get(5)?,
    })
}

const KEY_COLUMNS: &str = "kid, public_key, box_id, valid_from, valid_to, source";

impl Store {
    /// This box's ID, made once (ten characters of the MPI alphabet) and kept in `settings`.
    pub fn box_id(&self) -> Result<String> {
        if let Some(id) = self.setting(BOX_ID_KEY)? {
            return Ok(id);
        }
        let bytes: [u8; 10] = crate::secret::random_bytes()?;
        const ALPHABET: &[u8; 32] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ";
        let id: String = bytes
            .iter()
            .map(|b| ALPHABET[(b & 31) as usize] as char)
            .collect();
        // INSERT OR IGNORE: two processes making it at once agree on the first one.
        self.conn().execute(
            "INSERT OR IGNORE INTO settings(key, value) VALUES (?1, ?2)",
            params![BOX_ID_KEY, id],
        )?;
        Ok(self.setting(BOX_ID_KEY)?.unwrap_or(id))
    }

    /// The latest date the box can trust ([`crate::clock::trusted_today`] over the last date
    /// DHIS2 reported): what issue and revocation dates are.
    pub fn trusted_today(&self) -> Result<chrono::NaiveDate> {
        let last = self.last_server_date()?.and_then(|(date, stamp)| {
            let day = chrono::NaiveDate::parse_from_str(date.get(..10)?, "%Y-%m-%d").ok()?;
            Some((day, stamp.and_then(|s| s.elapsed())))
        });
        Ok(crate::clock::trusted_today(last))
    }

    /// This box's signing key: its row and sealed private key, if one was made.
    pub fn card_signing_key(&self) -> Result<Option<(CardKeyRow, String)>> {
        self.conn()
            .query_row(
                &format!(
                    "SELECT {KEY_COLUMNS}, private_sealed FROM card_keys
                     WHERE source = 'local' AND valid_to IS NULL AND private_sealed IS NOT NULL
                     ORDER BY valid_from DESC, created_at DESC LIMIT 1"
                ),
                [],
                |r| Ok((key_row(r)?, r.get::<_, String>(6)?)),
            )
            .optional()
            .context("reading the card signing key")
    }

    /// Makes `key` (with its sealed private key) this box's signing key; any previous local key
    /// stops signing on `key.valid_from` and forgets its private key (it only verifies from now).
    pub fn install_card_signing_key(
        &self,
        key: &CardKeyRow,
        private_sealed: &str,
        actor: &str,
    ) -> Result<Vec<String>> {
        let tx = self.conn().unchecked_transaction()?;
        let retired: Vec<String> = {
            let mut st = tx.prepare(
                "SELECT kid FROM card_keys WHERE source = 'local' AND valid_to IS NULL ORDER BY kid",
            )?;
            let rows = st.query_map([], |r| r.get(0))?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        tx.execute(
            "UPDATE card_keys SET valid_to = ?1, private_sealed = NULL
             WHERE source = 'local' AND valid_to IS NULL",
            params![key.valid_from],
        )?;
        tx.execute(
            "INSERT INTO card_keys(kid, public_key, box_id, valid_from, valid_to, source, private_sealed, created_at)
             VALUES (?1, ?2, ?3, ?4, NULL, 'local', ?5, ?6)",
            params![key.kid, key.public_key, key.box_id, key.valid_from, private_sealed, now_utc()],
        )?;
        let after = serde_json::json!({ "kid": key.kid, "retired": retired }).to_string();
        tx.execute(
            "INSERT INTO audit_log(at, actor, action, entity, before_json, after_json) VALUES (?1, ?2, 'card.key', ?3, NULL, ?4)",
            params![now_utc(), actor, key.kid, after],
        )?;
        tx.commit()?;
        Ok(retired)
    }

    /// Keys with ID `kid` (normally one; two boxes whose keys share 64 bits of hash would both
    /// be tried).
    pub fn card_keys_for(&self, kid: &str) -> Result<Vec<CardKeyRow>> {
        let mut st = self.conn().prepare_cached(&format!(
            "SELECT {KEY_COLUMNS} FROM card_keys WHERE kid = ?1"
        ))?;
        let rows = st.query_map([kid], key_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Every known key; only this box's when `local_only`.
    pub fn card_keys(&self, local_only: bool) -> Result<Vec<CardKeyRow>> {
        let mut st = self.conn().prepare(&format!(
            "SELECT {KEY_COLUMNS} FROM card_keys WHERE (?1 = 0 OR source = 'local')
             ORDER BY box_id, valid_from, kid"
        ))?;
        let rows = st.query_map([local_only as i64], key_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Stores the keys another box published (`source = dhis2`): new ones are added, known ones
    /// take the published validity. Never touches this box's own keys. Answers how many changed.
    pub fn save_pulled_card_keys(&self, keys: &[CardKeyRow]) -> Result<usize> {
        let tx = self.conn().unchecked_transaction()?;
        let mut changed = 0;
        for k in keys {
            changed += tx.execute(
                "INSERT INTO card_keys(kid, public_key, box_id, valid_from, valid_to, source, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, 'dhis2', ?6)
                 ON CONFLICT(kid) DO UPDATE SET valid_from = excluded.valid_from, valid_to = excluded.valid_to
                 WHERE card_keys.source = 'dhis2' AND card_keys.public_key = excluded.public_key
                   AND (card_keys.valid_from IS NOT excluded.valid_from OR card_keys.valid_to IS NOT excluded.valid_to)",
                params![k.kid, k.public_key, k.box_id, k.valid_from, k.valid_to, now_utc()],
            )?;
        }
        tx.commit()?;
        Ok(changed)
    }

    /// The cards already issued to each of `subjects` under key `kid` and not revoked.
    pub fn current_card_issues(
        &self,
        subjects: &[String],
        kid: &str,
    ) -> Result<HashMap<String, CardIssue>> {
        let mut st = self.conn().prepare_cached(
            "SELECT i.serial, i.issued_on FROM card_issues i
             WHERE i.subject = ?1 AND i.kid = ?2
               AND NOT EXISTS (SELECT 1 FROM card_revocations r WHERE r.serial = i.serial)
             ORDER BY i.issued_on DESC, i.created_at DESC LIMIT 1",
        )?;
        let mut out = HashMap::new();
        for s in subjects {
            if let Some(issue) = st
                .query_row(params![s, kid], |r| {
                    Ok(CardIssue {
                        serial: r.get(0)?,
                        issued_on: r.get(1)?,
                    })
                })
                .optional()?
            {
                out.insert(s.clone(), issue);
            }
        }
        Ok(out)
    }

    /// Records new cards `(subject, serial)` issued under `kid` on `issued_on`, in one
    /// transaction (a bulk generation issues thousands).
    pub fn record_card_issues(
        &self,
        issues: &[(String, String)],
        kid: &str,
        issued_on: &str,
    ) -> Result<()> {
        if issues.is_empty() {
            return Ok(());
        }
        let tx = self.conn().unchecked_transaction()?;
        {
            let mut st = tx.prepare(
                "INSERT INTO card_issues(serial, subject, kid, issued_on, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            let now = now_utc();
            for (subject, serial) in issues {
                st.execute(params![serial, subject, kid, issued_on, now])?;
            }
        }
        tx.commit().context("recording issued cards")?;
        Ok(())
    }

    /// The serials of cards issued to `subject` and not revoked.
    pub fn live_card_serials(&self, subject: &str) -> Result<Vec<String>> {
        let mut st = self.conn().prepare(
            "SELECT serial FROM card_issues i WHERE subject = ?1
             AND NOT EXISTS (SELECT 1 FROM card_revocations r WHERE r.serial = i.serial) ORDER BY serial",
        )?;
        let rows = st.query_map([subject], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Revokes every live card of `subject` (an MPI identity merged into another), reason `merged`.
    pub fn revoke_cards_of(&self, subject: &str, actor: &str) -> Result<Vec<String>> {
        let serials = self.live_card_serials(subject)?;
        for s in &serials {
            self.revoke(Revocations::Cards, s, "merged", actor)?;
        }
        Ok(serials)
    }

    /// Revokes `id` (a card serial or a key ID) here (audited). Answers false when it was
    /// already revoked.
    pub fn revoke(&self, list: Revocations, id: &str, reason: &str, actor: &str) -> Result<bool> {
        let today = self.trusted_today()?.format("%Y-%m-%d").to_string();
        let box_id = self.box_id()?;
        let n = self.conn().execute(
            &format!(
                "INSERT OR IGNORE INTO {}({}, reason, revoked_on, revoked_by, box_id, source)
                 VALUES (?1, ?2, ?3, ?4, ?5, 'local')",
                list.table(),
                list.id()
            ),
            params![id, reason, today, actor, box_id],
        )?;
        if n > 0 {
            let after = serde_json::json!({ "reason": reason, "revoked_on": today }).to_string();
            self.audit(actor, list.audit_action(), Some(id), None, Some(&after))?;
        }
        Ok(n > 0)
    }

    /// Why `id` was revoked, if it was.
    pub fn revocation(&self, list: Revocations, id: &str) -> Result<Option<String>> {
        Ok(self
            .conn()
            .prepare_cached(&format!(
                "SELECT reason FROM {} WHERE {} = ?1",
                list.table(),
                list.id()
            ))?
            .query_row([id], |r| r.get(0))
            .optional()?)
    }

    /// The revocations this box knows, in order (`local_only`: the ones made here, which it
    /// publishes).
    pub fn revocations(&self, list: Revocations, local_only: bool) -> Result<Vec<RevocationRow>> {
        let mut st = self.conn().prepare(&format!(
            "SELECT {id}, reason, revoked_on, revoked_by FROM {table}
             WHERE (?1 = 0 OR source = 'local') ORDER BY {id}",
            id = list.id(),
            table = list.table()
        ))?;
        let rows = st.query_map([local_only], |r| {
            Ok(RevocationRow {
                id: r.get(0)?,
                reason: r.get(1)?,
                revoked_on: r.get(2)?,
                revoked_by: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Stores the revocations box `box_id` published; answers how many were new here. Each row
    /// keeps who revoked it (`revoked_by` `box:<id>`, `box_id`).
    pub fn save_pulled_revocations(
        &self,
        list: Revocations,
        box_id: &str,
        rows: &[RevocationRow],
    ) -> Result<usize> {
        let tx = self.conn().unchecked_transaction()?;
        let sql = format!(
            "INSERT OR IGNORE INTO {}({}, reason, revoked_on, revoked_by, box_id, source)
             VALUES (?1, ?2, ?3, ?4, ?5, 'dhis2')",
            list.table(),
            list.id()
        );
        let mut added = 0;
        for r in rows {
            added += tx.execute(
                &sql,
                params![r.id, r.reason, r.revoked_on, r.revoked_by, box_id],
            )?;
        }
        tx.commit()?;
        Ok(added)
    }
}
