//! The outbox: WhatsApp and SMS messages queued while offline and sent when a connection appears.
//! (Later issue: channels, templates, Google Wallet links, delivery log.)

pub mod wallet;
