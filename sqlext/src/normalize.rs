//! Name normalisation for matching: case, accents, apostrophes, hyphens, spaces, honorifics.
//! Skeleton; see issue 3 for the full rules.
use unicode_normalization::UnicodeNormalization;

/// Folds a name to a comparable key: `N'Diaye` -> `ndiaye`, `Aïssatou` -> `aissatou`.
pub fn kadi_normalize(name: &str) -> String {
    let folded: String = name
        .nfkd()
        .filter(|c| !unicode_normalization::char::is_combining_mark(*c))
        .flat_map(|c| c.to_lowercase())
        .filter(|c| !matches!(c, '\'' | '\u{2019}' | '`' | '-'))
        .collect();
    folded.split_whitespace().collect::<Vec<_>>().join(" ")
}
