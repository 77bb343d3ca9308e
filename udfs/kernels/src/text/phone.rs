//! Phone numbers to E.164 (`+` country code, national significant number)
//! for a documented set of regions, by the rules libphonenumber applies to
//! them (its `parse` followed by `is_possible_number_with_reason ==
//! IS_POSSIBLE` and `format_number(…, E164)`; the Python port is the test's
//! reference). Lengths and prefixes below are libphonenumber's metadata
//! (9.0.33) for these regions. Where libphonenumber also consults a region's
//! number patterns (whether a leading 0 or country code belongs to the
//! number), only its length tests are applied here; on the 3,280 drawn
//! inputs of `tests/text.rs` the two agree everywhere.
//!
//! Accepted input: digits with spaces, `-`, `.`, `/`, `(`, `)` between
//! them, optionally led by `+` (separators before it are skipped). Letters
//! (vanity numbers, extensions) and other characters give `None`.
//!
//! 1. `+digits`: the country code is the leading 1–3 digits that form a
//!    covered code; none → `None`.
//! 2. Else the default region must be covered (else `None`). Digits starting
//!    with its international prefix (`00`, `011` for US/CA) not followed by
//!    `0` are read as 1. Digits starting with its country code whose whole
//!    length is too long for the region are read as that code plus a
//!    national number. Otherwise they are a national number of the region.
//! 3. A national (trunk) prefix `0` (`1` for US/CA) at the start of the
//!    national number is removed, also after a country code ("+49 (0)30…"),
//!    unless what remains would be too short or of an impossible length.
//! 4. The national number must have one of the region's possible lengths
//!    (libphonenumber's "general" lengths, not "local only" ones); else `None`.

/// One covered region: ISO code, country code, international prefix,
/// national prefix, possible lengths of the national significant number.
struct Region {
    id: &'static str,
    code: &'static str,
    international: &'static str,
    national: Option<&'static str>,
    lengths: &'static [usize],
    /// Lengths libphonenumber calls "possible local only" (no area code).
    local_only: &'static [usize],
}

const fn region(
    id: &'static str,
    code: &'static str,
    international: &'static str,
    national: Option<&'static str>,
    lengths: &'static [usize],
    local_only: &'static [usize],
) -> Region {
    Region {
        id,
        code,
        international,
        national,
        lengths,
        local_only,
    }
}

/// The covered regions: where the generator's customers live (DE NL BE FR
/// AT CZ) and common neighbours. The first region of a shared code (US for
/// +1) decides which lengths are possible, as in libphonenumber.
const REGIONS: &[Region] = &[
    region(
        "DE",
        "49",
        "00",
        Some("0"),
        &[4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
        &[2, 3],
    ),
    region("NL", "31", "00", Some("0"), &[5, 6, 7, 8, 9, 10, 11], &[]),
    region("BE", "32", "00", Some("0"), &[8, 9], &[]),
    region("FR", "33", "00", Some("0"), &[9], &[]),
    region(
        "AT",
        "43",
        "00",
        Some("0"),
        &[4, 5, 6, 7, 8, 9, 10, 11, 12, 13],
        &[3],
    ),
    region("CZ", "420", "00", None, &[9, 10, 11, 12], &[]),
    region("CH", "41", "00", Some("0"), &[9, 12], &[]),
    region("IT", "39", "00", None, &[6, 7, 8, 9, 10, 11, 12], &[]),
    region("ES", "34", "00", None, &[9], &[]),
    region("PT", "351", "00", None, &[9], &[]),
    region("IE", "353", "00", Some("0"), &[7, 8, 9, 10], &[5, 6]),
    region("GB", "44", "00", Some("0"), &[7, 9, 10], &[4, 5, 6, 8]),
    region("DK", "45", "00", None, &[8], &[]),
    region("SE", "46", "00", Some("0"), &[6, 7, 8, 9, 10, 12], &[]),
    region("PL", "48", "00", None, &[6, 7, 8, 9, 10], &[]),
    region("US", "1", "011", Some("1"), &[10], &[7]),
    region("CA", "1", "011", Some("1"), &[7, 10], &[]),
];

fn region_by_id(id: &str) -> Option<&'static Region> {
    REGIONS
        .iter()
        .find(|r| r.id.eq_ignore_ascii_case(id.trim()))
}

/// The main region of a country code (the first listed).
fn region_by_code(code: &str) -> Option<&'static Region> {
    REGIONS.iter().find(|r| r.code == code)
}

/// libphonenumber's length test, for the general number description.
#[derive(Debug, PartialEq, Eq)]
enum Length {
    Possible,
    LocalOnly,
    TooShort,
    TooLong,
    Invalid,
}

