//! The noise model: how a source record's values drift from the person's
//! true contact details. Every rate is the chance per record (for a value
//! that is present) and is listed in `sql/README.md`, section "Raw
//! sources"; the lake tests measure them back from the files.

use std::fmt::Write as _;

use crate::generate::rng::Rng64;

/// Per-customer facts.
pub(super) const SECOND_EMAIL_OWNERS: f64 = 0.30;
pub(super) const SECOND_PHONE_OWNERS: f64 = 0.20;
/// Share of customer pairs (ids 2h-1, 2h) who share a household e-mail
/// address and landline: the hard negatives.
pub(super) const HOUSEHOLDS: f64 = 0.10;

/// Which address or number a record carries.
pub(super) const SECOND_EMAIL_USE: f64 = 0.40;
pub(super) const SECOND_PHONE_USE: f64 = 0.30;
pub(super) const HOUSEHOLD_EMAIL_USE: f64 = 0.35;
pub(super) const HOUSEHOLD_PHONE_USE: f64 = 0.30;
pub(super) const JUNK: f64 = 0.005;

/// E-mail surface noise, in the order applied.
pub(super) const EMAIL_DOTS: f64 = 0.04;
pub(super) const EMAIL_PLUS: f64 = 0.06;
pub(super) const EMAIL_TYPO: f64 = 0.03;
pub(super) const EMAIL_CASE: f64 = 0.12;
pub(super) const EMAIL_SPACE: f64 = 0.03;

/// Phones: six formats drawn uniformly, then a wrong digit.
pub(super) const PHONE_FORMATS: u64 = 6;
pub(super) const PHONE_TYPO: f64 = 0.02;

/// Names, in the order applied.
pub(super) const NICKNAME: f64 = 0.10;
pub(super) const NATIVE_SPELLING: f64 = 0.15;
pub(super) const NAME_TYPO: f64 = 0.03;
pub(super) const NAME_UPPER: f64 = 0.03;
pub(super) const NAME_LOWER: f64 = 0.03;
pub(super) const CITY_LOCAL_NAME: f64 = 0.30;

/// Addresses and birth dates.
pub(super) const CRM_UPDATED_AFTER_MOVE: f64 = 0.50;
pub(super) const STREET_SHORT: f64 = 0.20;
pub(super) const STREET_TYPO: f64 = 0.02;
pub(super) const BIRTH_SWAP: f64 = 0.02;

const PLUS_TAGS: &[&str] = &["shop", "news", "promo", "deals", "2025"];

/// One keyboard slip: a letter replaced, dropped, doubled, or swapped with
/// its neighbour. Only letters are touched, so `@` and `.` stay put, and the
/// result always differs from the input.
pub(super) fn typo(rng: &mut Rng64, s: &mut String) {
    let chars: Vec<char> = s.chars().collect();
    let letters: Vec<usize> = (0..chars.len())
        .filter(|&i| chars[i].is_ascii_alphabetic())
        .collect();
    if letters.is_empty() {
        return;
    }
    let i = letters[rng.index(letters.len())];
    let mut out = chars.clone();
    match rng.below(4) {
        0 => {
            let c = chars[i];
            let mut r = (b'a' + rng.below(25) as u8) as char;
            if r >= c.to_ascii_lowercase() {
                r = ((r as u8) + 1) as char;
            }
            out[i] = if c.is_ascii_uppercase() {
                r.to_ascii_uppercase()
            } else {
                r
            };
        }
        1 if letters.len() > 1 => {
            out.remove(i);
        }
        2 if i + 1 < chars.len() && chars[i + 1] != chars[i] && chars[i + 1].is_alphabetic() => {
            out.swap(i, i + 1)
        }
        _ => out.insert(i, chars[i]),
    }
    s.clear();
    s.extend(out);
}

/// Surface noise on a clean `local@domain` address.
pub(super) fn email(rng: &mut Rng64, s: &mut String) {
    let Some(at) = s.find('@') else { return };
    if rng.chance(EMAIL_DOTS) {
        match s[..at].find('.') {
            Some(dot) => {
                s.remove(dot);
            }
            None if at > 2 => s.insert(1 + rng.index(at - 2), '.'),
            None => {}
        }
    }
    if rng.chance(EMAIL_PLUS) {
        let at = s.find('@').unwrap_or(s.len());
        let tag = format!("+{}", rng.pick(PLUS_TAGS));
        s.insert_str(at, &tag);
    }
    if rng.chance(EMAIL_TYPO) {
        let at = s.find('@').unwrap_or(s.len());
        let mut local = s[..at].to_string();
        typo(rng, &mut local);
        s.replace_range(..at, &local);
    }
    if rng.chance(EMAIL_CASE) {
        if rng.chance(0.5) {
            *s = s.to_uppercase();
        } else {
            // Capitalised like a name: "Anna.mueller7@Example.com".
            let at = s.find('@').unwrap_or(0);
            s.replace_range(..1, &s[..1].to_uppercase());
            if at + 1 < s.len() {
                s.replace_range(at + 1..at + 2, &s[at + 1..at + 2].to_uppercase());
            }
        }
    }
    space(rng, s, EMAIL_SPACE);
}

