//! Skeleton: replaced by the dhis2 work. The public signatures here are the contract sync relies on.
use super::model::*;

/// How kadi authenticates to DHIS2.
#[derive(Clone)]
pub enum Auth {
    /// HTTP basic auth.
    Basic { username: String, password: String },
    /// Personal access token (`Authorization: ApiToken …`, 2.37+).
    Token(String),
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::Basic { username, .. } => write!(f, "Basic({username}, <hidden>)"),
            Auth::Token(_) => write!(f, "Token(<hidden>)"),
        }
    }
}

/// Where and how to reach one DHIS2 server.
#[derive(Debug, Clone)]
pub struct ConnectionConfig {
    /// Normalised base URL without trailing slash or `/api` (see [`normalize_base_url`]).
    pub base_url: String,
    pub auth: Auth,
}

/// Why a DHIS2 call failed, in the categories the sync engine and page act on.
#[derive(Debug)]
pub enum Dhis2Error {
    /// Nothing answered (DNS, refused, timeout, dropped connection).
    Unreachable(String),
    /// 401/403 or a redirect to the login page: wrong credentials. Never retried.
    AuthFailed(String),
    /// The server answered with an error status and (when it gave one) DHIS2's `message`.
    Rejected { status: u16, message: String },
    /// The server answered 2xx with a body kadi cannot read (HTML, truncated JSON, ...).
    Malformed(String),
}

impl std::fmt::Display for Dhis2Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Dhis2Error::Unreachable(m) => write!(f, "DHIS2 unreachable: {m}"),
            Dhis2Error::AuthFailed(m) => write!(f, "DHIS2 authentication failed: {m}"),
            Dhis2Error::Rejected { status, message } => {
                write!(f, "DHIS2 rejected the request ({status}): {message}")
            }
            Dhis2Error::Malformed(m) => write!(f, "DHIS2 sent a response kadi cannot read: {m}"),
        }
    }
}

impl std::error::Error for Dhis2Error {}

/// Normalises a pasted DHIS2 URL: trims, drops trailing slashes and an `/api` (or `/api/41`) suffix.
pub fn normalize_base_url(url: &str) -> String {
    let mut u = url.trim().trim_end_matches('/').to_string();
    if let Some(i) = u.find("/api") {
        let rest = &u[i + 4..];
        if rest.is_empty()
            || rest
                .trim_start_matches('/')
                .chars()
                .all(|c| c.is_ascii_digit())
        {
            u.truncate(i);
        }
    }
    u.trim_end_matches('/').to_string()
}

/// A DHIS2 client, configured once and reused across a sync.
pub struct Client {
    #[allow(dead_code)]
    config: ConnectionConfig,
}

/// Which tracked entities to export.
#[derive(Debug, Clone, Default)]
pub struct TrackedEntityQuery {
    pub program: String,
    /// Org units to search under (descendants); empty means the user's capture scope.
    pub org_units: Vec<String>,
    /// Zone-less server timestamp; only entities updated after it.
    pub updated_after: Option<String>,
    pub include_deleted: bool,
}

impl Client {
    /// Builds a client (no request is made).
    pub fn new(config: ConnectionConfig) -> Client {
        Client { config }
    }
    /// `/api/system/info`.
    pub fn system_info(&self) -> Result<SystemInfo, Dhis2Error> {
        Err(Dhis2Error::Unreachable("not implemented yet".into()))
    }
    /// Programs visible to the user, with attributes and option sets.
    pub fn programs(&self) -> Result<Vec<Program>, Dhis2Error> {
        Err(Dhis2Error::Unreachable("not implemented yet".into()))
    }
    /// All org units (paged internally) with path and level.
    pub fn org_units(&self) -> Result<Vec<OrgUnit>, Dhis2Error> {
        Err(Dhis2Error::Unreachable("not implemented yet".into()))
    }
    /// One page (1-based) of tracked entities with attributes and enrollments.
    pub fn tracked_entities_page(
        &self,
        _query: &TrackedEntityQuery,
        _page: u32,
        _page_size: u32,
    ) -> Result<Page<TrackedEntity>, Dhis2Error> {
        Err(Dhis2Error::Unreachable("not implemented yet".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn pasted_urls_are_normalised() {
        assert_eq!(
            normalize_base_url("https://play.dhis2.org/dev/"),
            "https://play.dhis2.org/dev"
        );
        assert_eq!(normalize_base_url("https://x.org/api"), "https://x.org");
        assert_eq!(normalize_base_url("https://x.org/api/41/"), "https://x.org");
        assert_eq!(
            normalize_base_url(" http://127.0.0.1:8080 "),
            "http://127.0.0.1:8080"
        );
    }
}
