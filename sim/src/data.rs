//! The simulator's synthetic data: fixed metadata (the demo program, its attributes and option
//! sets, a 4-level Senegalese org unit tree) and beneficiaries generated lazily from
//! `(seed, index)`, so 100,000 records cost a few bytes each until a page asks for them.
//!
//! About 10% of records are second registrations of an earlier person (typos, swapped day and
//! month, missing phone, same national ID or not); [`orig_index`] says which person a record is,
//! which is the truth the simulator exports.

use kadi_dhis2::model::{OptionItem, OptionSet, OrgUnit, OrgUnitLevel, Program, ProgramAttribute};

/// The tracked entity type of the demo program (Person).
pub const TRACKED_ENTITY_TYPE_UID: &str = "nEenWmSyUEp";
/// The demo program's name.
pub const PROGRAM_NAME: &str = "Carte de santé / Health ID";

/// An option set: (uid, name, [(code, name)]).
pub type OptionSetDef = (
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
);

/// One tracked-entity attribute of the demo program.
#[derive(Debug, Clone, Copy)]
pub struct AttrDef {
    pub uid: &'static str,
    pub code: &'static str,
    pub name: &'static str,
    pub value_type: &'static str,
    pub mandatory: bool,
    /// (uid, name, [(code, name)])
    pub option_set: Option<OptionSetDef>,
}

const SEX_OPTIONS: &[(&str, &str)] = &[("MALE", "Male"), ("FEMALE", "Female")];
const HIV_OPTIONS: &[(&str, &str)] = &[
    ("POSITIVE", "Positive"),
    ("NEGATIVE", "Negative"),
    ("UNKNOWN", "Unknown"),
];

/// The demo program's attributes, in registration-form order.
pub const ATTRIBUTES: [AttrDef; 9] = [
    AttrDef {
        uid: "w75KJ2mc4zz",
        code: "FIRST_NAME",
        name: "First name",
        value_type: "TEXT",
        mandatory: true,
        option_set: None,
    },
    AttrDef {
        uid: "zDhUuAYrxNC",
        code: "LAST_NAME",
        name: "Last name",
        value_type: "TEXT",
        mandatory: true,
        option_set: None,
    },
    AttrDef {
        uid: "iESIqZ0R0R0",
        code: "DATE_OF_BIRTH",
        name: "Date of birth",
        value_type: "DATE",
        mandatory: false,
        option_set: None,
    },
    AttrDef {
        uid: "cejWyOfXge6",
        code: "SEX",
        name: "Sex",
        value_type: "TEXT",
        mandatory: true,
        option_set: Some(("pC3N9N77UmT", "Sex", SEX_OPTIONS)),
    },
    AttrDef {
        uid: "P2cwLGskgxn",
        code: "PHONE",
        name: "Phone number",
        value_type: "PHONE_NUMBER",
        mandatory: false,
        option_set: None,
    },
    AttrDef {
        uid: "AuPLng5hLbE",
        code: "NATIONAL_ID",
        name: "National ID",
        value_type: "TEXT",
        mandatory: false,
        option_set: None,
    },
    AttrDef {
        uid: "lZGmxYbs97q",
        code: "BENEFICIARY_ID",
        name: "Beneficiary ID",
        value_type: "TEXT",
        mandatory: true,
        option_set: None,
    },
    AttrDef {
        uid: "Bpx0589u8y0",
        code: "HIV_STATUS",
        name: "HIV status",
        value_type: "TEXT",
        mandatory: false,
        option_set: Some(("Hq3VbRd0mXk", "HIV status", HIV_OPTIONS)),
    },
    // Last so the indices above keep their meaning; only household data fills it.
    AttrDef {
        uid: "Xq7AdrS3mKp",
        code: "ADDRESS",
        name: "Address",
        value_type: "TEXT",
        mandatory: false,
        option_set: None,
    },
];

/// Index of each attribute in [`ATTRIBUTES`] (and in [`Person::values`]).
pub const A_FIRST: usize = 0;
pub const A_LAST: usize = 1;
pub const A_DOB: usize = 2;
pub const A_SEX: usize = 3;
pub const A_PHONE: usize = 4;
pub const A_NID: usize = 5;
pub const A_BENEF: usize = 6;
pub const A_HIV: usize = 7;
pub const A_ADDRESS: usize = 8;

