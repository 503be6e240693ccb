//! Households for the simulator: the hard negatives of a West African registration set.
//!
//! A household shares a family name, usually one phone and always one address, so an MPI that
//! counts those as independent evidence joins father and son. Households are cut lazily from
//! blocks of [`BLOCK`] consecutive record indices (sizes 2-8, from `(seed, block)`), so any
//! record can still be generated alone. Rank 0 is the father, rank 1 the mother (who keeps her
//! own family name, as in Senegal), the others are children born 18-45 years after both
//! parents, some of them twins (one birth date, two first names). Namesakes in other
//! households come from the shared name lists. A second registration of a household member
//! adds the true-match noise of real re-registrations: 1 January birthdays, estimated ages,
//! nicknames and new SIM cards. Also here: the held-out `ocr` error model.

use crate::data::{
    self, fold_accent, rng_for, swap_day_month, Person, SplitMix64, A_ADDRESS, A_DOB, A_FIRST,
    A_LAST, A_NID, A_PHONE, A_SEX, FEMALE_FIRST, LAST, MALE_FIRST,
};

/// Records are cut into households inside blocks of this many indices.
pub const BLOCK: u64 = 8;
/// The year ages are counted from (as in `base_person`).
const NOW_YEAR: i64 = 2025;

/// Quarters of Senegalese towns, for addresses shaped like "137 Médina".
const QUARTERS: &[&str] = &[
    "Médina",
    "Grand Yoff",
    "Parcelles Assainies",
    "Pikine",
    "Guédiawaye",
    "HLM",
    "Fass",
    "Colobane",
    "Ouakam",
    "Yoff",
    "Sicap Liberté",
    "Thiaroye",
    "Keur Massar",
    "Dalifort",
    "Sor",
    "Escale",
    "Tilène",
    "Ndiolofène",
    "Santhiaba",
    "Boucotte",
];

/// Everyday short forms of first names.
const NICKNAMES: &[(&str, &str)] = &[
    ("Mamadou", "Modou"),
    ("Abdoulaye", "Layé"),
    ("Ibrahima", "Iba"),
    ("Mouhamed", "Medoune"),
    ("Cheikh", "Cheikhou"),
    ("Babacar", "Bacar"),
    ("Ousmane", "Ousse"),
    ("Souleymane", "Jules"),
    ("Boubacar", "Bouba"),
    ("Alioune", "Aliou"),
    ("Amadou", "Ama"),
    ("Aminata", "Ami"),
    ("Aïssatou", "Aïcha"),
    ("Fatoumata", "Fatou"),
    ("Mariama", "Mama"),
    ("Rokhaya", "Roki"),
    ("Khady", "Khadija"),
    ("Dieynaba", "Nabou"),
    ("Maïmouna", "Mouna"),
    ("Marie-Thérèse", "Marie"),
    ("Anne-Marie", "Anna"),
    ("Joséphine", "Jo"),
];

/// Where record `i` sits: (household id, rank in it, household size). The id is the index of
/// the household's first slot, so it is unique for a seed.
pub fn household_of_slot(seed: u64, i: u64) -> (u64, u64, u64) {
    let block = i / BLOCK;
    let mut r = rng_for(seed, 10, block);
    let mut start = 0;
    loop {
        let left = BLOCK - start;
        let mut size = (2 + r.below(7)).min(left);
        if left - size == 1 {
            size += 1;
        }
        if i - block * BLOCK < start + size {
            return (block * BLOCK + start, i - block * BLOCK - start, size);
        }
        start += size;
    }
}

/// The household of record `i` (a second registration lives in its first registration's).
pub fn household(seed: u64, i: u64) -> u64 {
    household_of_slot(seed, data::orig_index(seed, i)).0
}

/// What the members of one household share.
struct Family {
    last: &'static str,
    phone: String,
    address: String,
    father_year: i64,
    mother_year: i64,
    health_center: usize,
}

