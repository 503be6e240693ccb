//! The WhatsApp Cloud API client.