/// The demo program as [`kadi_dhis2::Client::programs`] returns it.
pub fn program() -> Program {
    Program {
        uid: super::PROGRAM_UID.into(),
        name: PROGRAM_NAME.into(),
        code: Some("HEALTH_ID".into()),
        tracked_entity_type: Some(TRACKED_ENTITY_TYPE_UID.into()),
        attributes: ATTRIBUTES
            .iter()
            .map(|a| ProgramAttribute {
                uid: a.uid.into(),
                code: Some(a.code.into()),
                name: a.name.into(),
                display_name: Some(a.name.into()),
                value_type: a.value_type.into(),
                mandatory: a.mandatory,
                option_set: a.option_set.map(|(uid, name, opts)| OptionSet {
                    uid: uid.into(),
                    name: Some(name.into()),
                    options: opts
                        .iter()
                        .map(|(c, n)| OptionItem {
                            code: (*c).into(),
                            name: (*n).into(),
                        })
                        .collect(),
                }),
            })
            .collect(),
    }
}

/// The org unit level names (1 = Country ... 4 = Health Center).
pub const LEVELS: [(&str, &str); 4] = [
    ("Country", "tTUf91fCytl"),
    ("Region", "wjP19dkFeIk"),
    ("District", "m9lBJogzE95"),
    ("Health Center", "H1KlN4QIauv"),
];

/// The org unit levels.
pub fn org_unit_levels() -> Vec<OrgUnitLevel> {
    LEVELS
        .iter()
        .enumerate()
        .map(|(i, (n, _))| OrgUnitLevel {
            level: i as u32 + 1,
            name: (*n).into(),
        })
        .collect()
}