/// Leading and/or trailing blanks, as pasted into a form.
pub(super) fn space(rng: &mut Rng64, s: &mut String, p: f64) {
    if rng.chance(p) {
        match rng.below(3) {
            0 => s.insert(0, ' '),
            1 => s.push(' '),
            _ => {
                s.insert(0, ' ');
                s.push(' ');
            }
        }
    }
}

/// A phone number (country code, 3-digit area, 7-digit number) in one of
/// [`PHONE_FORMATS`] formats, possibly with one wrong digit.
pub(super) fn phone(rng: &mut Rng64, out: &mut String, cc: &str, trunk: &str, area: u32, num: u32) {
    let mut num = num % 10_000_000;
    if rng.chance(PHONE_TYPO) {
        let place = 10u32.pow(rng.below(7) as u32);
        let digit = (num / place) % 10;
        let other = (digit + 1 + rng.below(9) as u32) % 10;
        num = num - digit * place + other * place;
    }
    let _ = match rng.below(PHONE_FORMATS) {
        0 => write!(out, "+{cc}{area}{num:07}"),
        1 => write!(out, "+{cc} {area} {num:07}"),
        2 => write!(out, "00{cc} {area} {num:07}"),
        3 => write!(out, "{trunk}{area} {num:07}"),
        4 => write!(out, "{trunk}{area}{num:07}"),
        _ => {
            let (a, b, c) = (num / 10_000, num / 100 % 100, num % 100);
            if trunk.is_empty() {
                write!(out, "+{cc} {area} {a:03} {b:02} {c:02}")
            } else {
                write!(out, "+{cc} ({trunk}){area} {a:03} {b:02} {c:02}")
            }
        }
    };
}

/// Case noise on a name: all capitals or all lower case.
pub(super) fn name_case(rng: &mut Rng64, s: &mut String) {
    let u = rng.uniform();
    if u < NAME_UPPER {
        *s = s.to_uppercase();
    } else if u < NAME_UPPER + NAME_LOWER {
        *s = s.to_lowercase();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_always_change_a_letter_and_nothing_else() {
        let mut rng = Rng64::for_key(&[1]);
        for _ in 0..2000 {
            let mut s = String::from("anna.mueller7");
            typo(&mut rng, &mut s);
            assert_ne!(s, "anna.mueller7");
            assert!(s.contains('.') && s.ends_with('7'), "{s}");
            let len = s.chars().count() as i64;
            assert!((len - 13).abs() <= 1, "{s}");
        }
    }

    #[test]
    fn phone_formats_carry_the_same_digits() {
        let mut rng = Rng64::for_key(&[2]);
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..600 {
            let mut s = String::new();
            phone(&mut rng, &mut s, "49", "0", 151, 1234567);
            let digits: String = s.chars().filter(|c| c.is_ascii_digit()).collect();
            let national = digits
                .trim_start_matches("0049")
                .trim_start_matches("49")
                .trim_start_matches('0');
            let wrong = national
                .chars()
                .zip("1511234567".chars())
                .filter(|(a, b)| a != b)
                .count();
            assert!(national.len() == 10 && wrong <= 1, "{s}");
            seen.insert(
                s.chars()
                    .filter(|c| !c.is_ascii_digit())
                    .collect::<String>(),
            );
        }
        // E.164, spaced, 00, national, compact national and (0) share 5 shapes of separators.
        assert!(seen.len() >= 5, "{seen:?}");
    }

    #[test]
    fn email_noise_keeps_one_at_sign() {
        let mut rng = Rng64::for_key(&[3]);
        for _ in 0..5000 {
            let mut s = String::from("anna.mueller7@example.com");
            email(&mut rng, &mut s);
            assert_eq!(s.matches('@').count(), 1, "{s}");
            assert!(s.trim().to_lowercase().ends_with("@example.com"), "{s}");
        }
    }
}
