//! SMS: DHIS2's `POST /api/sms/outbound` or a generic HTTP gateway.
