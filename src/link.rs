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

/// The DHIS2 settings as `POST /dhis2/config`, the settings page and `kadi dhis2 config` give
/// them. A missing secret keeps the stored one, but only when the URL, the auth kind and the
/// username are unchanged: otherwise whoever may change the settings could send the box's
/// DHIS2 password to a server of their choosing.
#[derive(Clone, Default, PartialEq, Eq, serde::Deserialize)]
pub struct Dhis2Settings {
    /// The DHIS2 address (`dhis2_url`; `url` and `base_url` are accepted too).
    #[serde(alias = "url", alias = "base_url")]
    pub dhis2_url: String,
    /// For password (Basic) authentication.
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    /// A personal access token (DHIS2 2.37+) instead of username and password.
    #[serde(default, alias = "token", alias = "api_token")]
    pub personal_access_token: Option<String>,
    /// The programme the box works with (checked against DHIS2 by the connection test).
    #[serde(default, alias = "program_uid")]
    pub programme_uid: Option<String>,
}

/// Debug output never shows the password or token (a panic message or a log could carry it).
impl std::fmt::Debug for Dhis2Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hidden = |v: &Option<String>| v.as_ref().map(|_| "(hidden)");
        f.debug_struct("Dhis2Settings")
            .field("dhis2_url", &self.dhis2_url)
            .field("username", &self.username)
            .field("password", &hidden(&self.password))
            .field(
                "personal_access_token",
                &hidden(&self.personal_access_token),
            )
            .field("programme_uid", &self.programme_uid)
            .finish()
    }
}

/// The stored DHIS2 settings as they are shown (the Oomus config shape): never the secret.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ConfigView {
    /// The box has one DHIS2 connection: always 1.
    pub config_id: i64,
    pub dhis2_url: String,
    /// `basic` (username and password) or `token` (personal access token).
    pub auth: String,
    pub username: Option<String>,
    /// Whether a password or token is stored (it is never shown).
    pub secret_stored: bool,
    pub programme_uid: Option<String>,
    /// The programme's name, when its metadata is in the store.
    pub programme_name: Option<String>,
    pub dhis2_version: Option<String>,
    pub last_test_at: Option<String>,
    pub last_test_status: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// The stored settings, shown without the secret; `None` before the first configuration.
pub fn config_view(store: &Store) -> Result<Option<ConfigView>> {
    let Some(c) = store.dhis2_connection()? else {
        return Ok(None);
    };
    let programme_name = match &c.programme_uid {
        Some(p) => store.program_name(p)?,
        None => None,
    };
    Ok(Some(ConfigView {
        config_id: 1,
        dhis2_url: c.base_url,
        auth: c.auth_kind,
        username: c.username,
        secret_stored: !c.secret_sealed.is_empty(),
        programme_uid: c.programme_uid,
        programme_name,
        dhis2_version: c.dhis2_version,
        last_test_at: c.last_test_at,
        last_test_status: c.last_test_status,
        created_at: c.created_at,
        updated_at: c.updated_at,
    }))
}

/// Saves DHIS2 settings (the secret sealed, see [`Dhis2Settings`]) and answers them as shown.
/// Makes no request: [`test_stored_connection`] does.
pub fn save_settings(store: &Store, actor: &Actor, s: &Dhis2Settings) -> Result<ConfigView> {
    let present = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    let (username, password, token) = (
        present(&s.username),
        present(&s.password),
        present(&s.personal_access_token),
    );
    anyhow::ensure!(
        !s.dhis2_url.trim().is_empty(),
        "dhis2_url is required (the DHIS2 address, e.g. https://dhis2.example.org)"
    );
    let programme = present(&s.programme_uid);
    if let Some(p) = &programme {
        anyhow::ensure!(
            kadi_sqlext::dhis2::dhis2_uid_valid(p),
            "programme_uid {:?} is not a DHIS2 UID (11 letters and digits, a letter first)",
            crate::output::escape_log(p, 40)
        );
    }
    anyhow::ensure!(
        !(token.is_some() && (username.is_some() || password.is_some())),
        "give either username and password, or personal_access_token, not both"
    );
    let url = normalize_base_url(&s.dhis2_url);
    let auth = match (token, username) {
        (Some(t), _) => Some(Auth::Token(t)),
        (None, Some(u)) => password.map(|p| Auth::Basic {
            username: u,
            password: p,
        }),
        (None, None) => anyhow::bail!("give username and password, or personal_access_token"),
    };
    match auth {
        Some(a) => {
            save_connection(store, actor, &url, &a)?;
        }
        None => keep_secret(store, actor, &url, present(&s.username).as_deref())?,
    }
    store.set_dhis2_programme(actor.as_str(), programme.as_deref())?;
    config_view(store)?.context("the DHIS2 connection was saved but cannot be read back")
}

/// Saves settings without a new password: allowed only for the same URL, Basic auth and user.
fn keep_secret(store: &Store, actor: &Actor, url: &str, username: Option<&str>) -> Result<()> {
    let Some(c) = store.dhis2_connection()? else {
        anyhow::bail!("password is required: no DHIS2 password is stored yet");
    };
    let same = c.base_url == url
        && c.auth_kind == AuthKind::Basic.as_sql()
        && c.username.as_deref() == username;
    anyhow::ensure!(
        same,
        "password is required when the DHIS2 address or username changes (the stored password is only kept for the same server and user)"
    );
    // Nothing of the connection changes; re-saving keeps the sealed secret as it is.
    store.save_dhis2_connection(
        actor.as_str(),
        &c.base_url,
        &c.auth_kind,
        c.username.as_deref(),
        &c.secret_sealed,
    )
}

