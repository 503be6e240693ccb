//! The link between the box and its DHIS2: the connection stored in the store (URL, auth kind,
//! the password or token sealed with the box's [`SecretKey`]) made into a [`Client`], and saved.
//! It lives in the app, not in `kadi_dhis2`, so the DHIS2 client knows no store and no secret.
//!
//! Called by `kadi dhis2 config/test`, the settings page and the sync engine.
use crate::actor::Actor;
use crate::dhis2::{normalize_base_url, Auth, Client, ConnectionConfig};
use crate::secret::SecretKey;
use crate::store::Store;
use anyhow::{Context, Result};

/// How the stored connection authenticates (`dhis2_connection.auth_kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthKind {
    /// Username and password (HTTP Basic).
    Basic,
    /// A personal access token.
    Token,
}

impl AuthKind {
    /// The form stored in the database.
    pub fn as_sql(self) -> &'static str {
        match self {
            AuthKind::Basic => "basic",
            AuthKind::Token => "token",
        }
    }

    /// Reads the stored form. An unknown kind is an error naming it: sending a token as a
    /// Basic password would cost a failed login (DHIS2 locks an account after four).
    pub fn from_sql(s: &str) -> Result<AuthKind> {
        match s {
            "basic" => Ok(AuthKind::Basic),
            "token" => Ok(AuthKind::Token),
            other => anyhow::bail!(
                "the stored DHIS2 connection has an unknown auth kind {other:?} (expected \"basic\" or \"token\"): run `kadi dhis2 config` again"
            ),
        }
    }
}

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
    let auth = match AuthKind::from_sql(&conn.auth_kind)? {
        AuthKind::Token => Auth::Token(secret),
        AuthKind::Basic => Auth::Basic {
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
pub fn save_connection(
    store: &Store,
    actor: &Actor,
    base_url: &str,
    auth: &Auth,
) -> Result<String> {
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
            (AuthKind::Basic, Some(username.trim()), password.as_str())
        }
        Auth::Token(t) => (AuthKind::Token, None, t.trim()),
    };
    anyhow::ensure!(!secret.is_empty(), "the DHIS2 password or token is empty");
    let sealed = key.seal(secret)?;
    store.save_dhis2_connection(actor.as_str(), &url, kind.as_sql(), username, &sealed)?;
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_kinds_read_back_their_stored_form_and_an_unknown_one_is_named() {
        for k in [AuthKind::Basic, AuthKind::Token] {
            assert_eq!(AuthKind::from_sql(k.as_sql()).unwrap(), k);
        }
        let e = AuthKind::from_sql("oauth2").unwrap_err().to_string();
        assert!(e.contains("\"oauth2\""), "{e}");
    }
}
