//! Signed cards that any box verifies offline (issue 18, docs/verify.md).
//!
//! A card's QR carries its claims (MPI ID, name, date of birth, health centre, issue date,
//! serial, key ID) as CBOR in a COSE_Sign1 signed with this box's Ed25519 key, Base45-encoded
//! under `KC1:` (the format itself, shared with the SQL function `kadi_verify`, is
//! [`kadi_sqlext::card`]). This module owns what needs the box:
//! - [`keys`]: the box's key pair (private key sealed with [`crate::secret`], never readable from
//!   the database alone), rotation that keeps old public keys for verification;
//! - [`sign`]: issuing cards: one serial per person and key, an issue date from the server's
//!   clock, payloads for the card renderer ([`crate::cards::qr`] draws them);
//! - [`check`]: verifying a payload against the keys and revocations in the store;
//! - [`revoke`]: revoking a serial (lost, reissued, merged identity) and reissuing;
//! - [`exchange`]: publishing this box's keys and revocations to DHIS2's dataStore and pulling
//!   every other box's, a step after each sync whose failure never fails the sync.
//!
//! Called by `cards` (payloads), `jobs` (the exchange after a sync), `web` (the /verify page) and
//! the command line. It reads and writes SQL only through `store::verify_data`.
pub mod check;
pub mod exchange;
pub mod keys;
pub mod revoke;
pub mod sign;

pub use check::verify;
pub use kadi_sqlext::card::{Claims, Status, Verdict};
