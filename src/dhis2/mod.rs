//! The DHIS2 Web API client (blocking, `ureq`). Version differences between DHIS2 2.36 and 2.42+
//! (wrapper keys, pager shapes, parameter names, `fields` behaviour) are handled here and nowhere
//! else: the rest of kadi sees the version-neutral shapes of [`model`].
//!
//! Errors separate `Unreachable`, `AuthFailed`, `Rejected` and `Malformed` because the sync engine
//! and the page react differently to each. A 401 is never retried: DHIS2 locks an account after
//! four failed logins.
//!
//! The stored connection (`kadi dhis2 config`, the settings page) keeps the password or token
//! sealed with the box's [`crate::secret::SecretKey`]; [`client_from_store`] opens it.

pub mod client;
pub mod model;
mod wire;

pub use client::{
    normalize_base_url, Auth, Client, ConnectionConfig, Dhis2Error, TrackedEntityQuery,
};

use crate::secret::SecretKey;
use crate::store::Store;
use anyhow::{Context, Result};
use serde::Serialize;

/// Builds a client from the connection stored by `kadi dhis2 config` (opening the sealed secret).
pub fn client_from_store(store: &Store) -> Result<Client> {
    let Some(conn) = store.dhis2_connection()? else {
        anyhow::bail!(
            "no DHIS2 connection configured: run `kadi dhis2 config --url URL --username U --password-stdin`"
        );
    };
    let key = SecretKey::load(store.path())?;
    let secret = key
        .open(&conn.secret_sealed)
        .context("opening the stored DHIS2 secret")?;
    let auth = match conn.auth_kind.as_str() {
        "token" => Auth::Token(secret),
        _ => Auth::Basic {
            username: conn.username.unwrap_or_default(),
            password: secret,
        },
    };
    // The stored version is not trusted for parameter names: a server upgraded from 2.40 to 2.42
    // would silently ignore the old names and widen queries. The client asks system/info first.
    let client = Client::new(ConnectionConfig {
        base_url: conn.base_url,
        auth,
    });
    Ok(client)
}

/// Stores a DHIS2 connection: the URL normalised, the password or token sealed. Makes no
/// request. Returns the normalised URL.
pub fn save_connection(store: &Store, actor: &str, base_url: &str, auth: &Auth) -> Result<String> {
    let url = normalize_base_url(base_url);
    anyhow::ensure!(
        url.starts_with("http://") || url.starts_with("https://"),
        "the DHIS2 URL must start with http:// or https:// (got {url:?})"
    );
    let key = SecretKey::load_or_create(store.path())?;
    let (kind, username, secret) = match auth {
        Auth::Basic { username, password } => {
            anyhow::ensure!(
                !username.trim().is_empty(),
                "a DHIS2 username is needed for password authentication"
            );
            ("basic", Some(username.trim()), password.as_str())
        }
        Auth::Token(t) => ("token", None, t.trim()),
    };
    anyhow::ensure!(!secret.is_empty(), "the DHIS2 password or token is empty");
    let sealed = key.seal(secret)?;
    store.save_dhis2_connection(actor, &url, kind, username, &sealed)?;
    Ok(url)
}

/// The outcome of a connection test, shaped as `kadi dhis2 test --json` and the settings page
/// report it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConnectionTest {
    /// `connected`, `auth_failed`, `unreachable`, `rejected` or `malformed`.
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dhis2_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub programmes_available: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organisation_units: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl ConnectionTest {
    fn failed(e: &Dhis2Error) -> ConnectionTest {
        ConnectionTest {
            status: e.kind().to_string(),
            dhis2_version: None,
            server_date: None,
            programmes_available: None,
            organisation_units: None,
            error: Some(e.to_string()),
        }
    }
}

/// Tests a connection: `/api/system/info` first (a wrong password costs exactly one failed
/// login), then programs and the org unit count. Never panics, never retries.
pub fn test_connection(client: &Client) -> ConnectionTest {
    let info = match client.system_info() {
        Ok(i) => i,
        Err(e) => return ConnectionTest::failed(&e),
    };
    let programs = match client.programs() {
        Ok(p) => p,
        Err(e) => return ConnectionTest::failed(&e),
    };
    let org_units = match client.org_unit_count() {
        Ok(n) => n,
        Err(e) => return ConnectionTest::failed(&e),
    };
    ConnectionTest {
        status: "connected".into(),
        dhis2_version: Some(info.version),
        server_date: Some(info.server_date),
        programmes_available: Some(programs.len()),
        organisation_units: Some(org_units),
        error: None,
    }
}