/// (region, region code, [(district, district code, [health centers])])
type Region = (
    &'static str,
    &'static str,
    [(&'static str, &'static str, [&'static str; 3]); 3],
);

const TREE: [Region; 4] = [
    (
        "Dakar",
        "DK",
        [
            (
                "Dakar Nord",
                "DKN",
                [
                    "Centre de Santé de Grand Yoff",
                    "Poste de Santé de Grand Médine",
                    "Poste de Santé des Parcelles Assainies",
                ],
            ),
            (
                "Guédiawaye",
                "GDW",
                [
                    "Centre de Santé Roi Baudouin",
                    "Poste de Santé de Ndiarème",
                    "Poste de Santé de Wakhinane",
                ],
            ),
            (
                "Pikine",
                "PKN",
                [
                    "Centre de Santé de Pikine",
                    "Poste de Santé de Thiaroye",
                    "Poste de Santé de Diamaguène",
                ],
            ),
        ],
    ),
    (
        "Thiès",
        "TH",
        [
            (
                "Thiès",
                "THS",
                [
                    "Centre de Santé de Thiès",
                    "Poste de Santé de Randoulène",
                    "Poste de Santé de Cité Lamy",
                ],
            ),
            (
                "Mbour",
                "MBR",
                [
                    "Centre de Santé de Mbour",
                    "Poste de Santé de Saly",
                    "Poste de Santé de Joal",
                ],
            ),
            (
                "Tivaouane",
                "TVN",
                [
                    "Centre de Santé de Tivaouane",
                    "Poste de Santé de Pire",
                    "Poste de Santé de Mékhé",
                ],
            ),
        ],
    ),
    (
        "Saint-Louis",
        "SL",
        [
            (
                "Saint-Louis",
                "STL",
                [
                    "Centre de Santé de Saint-Louis",
                    "Poste de Santé de Guet Ndar",
                    "Poste de Santé de Sor",
                ],
            ),
            (
                "Dagana",
                "DGN",
                [
                    "Centre de Santé de Richard-Toll",
                    "Poste de Santé de Dagana",
                    "Poste de Santé de Ross Béthio",
                ],
            ),
            (
                "Podor",
                "PDR",
                [
                    "Centre de Santé de Podor",
                    "Poste de Santé de Ndioum",
                    "Poste de Santé de Galoya",
                ],
            ),
        ],
    ),
    (
        "Ziguinchor",
        "ZG",
        [
            (
                "Ziguinchor",
                "ZIG",
                [
                    "Centre de Santé de Ziguinchor",
                    "Poste de Santé de Kandé",
                    "Poste de Santé de Lyndiane",
                ],
            ),
            (
                "Bignona",
                "BGN",
                [
                    "Centre de Santé de Bignona",
                    "Poste de Santé de Tenghory",
                    "Poste de Santé de Thionck Essyl",
                ],
            ),
            (
                "Oussouye",
                "OSY",
                [
                    "Centre de Santé d'Oussouye",
                    "Poste de Santé de Cap Skirring",
                    "Poste de Santé d'Elinkine",
                ],
            ),
        ],
    ),
];

/// Number of health centers (level 4) in the tree.
pub const HEALTH_CENTERS: usize = 36;

/// A fixed UID for a fixed name (seed-independent, so org units are the same in every run).
pub(crate) fn fixed_uid(name: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    uid_from_hash(
        SplitMix64::new(h).next_u64(),
        SplitMix64::new(h ^ 0x5555).next_u64(),
    )
}

fn uid_from_hash(a: u64, b: u64) -> String {
    let mut s = String::with_capacity(11);
    s.push(LETTERS[(a % 52) as usize] as char);
    let mut x = a / 52;
    for k in 0..10 {
        if k == 5 {
            x = b;
        }
        s.push(ALNUM[(x % 62) as usize] as char);
        x /= 62;
    }
    s
}

/// The whole org unit tree, parents before children.
pub fn org_units() -> Vec<OrgUnit> {
    let mut out = Vec::with_capacity(1 + 4 + 12 + HEALTH_CENTERS);
    let country = OrgUnit {
        uid: fixed_uid("OU:Sénégal"),
        name: "Sénégal".into(),
        code: Some("SN".into()),
        level: Some(1),
        path: None,
        parent_uid: None,
    };
    let country_path = format!("/{}", country.uid);
    let country_uid = country.uid.clone();
    out.push(OrgUnit {
        path: Some(country_path.clone()),
        ..country
    });
    for (region, rcode, districts) in TREE.iter() {
        let ruid = fixed_uid(&format!("OU:{region}"));
        let rpath = format!("{country_path}/{ruid}");
        out.push(OrgUnit {
            uid: ruid.clone(),
            name: (*region).into(),
            code: Some(format!("SN-{rcode}")),
            level: Some(2),
            path: Some(rpath.clone()),
            parent_uid: Some(country_uid.clone()),
        });
        for (district, dcode, centers) in districts.iter() {
            let duid = fixed_uid(&format!("OU:{region}/{district}"));
            let dpath = format!("{rpath}/{duid}");
            out.push(OrgUnit {
                uid: duid.clone(),
                name: (*district).into(),
                code: Some(format!("SN-{rcode}-{dcode}")),
                level: Some(3),
                path: Some(dpath.clone()),
                parent_uid: Some(ruid.clone()),
            });
            for (k, center) in centers.iter().enumerate() {
                let huid = fixed_uid(&format!("OU:{region}/{district}/{center}"));
                out.push(OrgUnit {
                    uid: huid.clone(),
                    name: (*center).into(),
                    code: Some(format!("SN-{rcode}-{dcode}-{:02}", k + 1)),
                    level: Some(4),
                    path: Some(format!("{dpath}/{huid}")),
                    parent_uid: Some(duid.clone()),
                });
            }
        }
    }
    out
}

const LETTERS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
const ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// A small, fast, seedable PRNG (splitmix64): the simulator's only source of randomness.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator starting at `seed`.
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
    /// True with probability `percent`/100.
    pub fn percent(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    /// A uniform choice from `items` (not empty).
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
    /// A uniform float in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

pub(crate) fn rng_for(seed: u64, kind: u64, i: u64) -> SplitMix64 {
    let mut m = SplitMix64::new(
        seed ^ kind.wrapping_mul(0xA24B_AED4_963E_E407) ^ i.wrapping_mul(0x9FB2_1C65_1E98_DF25),
    );
    SplitMix64::new(m.next_u64())
}

/// Record UIDs encode the record index (an invertible affine map modulo 62^5) so that a UID can
/// be resolved without a 100,000-entry map; the other six characters are seeded noise.
const UID_MOD: u64 = 916_132_832; // 62^5
const UID_MUL: u64 = 1_000_003; // coprime with 2^5 * 31^5

/// UID kinds.
pub const KIND_TE: u64 = 1;
pub const KIND_ENROLLMENT: u64 = 2;

fn uid_offset(seed: u64, kind: u64) -> u64 {
    rng_for(seed, 100 + kind, 0).below(UID_MOD)
}

/// The UID of record `i` of the given kind (tracked entity or enrollment).
pub fn record_uid(seed: u64, kind: u64, i: u64) -> String {
    let mut r = rng_for(seed, 200 + kind, i);
    let a = r.next_u64();
    let mut s = String::with_capacity(11);
    s.push(LETTERS[(a % 52) as usize] as char);
    let mut x = a / 52;
    for _ in 0..5 {
        s.push(ALNUM[(x % 62) as usize] as char);
        x /= 62;
    }
    let mut v = (i % UID_MOD * UID_MUL + uid_offset(seed, kind)) % UID_MOD;
    for _ in 0..5 {
        s.push(ALNUM[(v % 62) as usize] as char);
        v /= 62;
    }
    s
}

fn mod_inverse(a: u64, m: u64) -> u64 {
    let (mut t, mut new_t, mut r, mut new_r) = (0i128, 1i128, m as i128, a as i128);
    while new_r != 0 {
        let q = r / new_r;
        (t, new_t) = (new_t, t - q * new_t);
        (r, new_r) = (new_r, r - q * new_r);
    }
    (t.rem_euclid(m as i128)) as u64
}

/// The record index a UID of `kind` names, if it is one of this seed's UIDs.
pub fn record_index(seed: u64, kind: u64, uid: &str) -> Option<u64> {
    let b = uid.as_bytes();
    if b.len() != 11 {
        return None;
    }
    let mut v: u64 = 0;
    for &c in b[6..].iter().rev() {
        let d = ALNUM.iter().position(|&x| x == c)? as u64;
        v = v * 62 + d;
    }
    let off = uid_offset(seed, kind);
    let i = ((v + UID_MOD - off) % UID_MOD) as u128 * mod_inverse(UID_MUL, UID_MOD) as u128
        % UID_MOD as u128;
    let i = i as u64;
    (record_uid(seed, kind, i) == uid).then_some(i)
}

pub(crate) const MALE_FIRST: &[&str] = &[
    "Mamadou",
    "Cheikh",
    "Ousmane",
    "Abdoulaye",
    "Moussa",
    "Ibrahima",
    "Modou",
    "Babacar",
    "Serigne",
    "Aliou",
    "Alioune",
    "Pape",
    "El Hadji",
    "Souleymane",
    "Lamine",
    "Malick",
    "Amadou",
    "Boubacar",
    "Ismaïla",
    "Jean-Baptiste",
    "François",
    "Pierre",
    "Joseph",
    "Émile",
    "Théophile",
    "Jérôme",
    "Mouhamed",
    "Daouda",
];
pub(crate) const FEMALE_FIRST: &[&str] = &[
    "Aminata",
    "Aïssatou",
    "Fatou",
    "Ndèye",
    "Mariama",
    "Awa",
    "Khady",
    "Coumba",
    "Astou",
    "Sokhna",
    "Rokhaya",
    "Adama",
    "Bineta",
    "Dieynaba",
    "Maïmouna",
    "Ndèye Fatou",
    "Hélène",
    "Marie-Thérèse",
    "Geneviève",
    "Françoise",
    "Joséphine",
    "Célestine",
    "Anne-Marie",
    "Fatoumata",
    "Oumou",
    "Penda",
];
pub(crate) const LAST: &[&str] = &[
    "Diallo",
    "N'Diaye",
    "Ndiaye",
    "Sène",
    "Faye",
    "Diop",
    "Gueye",
    "Ba",
    "Fall",
    "Mbaye",
    "Sarr",
    "Sow",
    "Ndour",
    "Cissé",
    "Touré",
    "Kane",
    "Thiam",
    "Diouf",
    "Mbengue",
    "Seck",
    "Niang",
    "Dieng",
    "Camara",
    "Badji",
    "Diatta",
    "Sagna",
    "Mendy",
    "Coly",
    "Lefèvre",
    "Dubois",
    "Gomis",
    "Da Silva",
    "Preira",
    "D'Almeida",
    "Thiaw",
    "Wade",
    "Ka",
    "Sy",
    "Tall",
    "Lô",
    "Dramé",
    "Konaté",
];

/// Spelling variants a second registration may use.
const VARIANTS: &[(&str, &str)] = &[
    ("Ndèye", "Ndeye"),
    ("N'Diaye", "Ndiaye"),
    ("Ndiaye", "N'Diaye"),
    ("Aïssatou", "Aissatou"),
    ("Mamadou", "Mamadu"),
    ("Fatou", "Fatoumata"),
    ("Cheikh", "Cheick"),
    ("Aminata", "Aminatou"),
    ("Mariama", "Mariame"),
    ("Ousmane", "Ousman"),
    ("Abdoulaye", "Abdou"),
    ("Moussa", "Mousa"),
    ("Ibrahima", "Ibrahim"),
    ("Sène", "Sene"),
    ("Cissé", "Cisse"),
    ("Touré", "Toure"),
    ("Gueye", "Guèye"),
    ("Mbaye", "M'Baye"),
    ("Mouhamed", "Mohamed"),
    ("Lefèvre", "Lefevre"),
    ("Hélène", "Helene"),
    ("Maïmouna", "Maimouna"),
    ("Jean-Baptiste", "Jean Baptiste"),
    ("El Hadji", "Elhadji"),
    ("Lô", "Lo"),
];

/// Earliest enrollment (2024-01-01T00:00:00Z) and latest (2026-09-30), in epoch ms.
const ENROLL_FROM_MS: i64 = 1_704_067_200_000;
const ENROLL_TO_MS: i64 = 1_790_726_400_000;
const DAY_MS: i64 = 86_400_000;

/// One beneficiary as the simulator generates it (before edits).
#[derive(Debug, Clone, PartialEq)]
pub struct Person {
    /// The index of the first registration of this person (itself when not a duplicate).
    pub orig: u64,
    /// Attribute values in [`ATTRIBUTES`] order; `None` when the record has no value.
    pub values: [Option<String>; 9],
    /// Index of the health center (0..36) in [`org_units`]' level-4 order.
    pub health_center: usize,
    pub enrolled_ms: i64,
    pub created_ms: i64,
    pub updated_ms: i64,
}

/// Share of records that are second registrations, in per mille.
const DUP_PERMILLE: u64 = 100;
/// The first records are never duplicates (there must be someone to duplicate).
const FIRST_DUP_INDEX: u64 = 20;

fn dup_roll(seed: u64, i: u64) -> Option<u64> {
    let mut r = rng_for(seed, 1, i);
    let roll = r.below(1000);
    let pick = r.next_u64();
    (i >= FIRST_DUP_INDEX && roll < DUP_PERMILLE).then(|| pick % i)
}

/// The first registration of the person record `i` is (itself when not a duplicate).
pub fn orig_index(seed: u64, mut i: u64) -> u64 {
    while let Some(j) = dup_roll(seed, i) {
        i = j;
    }
    i
}

/// Generates record `i` for `seed` with today's shape (people drawn independently, the clerk
/// error model).
pub fn person(seed: u64, i: u64) -> Person {
    person_in(seed, Shape::default(), i)
}

/// Generates record `i` for `seed` in `shape`: with households, the person first registered
/// as `orig` is given their family's name, phone, address and a birth date that fits their
/// place in the family; a second registration then adds the chosen error model's noise.
pub fn person_in(seed: u64, shape: Shape, i: u64) -> Person {
    let orig = orig_index(seed, i);
    let mut base = base_person(seed, orig);
    if shape.households {
        crate::households::shape_member(seed, orig, &mut base);
    }
    if orig == i {
        return base;
    }
    let mut p = match shape.error_model {
        ErrorModel::Clerk => second_registration(seed, i, base),
        ErrorModel::Ocr => crate::households::ocr_registration(seed, i, base),
    };
    if shape.households {
        crate::households::reregistration_noise(seed, i, &mut p);
    }
    p
}

/// How a second registration differs from the first.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ErrorModel {
    /// Today's model: a clerk retyping (known variants, keyboard slips, swapped day and month,
    /// dropped phone or national ID, name order).
    #[default]
    Clerk,
    /// A held-out model the MPI was not tuned on: a paper form read by OCR and names heard over
    /// a counter (letter confusions, phonetic respellings, nicknames, day/month swaps, missing
    /// fields, transposed first and last names).
    Ocr,
}

impl std::str::FromStr for ErrorModel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "clerk" => Ok(ErrorModel::Clerk),
            "ocr" => Ok(ErrorModel::Ocr),
            other => Err(format!("unknown error model {other:?}: use clerk or ocr")),
        }
    }
}

