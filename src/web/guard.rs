//! Which requests the page accepts before any handler runs: the `Host` a browser asked for (so a
//! hostile DNS name pointed at the box, DNS rebinding, reaches nothing), and for every state
//! change where the request came from (`Origin`, `Sec-Fetch-Site`) plus a CSRF token.
//!
//! Rules, as real browsers send them (tested with headless Chromium):
//! - `Host` must name the listen address, `localhost`, a loopback address, a `--host` name, or,
//!   when listening on `0.0.0.0` / `::`, one of the box's own interface addresses (looked up again
//!   when a request names an unknown one, so an address DHCP handed out after start works). The
//!   port is not compared: a port forward or a proxy may change it, and the name is what DNS
//!   rebinding forges. Wrong `Host` -> 421.
//! - A state change (every POST) is refused when `Origin` names another origin, when it is `null`
//!   without `Sec-Fetch-Site: same-origin`, or when `Sec-Fetch-Site` says another site; and it
//!   must carry a valid CSRF token (form field `csrf` or header `X-CSRF-Token`; at login, the
//!   double-submit token of `web::auth::LoginKey`). A POST with neither a matching origin nor a
//!   valid token is thus always refused.
//! - A JSON call that [`super::api`] authenticated by its `Authorization: Bearer` API token
//!   (`Call::bearer`) skips the origin and CSRF checks: no browser attaches that header by itself,
//!   so there is no ambient credential for another site to ride (see [`super::tokens`]). Only the
//!   token decides then; the cookie is ignored. A request that carries a session cookie and no
//!   Bearer token is judged by the cookie, so it always needs the CSRF token.
use super::auth;
use super::http::{self, Reply};
use super::Call;
use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;

/// The form field that carries the CSRF token.
pub const CSRF_FIELD: &str = "csrf";
/// The header that carries the CSRF token of an API call.
pub const CSRF_HEADER: &str = "X-CSRF-Token";

/// The host names the page answers to.
pub struct AllowedHosts {
    fixed: HashSet<String>,
    /// Listening on every interface: the box's interface addresses are allowed too.
    any_interface: bool,
    interfaces: Mutex<HashSet<String>>,
}

impl AllowedHosts {
    /// The names for a server bound to `listen`, plus the `--host` names an operator configured.
    pub fn new(listen: SocketAddr, configured: &[String]) -> AllowedHosts {
        let mut fixed: HashSet<String> = ["localhost", "127.0.0.1", "::1"]
            .into_iter()
            .map(str::to_string)
            .collect();
        fixed.insert(listen.ip().to_canonical().to_string());
        for name in configured {
            if let Some(n) = host_name(name) {
                fixed.insert(n);
            }
        }
        let any_interface = listen.ip().is_unspecified();
        let hosts = AllowedHosts {
            fixed,
            any_interface,
            interfaces: Mutex::new(HashSet::new()),
        };
        hosts.refresh_interfaces();
        hosts
    }

    /// True when a request with this `Host` header is for this box.
    pub fn allows(&self, host_header: &str) -> bool {
        let Some(name) = host_name(host_header) else {
            return false;
        };
        if self.fixed.contains(&name) {
            return true;
        }
        if !self.any_interface || name.parse::<IpAddr>().is_err() {
            return false;
        }
        if self.interface_known(&name) {
            return true;
        }
        self.refresh_interfaces();
        self.interface_known(&name)
    }

    fn interface_known(&self, name: &str) -> bool {
        self.interfaces
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(name)
    }

    fn refresh_interfaces(&self) {
        if !self.any_interface {
            return;
        }
        let found: HashSet<String> = interface_addresses()
            .into_iter()
            .map(|ip| ip.to_string())
            .collect();
        *self.interfaces.lock().unwrap_or_else(|p| p.into_inner()) = found;
    }
}

/// The host name of a `Host` header (or `--host` value) without port, lowercased, without a
/// trailing dot, IPv6 without brackets; `None` when it is not a plausible name.
pub fn host_name(header: &str) -> Option<String> {
    let h = header.trim();
    let name = if let Some(rest) = h.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        if !(after.is_empty() || after.strip_prefix(':').is_some_and(is_port)) {
            return None;
        }
        inside
    } else {
        match h.rsplit_once(':') {
            Some((name, port)) if is_port(port) && !name.contains(':') => name,
            Some(_) => return None,
            None => h,
        }
    };
    let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
    let plausible = !name.is_empty()
        && name.len() <= 253
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '_'));
    plausible.then_some(name)
}

