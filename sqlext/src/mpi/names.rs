//! Names as the scorer sees them: one normalised name with its keys, the common West African
//! names whose agreement weighs less, and the spellings of one given name. See `docs/mpi.md`.
use super::*;

/// A normalised name with its keys: the normalised text, its letters and digits only, its
/// phonetic key and its coarse code, one after another in one buffer. One allocation per name
/// instead of four, because a resolution pass keeps every record prepared (`docs/mpi.md`, Speed).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Name {
    pub(super) buf: String,
    /// Where `norm`, `compact` and `phonetic` end in `buf` (`code` runs to its end).
    pub(super) ends: [u16; 3],
    /// One of the most frequent West African names (see [`COMMON_NAMES`]).
    pub(super) common: bool,
    /// The group of [`NAME_VARIANTS`] the name belongs to (1-based), 0 for none.
    pub(super) variant: u8,
    /// 16-bit hashes of `compact` folded the three ways [`super::compare::misread`] compares
    /// (misread, respelled, both), when `foldable` (misread applies: ASCII, not too long).
    /// Training compares 100,000 random pairs of names, nearly all different: folding both
    /// names three times for each was a fifth of it; two different hashes settle it at once.
    pub(super) folds: [u16; 3],
    pub(super) foldable: bool,
    /// Spaces in `norm` (its parts less one): every comparison asks, and counting them each
    /// time was 4% of training.
    pub(super) spaces: u8,
    /// The bytes of `norm`, each as bit `byte & 63`, when `norm` is plain ASCII (0 otherwise):
    /// what `compare::jaro_winkler_reaching` bounds Jaro-Winkler with. Two letters on
    /// one bit only loosen the bound.
    pub(super) letters: u64,
}

thread_local! {
    /// Scratch buffers of [`Name::fill`]: norm, compact, phonetic, code.
    static NAME_PARTS: std::cell::RefCell<[String; 4]> = Default::default();
}

/// The most frequent given and family names of Senegal and its neighbours. Agreement on one of
/// them is weak evidence (u ≈ 1/30 instead of ≈ 1/300 for other names), so it weighs less: a
/// cheap, a-priori stand-in for term-frequency adjustment that works offline and in SQL alike.
pub const COMMON_NAMES: &[&str] = &[
    // family names
    "diallo",
    "ndiaye",
    "diop",
    "fall",
    "sow",
    "ba",
    "bah",
    "gueye",
    "faye",
    "sarr",
    "cisse",
    "mbaye",
    "thiam",
    "ka",
    "niang",
    "toure",
    "kane",
    "seck",
    "diouf",
    "camara",
    "sy",
    "ndour",
    "sene",
    "dieng",
    "badji",
    "mendy",
    "sagna",
    "coly",
    "tall",
    "wade",
    "lo",
    "traore",
    "keita",
    "coulibaly",
    "konate",
    "diarra",
    "kone",
    "sylla",
    "barry",
    "balde",
    "sall",
    "mbodj",
    "diagne",
    "samb",
    "ndoye",
    "fofana",
    "dembele",
    "sanogo",
    "ouedraogo",
    "diaw",
    "diatta",
    "manga",
    "gomis",
    "ndao",
    "kante",
    "drame",
    // given names
    "mamadou",
    "moussa",
    "ibrahima",
    "ousmane",
    "abdoulaye",
    "cheikh",
    "modou",
    "aliou",
    "amadou",
    "alioune",
    "babacar",
    "lamine",
    "pape",
    "souleymane",
    "omar",
    "oumar",
    "malick",
    "serigne",
    "idrissa",
    "assane",
    "mbaye",
    "demba",
    "boubacar",
    "mohamed",
    "mouhamed",
    "ahmed",
    "ali",
    "issa",
    "seydou",
    "adama",
    "fatou",
    "fatoumata",
    "aminata",
    "awa",
    "khady",
    "mariama",
    "mariam",
    "aissatou",
    "ndeye",
    "coumba",
    "rokhaya",
    "seynabou",
    "astou",
    "binta",
    "dieynaba",
    "marieme",
    "oumou",
    "yacine",
    "sokhna",
    "fama",
    "ramatoulaye",
    "khadija",
    "aicha",
    "kadiatou",
    "hawa",
];

/// True for a name of [`COMMON_NAMES`] (a hash set built once: every prepared name asks).
pub(super) fn is_common_name(compact: &str) -> bool {
    static SET: std::sync::OnceLock<
        std::collections::HashSet<&'static str, BuildHasherDefault<FastHasher>>,
    > = std::sync::OnceLock::new();
    SET.get_or_init(|| COMMON_NAMES.iter().copied().collect())
        .contains(compact)
}