/// What the generator draws: households or independent people, and which error model.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Shape {
    /// Families of 2-8 sharing a family name, phone and address (default off).
    pub households: bool,
    pub error_model: ErrorModel,
}

pub(crate) fn date_string(days_since_epoch: i64) -> String {
    let (y, m, d) = civil_from_days(days_since_epoch);
    format!("{y:04}-{m:02}-{d:02}")
}

/// (year, month, day) of a day count since 1970-01-01 (proleptic Gregorian).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Days since 1970-01-01 of a civil date.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

pub(crate) fn base_person(seed: u64, i: u64) -> Person {
    let mut r = rng_for(seed, 2, i);
    let female = r.percent(52);
    let first = if female {
        *r.pick(FEMALE_FIRST)
    } else {
        *r.pick(MALE_FIRST)
    };
    let last = *r.pick(LAST);
    // Ages 0-85, more young people than old, as in a health programme.
    let age_years = ((r.unit() * r.unit()) * 85.0) as i64;
    let birth_year = 2025 - age_years;
    let month = 1 + r.below(12) as u32;
    let day = 1 + r.below(28) as u32;
    let dob = format!("{birth_year:04}-{month:02}-{day:02}");
    let phone = r.percent(85).then(|| {
        let prefix = *r.pick(&["77", "78", "76", "70"]);
        let n = r.below(10_000_000);
        if r.percent(70) {
            format!("+221{prefix}{n:07}")
        } else {
            format!(
                "{prefix} {:03} {:02} {:02}",
                n / 10_000,
                n / 100 % 100,
                n % 100
            )
        }
    });
    let national_id = r.percent(80).then(|| {
        format!(
            "{}{:012}",
            if female { 2 } else { 1 },
            r.below(1_000_000_000_000)
        )
    });
    let hiv = r.percent(25).then(|| {
        let x = r.below(100);
        if x < 5 {
            "POSITIVE"
        } else if x < 75 {
            "NEGATIVE"
        } else {
            "UNKNOWN"
        }
        .to_string()
    });
    let health_center = r.below(HEALTH_CENTERS as u64) as usize;
    let enrolled_ms = ENROLL_FROM_MS
        + (r.below(((ENROLL_TO_MS - ENROLL_FROM_MS) / DAY_MS) as u64) as i64) * DAY_MS;
    let created_ms = enrolled_ms + 8 * 3_600_000 + r.below(10 * 3_600_000) as i64;
    let updated_ms = created_ms
        + if r.percent(30) {
            r.below(30 * DAY_MS as u64) as i64
        } else {
            r.below(600_000) as i64
        };
    Person {
        orig: i,
        values: [
            Some(first.to_string()),
            Some(last.to_string()),
            Some(dob),
            Some(if female { "FEMALE" } else { "MALE" }.to_string()),
            phone,
            national_id,
            Some(format!("BEN-{:07}", i + 1)),
            hiv,
            None,
        ],
        health_center,
        enrolled_ms,
        created_ms,
        updated_ms,
    }
}