fn is_port(s: &str) -> bool {
    !s.is_empty() && s.len() <= 5 && s.chars().all(|c| c.is_ascii_digit())
}

/// The box's own interface addresses (`getifaddrs`), IPv4 and IPv6.
pub fn interface_addresses() -> Vec<IpAddr> {
    let mut out = Vec::new();
    let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `list` with a linked list we only read and then free once.
    if unsafe { libc::getifaddrs(&mut list) } != 0 {
        return out;
    }
    let mut cursor = list;
    while !cursor.is_null() {
        // SAFETY: `cursor` is a node of the list getifaddrs returned, not yet freed.
        let node = unsafe { &*cursor };
        if !node.ifa_addr.is_null() {
            // SAFETY: ifa_addr points to a sockaddr whose family says which struct it is.
            let family = unsafe { (*node.ifa_addr).sa_family } as i32;
            if family == libc::AF_INET {
                // SAFETY: family AF_INET means a sockaddr_in.
                let sin = unsafe { &*(node.ifa_addr as *const libc::sockaddr_in) };
                out.push(IpAddr::from(
                    u32::from_be(sin.sin_addr.s_addr).to_be_bytes(),
                ));
            } else if family == libc::AF_INET6 {
                // SAFETY: family AF_INET6 means a sockaddr_in6.
                let sin6 = unsafe { &*(node.ifa_addr as *const libc::sockaddr_in6) };
                out.push(IpAddr::from(sin6.sin6_addr.s6_addr));
            }
        }
        cursor = node.ifa_next;
    }
    // SAFETY: `list` came from getifaddrs and is freed exactly once.
    unsafe { libc::freeifaddrs(list) };
    out
}

/// The answer to a request whose `Host` is not this box (421), or `None` when it is.
pub fn check_host(hosts: &AllowedHosts, call: &Call) -> Option<Reply> {
    match http::header(call.request, "Host") {
        Some(host) if hosts.allows(host) => None,
        Some(_) => Some(Reply::text(
            421,
            "this box does not answer to that host name (start kadi serve with --host NAME to add one)",
        )),
        None => Some(Reply::text(400, "the Host header is missing")),
    }
}

/// Why a state-changing request was refused before its token was looked at.
pub fn cross_site(call: &Call) -> Option<&'static str> {
    let fetch_site = http::header(call.request, "Sec-Fetch-Site");
    if matches!(fetch_site, Some("cross-site" | "same-site")) {
        return Some("the browser says this form came from another site");
    }
    let origin = http::header(call.request, "Origin")?;
    if origin == "null" {
        // Chromium sends `Origin: null` for some same-origin posts (e.g. under a strict referrer
        // policy); it then also says `Sec-Fetch-Site: same-origin`.
        return (fetch_site != Some("same-origin"))
            .then_some("a form from an unknown origin is refused");
    }
    let host = http::header(call.request, "Host").unwrap_or("");
    let origin_host = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"));
    match origin_host {
        Some(o) if o.eq_ignore_ascii_case(host) => None,
        _ => Some("cross-site form posts are refused"),
    }
}

/// The session token of the request, if it carries one.
fn session_token<'r>(call: &'r Call) -> Option<&'r str> {
    super::session_token(call.request)
}

