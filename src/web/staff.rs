//! Staff accounts as the library changes them: the command line (`kadi staff`) and `kadi demo`
//! call these with their own [`Actor`], so the audit trail records who did it.
use super::auth;
use crate::actor::Actor;
use crate::store::Store;
use anyhow::Result;

/// Validates and saves a staff account with a freshly hashed PIN (a new account, or a new PIN
/// for an existing one).
pub fn add_staff(
    store: &Store,
    actor: &Actor,
    username: &str,
    pin: &str,
    display_name: Option<&str>,
    admin: bool,
) -> Result<()> {
    auth::validate_username(username)?;
    auth::validate_pin(pin)?;
    let hash = auth::hash_pin(pin)?;
    store.upsert_staff(
        actor.as_str(),
        username,
        display_name,
        if admin {
            crate::store::web_data::StaffRole::Admin
        } else {
            crate::store::web_data::StaffRole::Staff
        },
        &hash,
    )
}

/// Removes a staff account and ends its sessions; false when there was no such account.
pub fn remove_staff(store: &Store, actor: &Actor, username: &str) -> Result<bool> {
    store.remove_staff(actor.as_str(), username)
}

/// Clears the login lock of `username` (and, with `address`, that address's budget across
/// usernames); returns how many lock rows were cleared.
pub fn unlock_staff(
    store: &Store,
    actor: &Actor,
    username: &str,
    address: Option<&str>,
) -> Result<usize> {
    store.unlock_logins(actor.as_str(), username, address)
}
