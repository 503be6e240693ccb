//! The local web page and JSON API over tiny_http: staff login, beneficiaries, card preview and
//! print, duplicate review, DHIS2 settings, and the Oomus-CampaignID-shaped `/dhis2/...` endpoints.
pub mod cli;
