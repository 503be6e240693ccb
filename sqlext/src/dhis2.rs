//! DHIS2 helpers: UIDs (11 chars, a letter first) and periods. Skeleton.

const LETTERS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
const ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// A new DHIS2 UID from the system's cryptographic random source.
pub fn dhis2_uid() -> String {
    let mut bytes = [0u8; 11];
    // A failing system RNG is not recoverable in any sensible way here.
    getrandom::fill(&mut bytes).expect("system randomness");
    let mut s = String::with_capacity(11);
    s.push(LETTERS[bytes[0] as usize % LETTERS.len()] as char);
    for b in &bytes[1..] {
        s.push(ALNUM[*b as usize % ALNUM.len()] as char);
    }
    s
}

/// True when `s` has DHIS2's UID shape.
pub fn dhis2_uid_valid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 11 && b[0].is_ascii_alphabetic() && b.iter().all(u8::is_ascii_alphanumeric)
}
