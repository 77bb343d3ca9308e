//! Names for matching: accents folded so that spellings of one name agree
//! (Jürgen/Juergen, José/Jose), and Customer Match's plain name rule.

/// How a lowercase letter of Latin-1 Supplement or Latin Extended-A is
/// written without its accent; `None` for every other character.
///
/// The letters that Unicode decomposes (é = e + ´) lose their marks; the
/// ones it does not decompose are spelled out: ß ss, æ ae, œ oe, ø o, đ/ð d,
/// ħ h, ı i, ĳ ij, ł/ŀ l, ŧ t, þ th, ŋ n, ĸ k, ŉ n, ſ s. With `german`, ä ö ü
/// become ae oe ue (the German transliteration), else a o u.
pub fn fold_char(c: char, german: bool) -> Option<&'static str> {
    Some(match c {
        'ä' if german => "ae",
        'ö' if german => "oe",
        'ü' if german => "ue",
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' => "a",
        'æ' => "ae",
        'ç' | 'ć' | 'ĉ' | 'ċ' | 'č' => "c",
        'ď' | 'đ' | 'ð' => "d",
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ĕ' | 'ė' | 'ę' | 'ě' => "e",
        'ĝ' | 'ğ' | 'ġ' | 'ģ' => "g",
        'ĥ' | 'ħ' => "h",
        'ì' | 'í' | 'î' | 'ï' | 'ĩ' | 'ī' | 'ĭ' | 'į' | 'ı' => "i",
        'ĳ' => "ij",
        'ĵ' => "j",
        'ķ' | 'ĸ' => "k",
        'ĺ' | 'ļ' | 'ľ' | 'ŀ' | 'ł' => "l",
        'ñ' | 'ń' | 'ņ' | 'ň' | 'ŉ' | 'ŋ' => "n",
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ŏ' | 'ő' => "o",
        'œ' => "oe",
        'ŕ' | 'ŗ' | 'ř' => "r",
        'ś' | 'ŝ' | 'ş' | 'š' | 'ſ' => "s",
        'ß' => "ss",
        'ţ' | 'ť' | 'ŧ' => "t",
        'þ' => "th",
        'ù' | 'ú' | 'û' | 'ü' | 'ũ' | 'ū' | 'ŭ' | 'ů' | 'ű' | 'ų' => "u",
        'ŵ' => "w",
        'ý' | 'ÿ' | 'ŷ' => "y",
        'ź' | 'ż' | 'ž' => "z",
        _ => return None,
    })
}

/// Combining diacritical marks (U+0300..U+036F), dropped when folding
/// (lowercasing İ leaves one behind).
fn is_combining_mark(c: char) -> bool {
    ('\u{300}'..='\u{36f}').contains(&c)
}

/// Apostrophes vanish inside names (O'Brien = OBrien); other separators
/// become spaces.
fn is_apostrophe(c: char) -> bool {
    matches!(
        c,
        '\'' | '\u{2019}' | '\u{2018}' | '\u{2bc}' | '`' | '\u{b4}'
    )
}

/// `value` lowercased with its accents folded (German ä ö ü as ae oe ue
/// when `german`); characters outside the folding table are kept, combining
/// marks dropped.
pub fn fold(value: &str, german: bool) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars().flat_map(char::to_lowercase) {
        if is_combining_mark(c) {
            continue;
        }
        match fold_char(c, german) {
            Some(s) => out.push_str(s),
            None => out.push(c),
        }
    }
    out
}

/// The matching form of a name: lowercase, accents folded (German
/// ä ö ü → ae oe ue, so Jürgen = Juergen; José = Jose), apostrophes
/// removed, every other character that is not a letter or digit turned into
/// a space, runs of spaces collapsed, trimmed. `None` when nothing is left.
pub fn match_name(value: &str) -> Option<String> {
    let mut out = String::with_capacity(value.len());
    let mut pending_space = false;
    for c in fold(value, true).chars() {
        if is_apostrophe(c) {
            continue;
        }
        if c.is_alphanumeric() {
            if pending_space && !out.is_empty() {
                out.push(' ');
            }
            pending_space = false;
            out.push(c);
        } else {
            pending_space = true;
        }
    }
    (!out.is_empty()).then_some(out)
}

/// Customer Match's rule for first name, last name and street: trim,
/// lowercase (Unicode); accents and inner spaces kept. `None` when empty.
pub fn customer_match_text(value: &str) -> Option<String> {
    let trimmed = value.trim();
    (!trimmed.is_empty()).then(|| trimmed.to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_of_one_name_agree() {
        assert_eq!(match_name("Jürgen"), match_name("Juergen"));
        assert_eq!(match_name("José"), match_name("Jose"));
        assert_eq!(match_name("  O'Brien "), match_name("OBrien"));
        assert_eq!(match_name("Jean-Pierre").as_deref(), Some("jean pierre"));
        assert_eq!(
            match_name(" van  den\tBerg ").as_deref(),
            Some("van den berg")
        );
        assert_eq!(match_name("Dvořák").as_deref(), Some("dvorak"));
        assert_eq!(match_name("Straße").as_deref(), Some("strasse"));
        assert_eq!(match_name("İlker").as_deref(), Some("ilker"));
        assert_eq!(match_name(" - "), None);
    }

    #[test]
    fn customer_match_keeps_accents() {
        assert_eq!(
            customer_match_text("  José María ").as_deref(),
            Some("josé maría")
        );
        assert_eq!(customer_match_text("   "), None);
    }

    #[test]
    fn table_covers_every_lowercase_letter_of_latin_1_and_extended_a() {
        for c in ('\u{df}'..='\u{17f}').filter(|c| c.is_lowercase() && *c != '\u{f7}') {
            assert!(fold_char(c, false).is_some(), "{c} U+{:04X}", c as u32);
        }
    }
}