/// A name as a clerk typing it again might: a known variant, or one keyboard slip.
pub(crate) fn misspell(name: &str, r: &mut SplitMix64) -> String {
    if let Some((_, v)) = VARIANTS.iter().find(|(k, _)| *k == name) {
        if r.percent(60) {
            return (*v).to_string();
        }
    }
    let mut chars: Vec<char> = name.chars().collect();
    if chars.len() < 3 {
        chars.push(chars[chars.len() - 1]);
        return chars.into_iter().collect();
    }
    let pos = 1 + r.below(chars.len() as u64 - 2) as usize;
    match r.below(4) {
        0 => chars.swap(pos, pos + 1),
        1 => {
            chars.remove(pos);
        }
        2 => chars.insert(pos, chars[pos]),
        _ => {
            let folded: String = chars.iter().map(|c| fold_accent(*c)).collect();
            if folded != name {
                return folded;
            }
            chars.swap(pos, pos + 1);
        }
    }
    chars.into_iter().collect()
}

pub(crate) fn fold_accent(c: char) -> char {
    match c {
        'é' | 'è' | 'ê' | 'ë' => 'e',
        'É' | 'È' => 'E',
        'ï' | 'î' => 'i',
        'ô' | 'ö' => 'o',
        'à' | 'â' => 'a',
        'ç' => 'c',
        'ü' | 'û' => 'u',
        other => other,
    }
}