/// Checks a state-changing request of a logged-in staff member and returns its decoded form: the
/// origin checks of [`cross_site`], the body size, then the session's CSRF token in the form or in
/// `X-CSRF-Token`. `Err` carries the refusal to send.
pub fn checked_form(call: &mut Call, limit: usize) -> Result<Vec<(String, String)>, Reply> {
    if call.bearer {
        let body = match http::read_body(call.request, limit) {
            Ok(b) => b,
            Err(http::BodyError::TooLarge) => {
                return Err(Reply::json_error(413, "request body too large"))
            }
            Err(http::BodyError::Io) => {
                return Err(Reply::json_error(400, "could not read the request body"))
            }
        };
        return Ok(http::parse_urlencoded(&String::from_utf8_lossy(&body)));
    }
    if let Some(why) = cross_site(call) {
        return Err(Reply::text(403, why));
    }
    let body = match http::read_body(call.request, limit) {
        Ok(b) => b,
        Err(http::BodyError::TooLarge) => return Err(Reply::text(413, "request body too large")),
        Err(http::BodyError::Io) => {
            return Err(Reply::text(400, "could not read the request body"))
        }
    };
    let form = http::parse_urlencoded(&String::from_utf8_lossy(&body));
    let presented = http::header(call.request, CSRF_HEADER)
        .map(str::to_string)
        .or_else(|| http::param(&form, CSRF_FIELD).map(str::to_string));
    let valid = match (session_token(call), presented) {
        (Some(session), Some(token)) => auth::csrf_matches(session, &token),
        _ => false,
    };
    if !valid {
        return Err(Reply::text(
            403,
            "this form has no valid CSRF token; reload the page and try again",
        ));
    }
    Ok(form)
}

/// Checks a state-changing JSON call and returns its raw body: a Bearer call (see
/// [`super::tokens`]) needs nothing more; a session call passes [`cross_site`] and must carry
/// the session's CSRF token in `X-CSRF-Token`. Refusals are JSON (`{"error": ...}`): 403 for a
/// cross-site call or a missing token, 413 for a body over `limit`.
pub fn checked_body(call: &mut Call, limit: usize) -> Result<Vec<u8>, Reply> {
    if !call.bearer {
        if let Some(why) = cross_site(call) {
            return Err(Reply::json_error(403, why));
        }
        let valid = match (session_token(call), http::header(call.request, CSRF_HEADER)) {
            (Some(session), Some(token)) => auth::csrf_matches(session, token),
            _ => false,
        };
        if !valid {
            return Err(Reply::json_error(
                403,
                "a call with the session cookie needs the session's CSRF token in X-CSRF-Token (GET /api/session), or use an API token (Authorization: Bearer)",
            ));
        }
    }
    match http::read_body(call.request, limit) {
        Ok(b) => Ok(b),
        Err(http::BodyError::TooLarge) => Err(Reply::json_error(413, "request body too large")),
        Err(http::BodyError::Io) => Err(Reply::json_error(400, "could not read the request body")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_headers_parse_to_names() {
        assert_eq!(host_name("Kadi.Local.:8080").as_deref(), Some("kadi.local"));
        assert_eq!(host_name("[::1]:80").as_deref(), Some("::1"));
        assert_eq!(host_name("10.0.0.5").as_deref(), Some("10.0.0.5"));
        assert_eq!(host_name("evil.example:80:80"), None);
        assert_eq!(host_name("a b"), None);
        assert_eq!(host_name(""), None);
    }

    #[test]
    fn the_listen_address_localhost_and_configured_names_are_allowed() {
        let hosts = AllowedHosts::new(
            "192.168.1.10:8080".parse().unwrap(),
            &["kadi.local".to_string()],
        );
        for ok in [
            "192.168.1.10:8080",
            "192.168.1.10",
            "localhost:8080",
            "127.0.0.1:8080",
            "KADI.local:8080",
        ] {
            assert!(hosts.allows(ok), "{ok}");
        }
        for bad in [
            "evil.example",
            "192.168.1.11:8080",
            "rebind.evil.example:8080",
        ] {
            assert!(!hosts.allows(bad), "{bad}");
        }
    }

    #[test]
    fn listening_everywhere_allows_the_box_s_own_addresses() {
        let hosts = AllowedHosts::new("0.0.0.0:8080".parse().unwrap(), &[]);
        let mine = interface_addresses();
        assert!(!mine.is_empty(), "a Linux box has at least loopback");
        for ip in mine {
            let header = match ip {
                IpAddr::V4(v4) => format!("{v4}:8080"),
                IpAddr::V6(v6) => format!("[{v6}]:8080"),
            };
            assert!(hosts.allows(&header), "{header}");
        }
        assert!(!hosts.allows("203.0.113.77:8080"));
        assert!(!hosts.allows("evil.example:8080"));
    }
}