fn length_test(digits: &str, region: &Region) -> Length {
    let n = digits.len();
    if region.local_only.contains(&n) {
        return Length::LocalOnly;
    }
    let (min, max) = (region.lengths[0], region.lengths[region.lengths.len() - 1]);
    if n < min {
        Length::TooShort
    } else if n > max {
        Length::TooLong
    } else if region.lengths.contains(&n) {
        Length::Possible
    } else {
        Length::Invalid
    }
}

/// The national number with a leading national prefix removed when what
/// remains could still be a number (possible or too long, as libphonenumber
/// decides).
fn strip_national_prefix<'a>(national: &'a str, region: &Region) -> &'a str {
    match region.national.and_then(|p| national.strip_prefix(p)) {
        Some(rest)
            if matches!(
                length_test(rest, region),
                Length::Possible | Length::TooLong
            ) =>
        {
            rest
        }
        _ => national,
    }
}

/// What may stand between the digits of a number.
fn is_separator(c: char) -> bool {
    matches!(c, ' ' | '-' | '.' | '/' | '(' | ')')
}

/// `+`, then the digits of `value`, or `None` for characters outside the
/// accepted set. A `+` is allowed only first.
fn digits(value: &str) -> Option<(bool, String)> {
    // Separators before the number are skipped, as in "(+49) 30 …".
    let value = value.trim_start_matches(is_separator).trim_end();
    let (plus, rest) = match value.strip_prefix('+') {
        Some(rest) => (true, rest),
        None => (false, value),
    };
    let mut out = String::with_capacity(rest.len());
    for c in rest.chars() {
        match c {
            '0'..='9' => out.push(c),
            c if is_separator(c) => {}
            _ => return None,
        }
    }
    Some((plus, out))
}

/// (country code, national digits) of an international number: the 1–3
/// leading digits that form a covered code.
fn split_country_code(digits: &str) -> Option<(&'static Region, &str)> {
    (1..=3.min(digits.len())).find_map(|n| {
        let region = region_by_code(&digits[..n])?;
        Some((region, &digits[n..]))
    })
}

/// `value` in E.164 (`+4930123456`), reading national numbers as numbers of
/// `default_region` (an ISO 3166 code such as `DE`, any case; `None` accepts
/// only international numbers). `None` when the number is invalid by the
/// rules of the module documentation.
pub fn e164(value: &str, default_region: Option<&str>) -> Option<String> {
    let (plus, digits) = digits(value)?;
    let (region, national) = if plus {
        split_country_code(&digits)?
    } else {
        let home = region_by_id(default_region?)?;
        let after_idd = digits
            .strip_prefix(home.international)
            .filter(|rest| !rest.starts_with('0'));
        match after_idd {
            Some(rest) => split_country_code(rest)?,
            None => match digits.strip_prefix(home.code) {
                Some(rest) if length_test(&digits, home) == Length::TooLong => (home, rest),
                _ => (home, digits.as_str()),
            },
        }
    };
    if national.len() < 2 {
        return None;
    }
    let national = strip_national_prefix(national, region);
    // Lengths of a shared code are the main region's (US for +1).
    let main = region_by_code(region.code)?;
    (length_test(national, main) == Length::Possible).then(|| format!("+{}{national}", main.code))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_agree() {
        for (input, region) in [
            ("+49 30 1234567", None),
            ("+49 (0)30 1234567", Some("FR")),
            ("0049 30 1234567", Some("NL")),
            ("030 1234567", Some("DE")),
            ("030/123 45 67", Some("de")),
            ("(+49) 30 1234567", None),
        ] {
            assert_eq!(
                e164(input, region).as_deref(),
                Some("+49301234567"),
                "{input}"
            );
        }
        // The documentation's example (Data Manager API, "Format user data").
        assert_eq!(
            e164("(800)555-0100", Some("US")).as_deref(),
            Some("+18005550100")
        );
        assert_eq!(
            e164("1 800 555 0100", Some("CA")).as_deref(),
            Some("+18005550100")
        );
        assert_eq!(
            e164("06 12345678", Some("IT")).as_deref(),
            Some("+390612345678")
        );
    }

    #[test]
    fn invalid_numbers_are_none() {
        for (input, region) in [
            ("030 1234567", None),         // national without a region
            ("030 1234567", Some("XX")),   // unknown region
            ("+7 495 1234567", None),      // uncovered country code
            ("+49 1", None),               // too few digits
            ("06 1234", Some("FR")),       // impossible length
            ("030 123 ext 5", Some("DE")), // letters
            ("", Some("DE")),
            ("+", None),
            ("4+9", Some("DE")),
        ] {
            assert_eq!(e164(input, region), None, "{input} {region:?}");
        }
    }
}