pub(crate) fn second_registration(seed: u64, i: u64, base: Person) -> Person {
    let mut r = rng_for(seed, 3, i);
    let mut p = base;
    // The second registration has its own beneficiary ID, date and place of enrollment.
    p.values[A_BENEF] = Some(format!("BEN-{:07}", i + 1));
    p.enrolled_ms = (p.enrolled_ms + (1 + r.below(400) as i64) * DAY_MS).min(ENROLL_TO_MS);
    p.created_ms = p.enrolled_ms + 8 * 3_600_000 + r.below(10 * 3_600_000) as i64;
    p.updated_ms = p.created_ms + r.below(600_000) as i64;
    if r.percent(50) {
        // Another health center of the same district.
        let district = p.health_center / 3;
        p.health_center = district * 3 + r.below(3) as usize;
    }
    let changes = 1 + r.below(3);
    for _ in 0..changes {
        match r.below(6) {
            0 => p.values[A_FIRST] = p.values[A_FIRST].as_deref().map(|n| misspell(n, &mut r)),
            1 => p.values[A_LAST] = p.values[A_LAST].as_deref().map(|n| misspell(n, &mut r)),
            2 => {
                if let Some(dob) = p.values[A_DOB].clone() {
                    p.values[A_DOB] = Some(swap_day_month(&dob).unwrap_or_else(|| {
                        // Day above 12: the year is off by one instead.
                        let year: i64 = dob[..4].parse().unwrap_or(2000);
                        format!("{:04}{}", year + 1, &dob[4..])
                    }));
                }
            }
            3 => p.values[A_PHONE] = None,
            4 => {
                if r.percent(50) {
                    p.values[A_NID] = None;
                }
            }
            _ => {
                // Registered under the other name order.
                if r.percent(30) {
                    p.values.swap(A_FIRST, A_LAST);
                } else {
                    p.values[A_FIRST] = p.values[A_FIRST]
                        .as_deref()
                        .map(|n| n.chars().map(fold_accent).collect());
                }
            }
        }
    }
    if r.percent(30) {
        p.values[A_NID] = None;
    }
    if r.percent(40) {
        p.values[A_PHONE] = None;
    }
    p
}

