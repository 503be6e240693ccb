//! SMS text: GSM-7 or UCS-2, and its split into parts.