/// A program DHIS2 shows to the box's user.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NamedProgram {
    pub uid: String,
    pub name: String,
}

/// An org unit the box's user is assigned to (its data capture root).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NamedOrgUnit {
    pub uid: String,
    pub name: String,
    pub level: Option<u32>,
}

/// What a connection test found, in the words the page and the API show.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ConnectionReport {
    /// `connected`, `not_configured`, `auth_failed`, `unreachable`, `rejected` or `malformed`.
    pub status: String,
    pub dhis2_url: Option<String>,
    pub dhis2_version: Option<String>,
    pub server_date: Option<String>,
    /// The programs the user can see, by name.
    pub programs: Vec<NamedProgram>,
    /// The org units the user is assigned to, by name (their descendants are counted below).
    pub org_units: Vec<NamedOrgUnit>,
    /// How many org units the user can see in all.
    pub organisation_units: Option<u64>,
    pub programmes_available: Option<usize>,
    /// The configured programme, and whether DHIS2 shows it to the user.
    pub programme_uid: Option<String>,
    pub programme_found: Option<bool>,
    /// What went wrong, in plain words (with what to do).
    pub error: Option<String>,
    /// The technical message behind `error`.
    pub detail: Option<String>,
}

/// What a failed test's status means for the person at the settings page.
pub fn plain_words(status: &str, url: &str) -> String {
    match status {
        "auth_failed" => format!("DHIS2 at {url} refused the username and password (or the token). Check them and save again; DHIS2 locks an account after a few wrong passwords."),
        "unreachable" => format!("kadi could not reach DHIS2 at {url}. Check the address and that the box is online; kadi syncs when the connection comes back."),
        "rejected" => format!("DHIS2 at {url} answered with an error. It may be busy or the user may lack rights; try again later or ask the DHIS2 administrator."),
        "malformed" => format!("{url} answers, but not like a DHIS2 server. Check the address (the DHIS2 start page, without /api)."),
        "not_configured" => "No DHIS2 connection is configured yet: enter the address, username and password first.".to_string(),
        other => format!("The connection test ended with {other}."),
    }
}

/// Tests the stored connection: version, programs and the user's org units by name, and whether
/// the configured programme is among the programs. Records the outcome (and the server's clock)
/// in the store. Never fails for DHIS2's sake: a failure is a report with `error` in plain words.
pub fn test_stored_connection(store: &Store) -> Result<ConnectionReport> {
    let Some(conn) = store.dhis2_connection()? else {
        let mut r = empty_report("not_configured", None, None);
        r.error = Some(plain_words("not_configured", ""));
        return Ok(r);
    };
    let client = client_from_store(store)?;
    let url = client.base_url().to_string();
    let mut r = empty_report("connected", Some(url.clone()), conn.programme_uid.clone());
    match probe(&client, &mut r) {
        Ok(()) => {
            r.programme_found = r
                .programme_uid
                .as_ref()
                .map(|p| r.programs.iter().any(|x| &x.uid == p));
            if r.programme_found == Some(false) {
                r.error = Some(format!(
                    "Connected, but DHIS2 shows this user no programme {}: choose one of the programmes listed.",
                    r.programme_uid.as_deref().unwrap_or("")
                ));
            }
        }
        Err(e) => {
            r.status = e.kind().to_string();
            r.error = Some(format!("{} ({e})", plain_words(&r.status, &url)));
            r.detail = Some(e.to_string());
        }
    }
    store.record_dhis2_test(&r.status, r.dhis2_version.as_deref())?;
    if let Some(d) = &r.server_date {
        store.record_server_date(d)?;
    }
    Ok(r)
}

fn empty_report(
    status: &str,
    url: Option<String>,
    programme_uid: Option<String>,
) -> ConnectionReport {
    ConnectionReport {
        status: status.to_string(),
        dhis2_url: url,
        dhis2_version: None,
        server_date: None,
        programs: Vec::new(),
        org_units: Vec::new(),
        organisation_units: None,
        programmes_available: None,
        programme_uid,
        programme_found: None,
        error: None,
        detail: None,
    }
}

/// The requests of a test: system info first (a wrong password costs one failed login), then
/// programs, the user's org units (at most 20 named) and the org unit count.
fn probe(client: &Client, r: &mut ConnectionReport) -> Result<(), crate::dhis2::Dhis2Error> {
    let info = client.system_info()?;
    r.dhis2_version = Some(info.version);
    r.server_date = Some(info.server_date);
    let mut programs: Vec<NamedProgram> = client
        .programs()?
        .into_iter()
        .map(|p| NamedProgram {
            uid: p.uid,
            name: p.name,
        })
        .collect();
    programs.sort_by(|a, b| a.name.cmp(&b.name));
    r.programmes_available = Some(programs.len());
    r.programs = programs;
    for uid in client.me()?.org_units.iter().take(20) {
        let ou = client.org_unit(uid)?;
        r.org_units.push(NamedOrgUnit {
            uid: ou.uid,
            name: ou.name,
            level: ou.level,
        });
    }
    r.organisation_units = Some(client.org_unit_count()?);
    Ok(())
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
