//! SMS text: which encoding a text needs and how it splits into parts (3GPP TS 23.038/23.040).
//!
//! A text made only of GSM 03.38 characters goes as GSM-7: 160 septets in one SMS, 153 per part
//! of a concatenated SMS (the 6-byte UDH takes 7 septets); a character of the extension table
//! (`{ } [ ] ~ \ | ^ €` and form feed) is an escape plus a septet and counts 2, and the two are
//! never split across parts. Any other character (Wolof or Pulaar letters like `ŋ`, `ɓ`, emoji,
//! curly quotes) makes the whole text UCS-2: 70 UTF-16 units in one SMS, 67 per part, and a
//! surrogate pair (an emoji) is never split. Splitting matters for cost (a gateway bills parts)
//! and for gateways that take one part per request.

/// How a text is encoded on the air.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    Gsm7,
    Ucs2,
}

/// The GSM 03.38 default alphabet (one septet each), escape excluded.
const GSM_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
/// The extension table reached through the escape (two septets each).
const GSM_EXTENDED: &str = "^{}\\[~]|€\u{000C}";

/// Septets `c` takes in GSM-7, `None` if it has no GSM-7 form.
fn gsm_septets(c: char) -> Option<usize> {
    if GSM_BASIC.contains(c) {
        Some(1)
    } else if GSM_EXTENDED.contains(c) {
        Some(2)
    } else {
        None
    }
}

/// The encoding `text` needs.
pub fn encoding(text: &str) -> Encoding {
    if text.chars().all(|c| gsm_septets(c).is_some()) {
        Encoding::Gsm7
    } else {
        Encoding::Ucs2
    }
}

/// Units of `c` in its encoding (septets or UTF-16 code units).
fn units(c: char, enc: Encoding) -> usize {
    match enc {
        Encoding::Gsm7 => gsm_septets(c).unwrap_or(1),
        Encoding::Ucs2 => c.len_utf16(),
    }
}

/// A text's encoding and its parts, in order.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Split {
    pub encoding: Encoding,
    pub parts: Vec<String>,
}

/// Splits `text` into the parts a phone will reassemble: one part when it fits in one SMS,
/// otherwise parts of at most 153 septets (GSM-7) or 67 UTF-16 units (UCS-2), never cutting a
/// two-septet escape or a surrogate pair. An empty text is one empty part.
pub fn split(text: &str) -> Split {
    let enc = encoding(text);
    let (single, multi) = match enc {
        Encoding::Gsm7 => (160, 153),
        Encoding::Ucs2 => (70, 67),
    };
    let total: usize = text.chars().map(|c| units(c, enc)).sum();
    if total <= single {
        return Split {
            encoding: enc,
            parts: vec![text.to_string()],
        };
    }
    let mut parts = Vec::new();
    let mut part = String::new();
    let mut used = 0;
    for c in text.chars() {
        let u = units(c, enc);
        if used + u > multi {
            parts.push(std::mem::take(&mut part));
            used = 0;
        }
        part.push(c);
        used += u;
    }
    if !part.is_empty() {
        parts.push(part);
    }
    Split {
        encoding: enc,
        parts,
    }
}

/// Units a part holds (septets or UTF-16 units), for tests and the log.
pub fn part_units(part: &str, enc: Encoding) -> usize {
    part.chars().map(|c| units(c, enc)).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_french_text_with_accents_of_the_gsm_table_stays_gsm7_in_one_part_up_to_160() {
        let text = "Bonjour Aïssatou, votre carte est prête à la Médina: é è à ù ì ò Ç Ä Ö Ñ Ü ß";
        // ï is not GSM: pick a text that is.
        assert_eq!(encoding(text), Encoding::Ucs2);
        // ê is not in the GSM table either, but é, è, à are.
        assert_eq!(encoding("votre carte est prête"), Encoding::Ucs2);
        let gsm =
            "Bonjour Fatou, votre carte est là: retirez-la à la Médina, après 10 h. Code ABC-123";
        assert_eq!(encoding(gsm), Encoding::Gsm7);
        let full = "a".repeat(160);
        assert_eq!(split(&full).parts.len(), 1);
        let over = "a".repeat(161);
        let s = split(&over);
        assert_eq!(
            s.parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
            [153, 8]
        );
    }

    #[test]
    fn extension_characters_count_two_and_an_escape_is_never_split() {
        // 80 euro signs are 160 septets: one SMS.
        assert_eq!(split(&"€".repeat(80)).parts.len(), 1);
        // 81 are 162 septets: parts of 152 (76 escapes; a 77th would make 154) and 10.
        let s = split(&"€".repeat(81));
        assert_eq!(s.encoding, Encoding::Gsm7);
        let sizes: Vec<usize> = s
            .parts
            .iter()
            .map(|p| part_units(p, Encoding::Gsm7))
            .collect();
        assert_eq!(sizes, [152, 10]);
        // 152 plain letters then a brace: the brace (2 septets) goes whole into part two.
        let text = format!("{}{{x{}", "a".repeat(152), "b".repeat(20));
        let s = split(&text);
        assert_eq!(s.parts[0], "a".repeat(152));
        assert!(s.parts[1].starts_with('{'));
        assert!(s.parts.iter().all(|p| part_units(p, Encoding::Gsm7) <= 153));
        assert_eq!(s.parts.concat(), text);
    }

    #[test]
    fn one_non_gsm_letter_makes_the_whole_text_ucs2_with_70_and_67_unit_parts() {
        let wolof = format!("Ŋ{}", "a".repeat(69));
        assert_eq!(encoding(&wolof), Encoding::Ucs2);
        assert_eq!(split(&wolof).parts.len(), 1);
        let longer = format!("Ŋ{}", "a".repeat(70));
        let s = split(&longer);
        let sizes: Vec<usize> = s
            .parts
            .iter()
            .map(|p| part_units(p, Encoding::Ucs2))
            .collect();
        assert_eq!(sizes, [67, 4]);
        assert_eq!(s.parts.concat(), longer);
    }

    #[test]
    fn an_emoji_surrogate_pair_is_never_split_across_parts() {
        // 66 letters then an emoji (2 units): 68 > 67, so the emoji starts part two whole.
        let text = format!("{}😀{}", "a".repeat(66), "b".repeat(10));
        let s = split(&text);
        assert_eq!(s.encoding, Encoding::Ucs2);
        assert_eq!(s.parts[0], "a".repeat(66));
        assert!(s.parts[1].starts_with('😀'));
        for p in &s.parts {
            assert!(part_units(p, Encoding::Ucs2) <= 67);
            // Each part is valid UTF-16 on its own: no lone surrogate.
            let units: Vec<u16> = p.encode_utf16().collect();
            assert!(String::from_utf16(&units).is_ok());
        }
        assert_eq!(s.parts.concat(), text);
    }
}