/// The part of a second registration every error model shares: its own beneficiary ID, a later
/// enrollment, maybe another health center of the same district.
pub(crate) fn second_registration_frame(seed: u64, i: u64, base: Person) -> Person {
    let mut r = rng_for(seed, 17, i);
    let mut p = base;
    p.values[A_BENEF] = Some(format!("BEN-{:07}", i + 1));
    p.enrolled_ms = (p.enrolled_ms + (1 + r.below(400) as i64) * DAY_MS).min(ENROLL_TO_MS);
    p.created_ms = p.enrolled_ms + 8 * 3_600_000 + r.below(10 * 3_600_000) as i64;
    p.updated_ms = p.created_ms + r.below(600_000) as i64;
    if r.percent(50) {
        p.health_center = p.health_center / 3 * 3 + r.below(3) as usize;
    }
    p
}

pub(crate) fn swap_day_month(dob: &str) -> Option<String> {
    let (y, rest) = dob.split_once('-')?;
    let (m, d) = rest.split_once('-')?;
    let (mn, dn): (u32, u32) = (m.parse().ok()?, d.parse().ok()?);
    (dn <= 12 && dn != mn).then(|| format!("{y}-{d}-{m}"))
}

/// Formats epoch milliseconds as DHIS2 does: zone-less, milliseconds (`2025-03-14T10:22:33.123`).
pub fn format_timestamp(ms: i64) -> String {
    let days = ms.div_euclid(DAY_MS);
    let rest = ms.rem_euclid(DAY_MS);
    let (h, mi, s, milli) = (
        rest / 3_600_000,
        rest / 60_000 % 60,
        rest / 1000 % 60,
        rest % 1000,
    );
    format!("{}T{h:02}:{mi:02}:{s:02}.{milli:03}", date_string(days))
}