fn family(seed: u64, id: u64) -> Family {
    let mut r = rng_for(seed, 11, id);
    let father_year = NOW_YEAR - (30 + r.below(46) as i64);
    let last: &'static str = LAST[r.below(LAST.len() as u64) as usize];
    Family {
        last,
        phone: format!(
            "+221{}{:07}",
            r.pick(&["77", "78", "76", "70"]),
            r.below(10_000_000)
        ),
        address: format!("{} {}", 1 + r.below(250), r.pick(QUARTERS)),
        father_year,
        mother_year: father_year + r.below(10) as i64,
        health_center: r.below(data::HEALTH_CENTERS as u64) as usize,
    }
}

/// The children of household `id` in rank order (ranks 2..size), as (female, first name, birth
/// date): first names differ between siblings; a twin repeats the previous child's birth date.
fn children(seed: u64, f: &Family, id: u64, size: u64) -> Vec<(bool, &'static str, String)> {
    let mut out: Vec<(bool, &'static str, String)> = Vec::new();
    for rank in 2..size {
        let mut r = rng_for(seed, 12, id * BLOCK + rank);
        let female = r.percent(50);
        let names = if female { FEMALE_FIRST } else { MALE_FIRST };
        let mut first = *r.pick(names);
        while out.iter().any(|(_, n, _)| *n == first) {
            first = *r.pick(names);
        }
        let twin = rank >= 3 && r.percent(20);
        let dob = match out.last() {
            Some((_, _, prev)) if twin => prev.clone(),
            _ => {
                let lo = f.mother_year.max(f.father_year) + 18;
                let hi = (f.father_year.min(f.mother_year) + 45).min(NOW_YEAR);
                let year = lo + r.below((hi - lo + 1).max(1) as u64) as i64;
                format!("{year:04}-{:02}-{:02}", 1 + r.below(12), 1 + r.below(28))
            }
        };
        out.push((female, first, dob));
    }
    out
}

/// Turns the independently drawn person `orig` into a member of their household.
pub fn shape_member(seed: u64, orig: u64, p: &mut Person) {
    let (id, rank, size) = household_of_slot(seed, orig);
    let f = family(seed, id);
    let mut r = rng_for(seed, 14, orig);
    let (female, first, last, dob) = match rank {
        0 => (
            false,
            *r.pick(MALE_FIRST),
            f.last,
            adult_dob(f.father_year, &mut r),
        ),
        1 => (
            true,
            *r.pick(FEMALE_FIRST),
            *r.pick(LAST),
            adult_dob(f.mother_year, &mut r),
        ),
        _ => {
            let (female, first, dob) =
                children(seed, &f, id, size).swap_remove((rank - 2) as usize);
            (female, first, f.last, dob)
        }
    };
    let year: i64 = dob[..4].parse().unwrap_or(NOW_YEAR);
    p.values[A_FIRST] = Some(first.to_string());
    p.values[A_LAST] = Some(last.to_string());
    p.values[A_DOB] = Some(dob);
    p.values[A_SEX] = Some(if female { "FEMALE" } else { "MALE" }.to_string());
    p.values[A_ADDRESS] = Some(f.address.clone());
    // Most members give the household's phone; some adults have their own, some none.
    let roll = r.below(100);
    p.values[A_PHONE] = if roll < 75 || NOW_YEAR - year < 15 {
        Some(f.phone.clone())
    } else if roll < 90 {
        Some(format!("+22177{:07}", r.below(10_000_000)))
    } else {
        None
    };
    // Children have no national ID card; an adult's first digit follows their sex.
    p.values[A_NID] = if NOW_YEAR - year < 15 {
        None
    } else {
        p.values[A_NID]
            .as_ref()
            .map(|nid| format!("{}{}", if female { 2 } else { 1 }, &nid[1..]))
    };
    if r.percent(80) {
        p.health_center = f.health_center;
    }
}

fn adult_dob(year: i64, r: &mut SplitMix64) -> String {
    format!("{year:04}-{:02}-{:02}", 1 + r.below(12), 1 + r.below(28))
}

/// The true-match noise of a re-registration in a household setting.
pub fn reregistration_noise(seed: u64, i: u64, p: &mut Person) {
    let mut r = rng_for(seed, 15, i);
    if let Some(dob) = p.values[A_DOB].clone() {
        let year: i64 = dob
            .get(..4)
            .and_then(|y| y.parse().ok())
            .unwrap_or(NOW_YEAR);
        let roll = r.below(100);
        p.values[A_DOB] = Some(if roll < 15 {
            // Age unknown: 1 January of the year.
            format!("{year:04}-01-01")
        } else if roll < 25 {
            // Estimated age, a year off.
            let y = if r.percent(50) { year + 1 } else { year - 1 };
            format!("{y:04}-01-01")
        } else {
            dob
        });
    }
    if r.percent(15) {
        p.values[A_FIRST] = p.values[A_FIRST].as_deref().map(nickname);
    }
    if r.percent(20) && p.values[A_PHONE].is_some() {
        // A new SIM card.
        p.values[A_PHONE] = Some(format!("+22178{:07}", r.below(10_000_000)));
    }
}

fn nickname(name: &str) -> String {
    NICKNAMES
        .iter()
        .find(|(k, _)| *k == name)
        .map(|(_, v)| (*v).to_string())
        .unwrap_or_else(|| name.to_string())
}

/// OCR letter confusions (read, written).
const OCR: &[(&str, &str)] = &[
    ("rn", "m"),
    ("m", "rn"),
    ("e", "c"),
    ("a", "o"),
    ("i", "l"),
    ("u", "v"),
    ("h", "b"),
    ("cl", "d"),
    ("n", "ri"),
];

/// Phonetic respellings (heard, written).
const PHONETIC: &[(&str, &str)] = &[
    ("ou", "u"),
    ("ch", "sh"),
    ("c", "k"),
    ("y", "i"),
    ("ss", "s"),
    ("ph", "f"),
    ("kh", "k"),
    ("é", "e"),
    ("dj", "j"),
    ("mb", "m"),
];

fn replace_one(name: &str, table: &[(&str, &str)], r: &mut SplitMix64) -> String {
    let hits: Vec<&(&str, &str)> = table.iter().filter(|(a, _)| name.contains(a)).collect();
    if hits.is_empty() {
        return name.chars().map(fold_accent).collect();
    }
    let (a, b) = hits[r.below(hits.len() as u64) as usize];
    name.replacen(a, b, 1)
}

/// A second registration under the held-out `ocr` model.
pub fn ocr_registration(seed: u64, i: u64, base: Person) -> Person {
    let mut r = rng_for(seed, 16, i);
    let mut p = data::second_registration_frame(seed, i, base);
    for _ in 0..1 + r.below(3) {
        let which = if r.percent(50) { A_FIRST } else { A_LAST };
        match r.below(7) {
            0 => {
                p.values[which] = p.values[which]
                    .as_deref()
                    .map(|n| replace_one(n, OCR, &mut r))
            }
            1 => {
                p.values[which] = p.values[which]
                    .as_deref()
                    .map(|n| replace_one(n, PHONETIC, &mut r))
            }
            2 => p.values[A_FIRST] = p.values[A_FIRST].as_deref().map(nickname),
            3 => {
                if let Some(d) = p.values[A_DOB].as_deref().and_then(swap_day_month) {
                    p.values[A_DOB] = Some(d);
                }
            }
            4 => p.values[A_DOB] = None,
            5 => p.values[A_PHONE] = None,
            _ => p.values.swap(A_FIRST, A_LAST),
        }
    }
    if r.percent(40) {
        p.values[A_NID] = None;
    }
    if r.percent(20) {
        p.values[A_ADDRESS] = None;
    }
    p
}