/// Spellings and short forms of one given name, as West African registers write them: the
/// civil name and the name used every day ("Fatou" for "Fatoumata", "Khady" for "Khadija"), the
/// French and English transliterations of one Arabic name ("Oumar" / "Omar", "Ibrahima" /
/// "Ibrahim", "Seynabou" / "Zeynab"). Two names of one group are one person's name written two
/// ways, so they compare as `close` (a typo's level), not as the weak `similar` that
/// Jaro-Winkler gives "fatou" / "fatoumata" (and that weighs 0 for two common names, see
/// [`explain_prepared`]). Only unambiguous pairs are listed; which names stay apart and why:
/// `docs/mpi.md`.
pub const NAME_VARIANTS: &[&[&str]] = &[
    &["fatou", "fatoumata", "fatimata", "fatim"],
    &[
        "khady",
        "khadi",
        "khadija",
        "khadidja",
        "khadidiatou",
        "kadidiatou",
        "kadiatou",
    ],
    &[
        "mariama", "mariam", "mariame", "marieme", "maryam", "maryama", "meriem",
    ],
    &[
        "mouhamed",
        "mohamed",
        "mohammed",
        "mouhammed",
        "muhammad",
        "mohamad",
        "mouhamad",
    ],
    &["oumar", "omar", "umar"],
    &["ibrahima", "ibrahim", "brahim"],
    &["ousmane", "ousman", "usman"],
    &["aminata", "aminatou"],
    &["awa", "hawa"],
    &["aissatou", "aissata"],
    &["cheikh", "cheick", "cheik", "sheikh"],
    &["seynabou", "zeynabou", "zeinabou", "zeynab", "zeinab"],
    &["assane", "hassane", "hassan"],
    &["ousseynou", "housseynou", "hussein", "houssein"],
    &["abdoulaye", "abdallah", "abdullah"],
    &["boubacar", "aboubacar", "aboubakar", "abubakar"],
    &["souleymane", "souleyman", "sulayman", "suleiman"],
    &["moussa", "mousa", "musa"],
    &["idrissa", "idriss", "idris"],
    &["seydou", "seidou"],
    &["binta", "bintou"],
    &["coumba", "koumba"],
    &["dieynaba", "dienaba"],
    &["rokhaya", "rokaya"],
    &["yacine", "yassine"],
    &["aicha", "aichatou", "aisha"],
];

/// The 1-based group of [`NAME_VARIANTS`] of a compact name, 0 for none.
pub(super) fn variant_group(compact: &str) -> u8 {
    static MAP: std::sync::OnceLock<HashMap<&'static str, u8, BuildHasherDefault<FastHasher>>> =
        std::sync::OnceLock::new();
    MAP.get_or_init(|| {
        NAME_VARIANTS
            .iter()
            .enumerate()
            .flat_map(|(i, group)| group.iter().map(move |n| (*n, i as u8 + 1)))
            .collect()
    })
    .get(compact)
    .copied()
    .unwrap_or(0)
}

impl Name {
    pub(super) fn empty() -> Name {
        Name {
            buf: String::new(),
            ends: [0; 3],
            common: false,
            variant: 0,
            folds: [0; 3],
            foldable: false,
            spaces: 0,
            letters: 0,
        }
    }

    pub(super) fn norm(&self) -> &str {
        &self.buf[..self.ends[0] as usize]
    }

    pub(super) fn compact(&self) -> &str {
        &self.buf[self.ends[0] as usize..self.ends[1] as usize]
    }

    pub(super) fn phonetic(&self) -> &str {
        &self.buf[self.ends[1] as usize..self.ends[2] as usize]
    }

    pub(super) fn code(&self) -> &str {
        &self.buf[self.ends[2] as usize..]
    }

    #[cfg(test)]
    pub(super) fn new(raw: &str) -> Option<Name> {
        let mut name = Name::empty();
        name.fill(raw).then_some(name)
    }

    /// Prepares `raw` into this name's buffers (reused from record to record); false when the
    /// name has no letters or digits.
    pub(super) fn fill(&mut self, raw: &str) -> bool {
        NAME_PARTS.with(|parts| {
            let mut parts = parts.borrow_mut();
            let [norm, compact, phonetic, code] = &mut *parts;
            let raw = truncate_chars(raw, NAME_MAX);
            kadi_normalize_into(raw, norm);
            if norm.is_empty() {
                return false;
            }
            compact.clear();
            if norm.is_ascii() {
                compact.extend(
                    norm.bytes()
                        .filter(u8::is_ascii_alphanumeric)
                        .map(char::from),
                );
            } else {
                compact.extend(norm.chars().filter(|c| c.is_alphanumeric()));
            }
            if compact.is_empty() {
                return false;
            }
            // `kadi_normalize` is idempotent on output made of lower-case ASCII letters, digits
            // and single spaces (folding it again changes nothing, honorifics included), so the
            // key can skip normalising a second time. Other output (rare: `㎁` folds to `nA`)
            // takes the full path.
            let folded = norm
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b' ');
            if folded {
                kadi_phonetic_of_normalized_into(norm, phonetic);
            } else {
                *phonetic = kadi_phonetic(norm);
            }
            coarse_code_into(compact, code);
            self.common = is_common_name(compact);
            self.variant = variant_group(compact);
            (self.folds, self.foldable) = match super::compare::fold_hashes(compact) {
                Some(folds) => (folds, true),
                None => ([0; 3], false),
            };
            self.spaces = norm.bytes().filter(|&b| b == b' ').count().min(255) as u8;
            self.letters = super::compare::letter_bits(norm);
            self.buf.clear();
            for (i, part) in [&*norm, &*compact, &*phonetic].into_iter().enumerate() {
                self.buf.push_str(part);
                // Names are cut at NAME_MAX characters: a few hundred bytes at most.
                self.ends[i] = self.buf.len() as u16;
            }
            self.buf.push_str(code);
            true
        })
    }
}

/// Refills an optional name in place, keeping its buffers when there is a name.
pub(super) fn fill_name(slot: &mut Option<Name>, raw: Option<&str>) {
    let mut name = slot.take().unwrap_or_else(Name::empty);
    *slot = match raw {
        Some(raw) if name.fill(raw) => Some(name),
        _ => None,
    };
}
