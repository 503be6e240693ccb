//! MPI IDs: `SN-DKR-26-XXXXXXXX-C` — country and district prefix (a setting, so boxes of different
//! districts never collide), two-digit year, eight random characters and one check character.
//!
//! The alphabet has 32 symbols without the look-alikes O/0 and I/1. The check character is a
//! Damm-style check over the quasigroup `x ∘ y = 2·x ⊕ y` in GF(32) (polynomial x⁵+x²+1): each row
//! and column is a permutation (so any single wrong character is caught) and the quasigroup is
//! weakly totally anti-symmetric (so any swap of two adjacent different characters is caught).
//! 40 random bits per district and year make an offline collision on two boxes very unlikely; the
//! store's primary key catches one on the same box (the caller draws again).

/// The 32 symbols of the random part and the check character.
pub const ALPHABET: &[u8; 32] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ";

fn value(c: u8) -> Option<u8> {
    ALPHABET
        .iter()
        .position(|&a| a == c.to_ascii_uppercase())
        .map(|p| p as u8)
}

/// Multiplication by 2 in GF(32) with x⁵+x²+1.
fn times2(x: u8) -> u8 {
    let y = x << 1;
    if y & 0x20 != 0 {
        (y ^ 0x25) & 0x1f
    } else {
        y
    }
}

fn step(interim: u8, v: u8) -> u8 {
    times2(interim) ^ v
}

/// The check character of a random part (None if it holds a character outside the alphabet).
pub fn check_char(random: &str) -> Option<char> {
    let mut interim = 0u8;
    for c in random.bytes() {
        interim = step(interim, value(c)?);
    }
    // The check k closes the chain: step(interim, k) == 0  <=>  k = 2·interim.
    Some(ALPHABET[times2(interim) as usize] as char)
}

/// A fresh MPI ID for `prefix` (e.g. `SN-DKR`) and two-digit `year`.
pub fn new_mpi_id(prefix: &str, year: u32) -> anyhow::Result<String> {
    let bytes: [u8; 8] = crate::secret::random_bytes()?;
    let random: String = bytes
        .iter()
        .map(|b| ALPHABET[(b & 31) as usize] as char)
        .collect();
    let check =
        check_char(&random).ok_or_else(|| anyhow::anyhow!("internal: bad MPI ID alphabet"))?;
    Ok(format!("{prefix}-{:02}-{random}-{check}", year % 100))
}

/// True when `id` has the MPI ID shape and its check character is right.
pub fn is_valid_mpi_id(id: &str) -> bool {
    let parts: Vec<&str> = id.rsplitn(3, '-').collect();
    let [check, random, _rest] = parts.as_slice() else {
        return false;
    };
    if random.len() != 8 || check.len() != 1 {
        return false;
    }
    let mut interim = 0u8;
    for c in random.bytes().chain(check.bytes()) {
        match value(c) {
            Some(v) => interim = step(interim, v),
            None => return false,
        }
    }
    interim == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_single_wrong_or_swapped_character_is_caught() {
        for _ in 0..200 {
            let id = new_mpi_id("SN-DKR", 26).unwrap();
            assert!(is_valid_mpi_id(&id), "{id}");
            let chars: Vec<char> = id.chars().collect();
            let start = id.len() - 10;
            for i in (start..id.len()).filter(|&i| chars[i] != '-') {
                for &a in ALPHABET.iter() {
                    let mut c = chars.clone();
                    if c[i] == a as char {
                        continue;
                    }
                    c[i] = a as char;
                    let s: String = c.iter().collect();
                    assert!(!is_valid_mpi_id(&s), "{id} -> {s}");
                }
                let j = if i + 1 < id.len() && chars[i + 1] != '-' {
                    i + 1
                } else if i + 2 < id.len() {
                    i + 2
                } else {
                    continue;
                };
                if chars[i] != chars[j] {
                    let mut c = chars.clone();
                    c.swap(i, j);
                    let s: String = c.iter().collect();
                    assert!(!is_valid_mpi_id(&s), "{id} -> {s}");
                }
            }
        }
    }

    #[test]
    fn ids_avoid_look_alike_characters_and_keep_the_readable_shape() {
        let id = new_mpi_id("SN-DKR", 2026).unwrap();
        assert!(id.starts_with("SN-DKR-26-"), "{id}");
        assert_eq!(id.len(), "SN-DKR-26-XXXXXXXX-C".len());
        assert!(!id[10..].contains(['O', '0', 'I', '1']));
    }
}