/// Parses a DHIS2 timestamp or date (zone-less, or with `Z`) into epoch milliseconds.
pub fn parse_timestamp(s: &str) -> Option<i64> {
    let s = s.trim().trim_end_matches('Z');
    let (date, time) = s
        .split_once('T')
        .or_else(|| s.split_once(' '))
        .unwrap_or((s, ""));
    let mut dp = date.splitn(3, '-');
    let y: i64 = dp.next()?.parse().ok()?;
    let m: u32 = dp.next()?.parse().ok()?;
    let d: u32 = dp.next()?.parse().ok()?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let mut ms = days_from_civil(y, m, d) * DAY_MS;
    if !time.is_empty() {
        let (hms, frac) = time.split_once('.').unwrap_or((time, ""));
        let mut tp = hms.splitn(3, ':');
        let h: i64 = tp.next()?.parse().ok()?;
        let mi: i64 = tp.next().unwrap_or("0").parse().ok()?;
        let sec: i64 = tp.next().unwrap_or("0").parse().ok()?;
        let frac: String = frac.chars().take(3).collect();
        let milli: i64 = if frac.is_empty() {
            0
        } else {
            format!("{frac:0<3}").parse().ok()?
        };
        ms += h * 3_600_000 + mi * 60_000 + sec * 1000 + milli;
    }
    Some(ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_uids_are_valid_and_resolve_back_to_their_index() {
        for i in [0u64, 1, 2, 99, 12_345, 99_999, 1_000_000] {
            for kind in [KIND_TE, KIND_ENROLLMENT] {
                let uid = record_uid(7, kind, i);
                assert_eq!(uid.len(), 11);
                assert!(uid.chars().next().unwrap().is_ascii_alphabetic());
                assert!(uid.chars().all(|c| c.is_ascii_alphanumeric()));
                assert_eq!(record_index(7, kind, &uid), Some(i), "{uid}");
                assert_eq!(record_index(8, kind, &uid), None);
            }
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_people_and_about_ten_percent_duplicates() {
        assert_eq!(person(42, 1234), person(42, 1234));
        assert_ne!(person(42, 1234), person(43, 1234));
        let dups = (0..10_000u64).filter(|&i| orig_index(42, i) != i).count();
        assert!((800..1200).contains(&dups), "{dups}");
    }

    #[test]
    fn org_unit_tree_has_four_levels_and_36_health_centers() {
        let ous = org_units();
        assert_eq!(
            ous.iter().filter(|o| o.level == Some(4)).count(),
            HEALTH_CENTERS
        );
        assert_eq!(ous.iter().filter(|o| o.level == Some(1)).count(), 1);
        let uids: std::collections::HashSet<_> = ous.iter().map(|o| o.uid.clone()).collect();
        assert_eq!(uids.len(), ous.len());
    }

    #[test]
    fn timestamps_round_trip_without_a_zone() {
        let ms = 1_735_689_600_123;
        let s = format_timestamp(ms);
        assert_eq!(s, "2025-01-01T00:00:00.123");
        assert_eq!(parse_timestamp(&s), Some(ms));
        assert_eq!(parse_timestamp("2025-01-01"), Some(ms - 123));
        assert_eq!(parse_timestamp("2025-01-01T00:00:00Z"), Some(ms - 123));
    }
}
