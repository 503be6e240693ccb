//! API tokens: what a script or another system presents as `Authorization: Bearer TOKEN` to the
//! JSON API ([`super::api`] and [`super::admin_api`]) instead of a staff session. An admin makes
//! them at the box's shell (`kadi token create --name NAME --role admin|staff`), which prints the
//! token once; the store keeps only its SHA-256 (the token is 32 random bytes from the OS, so a
//! fast hash is enough: there is nothing to guess). Revoked and unknown tokens are refused with a
//! 401 that says which (never echoing what was presented).
//!
//! A token acts as the staff member `token:NAME` with the token's role: every audit row of a call
//! made with it names it so. `:` is not allowed in usernames, so no staff account can pose as a
//! token. The command line and the library call these functions with their own [`Actor`].
//!
//! Why a Bearer call skips the CSRF and origin checks of [`super::guard`]: those exist because a
//! browser attaches the session cookie to any request to the box, also one a hostile page makes
//! it send. No browser attaches an `Authorization` header on its own: a page on another origin
//! can only set one through `fetch`, which needs a CORS preflight kadi never grants, and it would
//! have to know the token first. So a request authenticated by its Bearer token carries no
//! ambient credential to abuse; a request authenticated by its cookie always goes through the
//! guard, whatever else it carries.
use super::auth;
use crate::actor::Actor;
use crate::store::token_data::{ApiTokenRow, TokenLookup};
use crate::store::web_data::{StaffMember, StaffRole};
use crate::store::Store;
use anyhow::{bail, Result};
use base64::Engine;
use serde::Serialize;

/// Every token starts with this, so a leaked one is recognisable (secret scanners, logs).
pub const TOKEN_PREFIX: &str = "kadi_";

/// What `kadi token create` answers: the token, shown this once.
#[derive(Debug, Clone, Serialize)]
pub struct CreatedToken {
    pub token: String,
    pub name: String,
    pub role: StaffRole,
    pub created_at: String,
}

/// Checks a token name: 1 to 64 letters, digits, `.`, `_`, `-` (it appears in audit rows).
pub fn validate_token_name(name: &str) -> Result<()> {
    if name.is_empty()
        || name.len() > 64
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        bail!("a token name is 1 to 64 letters, digits, '.', '_' or '-'");
    }
    Ok(())
}

/// Makes a new token (32 random bytes from the OS), stores its hash under `name` and answers the
/// token itself, which is never stored or shown again.
pub fn create_token(
    store: &Store,
    actor: &Actor,
    name: &str,
    role: StaffRole,
) -> Result<CreatedToken> {
    validate_token_name(name)?;
    let bytes: [u8; 32] = crate::secret::random_bytes()?;
    let token = format!(
        "{TOKEN_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    );
    let created_at =
        store.create_api_token(actor.as_str(), name, role, &auth::token_hash(&token))?;
    Ok(CreatedToken {
        token,
        name: name.to_string(),
        role,
        created_at,
    })
}

/// Every token (names, roles, times; never a token).
pub fn list_tokens(store: &Store) -> Result<Vec<ApiTokenRow>> {
    store.api_tokens()
}

/// Revokes the token `name`: calls with it get 401 from now on. An unknown name is an error;
/// answers false when it was already revoked.
pub fn revoke_token(store: &Store, actor: &Actor, name: &str) -> Result<bool> {
    match store.revoke_api_token(actor.as_str(), name)? {
        Some(changed) => Ok(changed),
        None => bail!("no API token named {name} (see `kadi token list`)"),
    }
}

/// The staff name a token acts as in the audit trail.
pub fn token_actor_name(name: &str) -> String {
    crate::store::token_data::token_entity(name)
}

/// What the `Authorization` header of a request says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bearer {
    /// No `Authorization` header: the session (if any) decides.
    Absent,
    /// A live token: the call acts as this member (`token:NAME`, the token's role).
    Valid(StaffMember),
    /// A header that authenticates nobody; the message says why in plain words (401).
    Refused(&'static str),
}

/// Judges an `Authorization` header value. Never logs or returns the token.
pub fn judge_authorization(store: &Store, header: Option<&str>) -> Result<Bearer> {
    let Some(value) = header else {
        return Ok(Bearer::Absent);
    };
    let value = value.trim();
    let token = match value.split_once(' ') {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
        _ => return Ok(Bearer::Refused(
            "the Authorization header must be `Bearer TOKEN` (a token from `kadi token create`)",
        )),
    };
    if token.is_empty() || token.len() > 200 {
        return Ok(Bearer::Refused("this API token is not valid"));
    }
    Ok(match store.use_api_token(&auth::token_hash(token))? {
        TokenLookup::Unknown => Bearer::Refused("this API token is not valid"),
        TokenLookup::Revoked { .. } => {
            Bearer::Refused("this API token has been revoked; ask an admin for a new one")
        }
        TokenLookup::Live { name, role } => Bearer::Valid(StaffMember {
            username: token_actor_name(&name),
            display_name: Some(format!("API token {name}")),
            role,
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_created_token_authenticates_until_revoked_and_is_stored_only_hashed() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("kadi.db")).unwrap();
        let t = create_token(&store, &Actor::Cli, "etl", StaffRole::Staff).unwrap();
        assert!(t.token.starts_with(TOKEN_PREFIX) && t.token.len() >= 40);
        let header = format!("Bearer {}", t.token);
        match judge_authorization(&store, Some(&header)).unwrap() {
            Bearer::Valid(m) => {
                assert_eq!(m.username, "token:etl");
                assert_eq!(m.role, StaffRole::Staff);
            }
            other => panic!("{other:?}"),
        }
        let raw = std::fs::read(dir.path().join("kadi.db")).unwrap();
        let raw = String::from_utf8_lossy(&raw);
        assert!(!raw.contains(&t.token), "the token is stored in clear");
        assert_eq!(judge_authorization(&store, None).unwrap(), Bearer::Absent);
        assert!(matches!(
            judge_authorization(&store, Some("Basic YWRtaW46ZGlzdHJpY3Q=")).unwrap(),
            Bearer::Refused(_)
        ));
        assert!(matches!(
            judge_authorization(&store, Some("Bearer kadi_nope")).unwrap(),
            Bearer::Refused("this API token is not valid")
        ));
        assert!(revoke_token(&store, &Actor::Cli, "etl").unwrap());
        match judge_authorization(&store, Some(&header)).unwrap() {
            Bearer::Refused(why) => assert!(why.contains("revoked"), "{why}"),
            other => panic!("{other:?}"),
        }
        assert!(revoke_token(&store, &Actor::Cli, "nope").is_err());
        assert!(create_token(&store, &Actor::Cli, "a b", StaffRole::Staff).is_err());
    }
}
