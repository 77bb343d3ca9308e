//! Comparison levels of a record pair. Values are prepared once per record
//! (trimmed, lowercased, dates as day numbers, numbers parsed), so a pair
//! costs only the similarity itself.

use super::spec::{Comparison, Method, NULL_LEVEL};
use crate::text::similarity::{damerau_levenshtein, jaro_winkler, levenshtein};

/// One compared column's values, prepared for its method.
#[derive(Debug, Clone, Default)]
pub struct Prepared {
    /// Trimmed, lowercased; `None` for NULL or empty.
    pub text: Vec<Option<String>>,
    /// Days since 1970-01-01 (dates) or the value (numbers).
    pub number: Vec<Option<f64>>,
}

/// Days since 1970-01-01 of `YYYY-MM-DD…` or `YYYYMMDD`, if valid.
pub fn parse_day(text: &str) -> Option<f64> {
    let digits: String = match text.as_bytes().get(4) {
        Some(b'-') | Some(b'/') if text.len() >= 10 => {
            let t = &text[..10];
            if t.as_bytes()[7] != t.as_bytes()[4] {
                return None;
            }
            t.chars().filter(|c| c.is_ascii_digit()).collect()
        }
        _ if text.len() == 8 => text.to_string(),
        _ => return None,
    };
    if digits.len() != 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let y: i64 = digits[..4].parse().ok()?;
    let m: i64 = digits[4..6].parse().ok()?;
    let d: i64 = digits[6..].parse().ok()?;
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days_in_month = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1..=12).contains(&m) || d < 1 || d > days_in_month[(m - 1) as usize] {
        return None;
    }
    // Howard Hinnant's days_from_civil.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some((era * 146_097 + doe - 719_468) as f64)
}

/// Values as compared and blocked on: trimmed, lowercased, empty as NULL.
pub fn normalize(values: &[Option<String>]) -> Vec<Option<String>> {
    values
        .iter()
        .map(|v| {
            v.as_deref()
                .map(|s| s.trim().to_lowercase())
                .filter(|s| !s.is_empty())
        })
        .collect()
}

impl Prepared {
    /// Prepares `values` (one per record) for `comparison`.
    pub fn new(comparison: &Comparison, values: &[Option<String>]) -> Prepared {
        let text = normalize(values);
        let number = match comparison.method {
            Method::Date => text
                .iter()
                .map(|t| t.as_deref().and_then(parse_day))
                .collect(),
            Method::Numeric => text
                .iter()
                .map(|t| {
                    t.as_deref()
                        .and_then(|s| s.parse::<f64>().ok())
                        .filter(|x| x.is_finite())
                })
                .collect(),
            _ => Vec::new(),
        };
        Prepared { text, number }
    }
}

/// The level of records `i` and `j` under `c`.
pub fn level(c: &Comparison, p: &Prepared, i: usize, j: usize) -> i8 {
    let top = c.levels() as i8 - 1;
    if c.method == Method::Numeric {
        let (Some(a), Some(b)) = (p.number[i], p.number[j]) else {
            return NULL_LEVEL;
        };
        if a == b {
            return top;
        }
        return within(&c.thresholds, (a - b).abs(), top - 1);
    }
    let (Some(a), Some(b)) = (p.text[i].as_deref(), p.text[j].as_deref()) else {
        return NULL_LEVEL;
    };
    if a == b {
        return top;
    }
    match c.method {
        Method::Exact | Method::Numeric => 0,
        Method::JaroWinkler => at_least(&c.thresholds, jaro_winkler(a, b), top - 1),
        Method::Levenshtein | Method::DamerauLevenshtein => {
            let max = c.thresholds.last().copied().unwrap_or(0.0);
            // The length difference is a lower bound of either distance.
            if (a.chars().count() as f64 - b.chars().count() as f64).abs() > max {
                return 0;
            }
            let d = if c.method == Method::Levenshtein {
                levenshtein(a, b)
            } else {
                damerau_levenshtein(a, b)
            };
            within(&c.thresholds, d as f64, top - 1)
        }
        Method::Date => {
            if damerau_levenshtein(a, b) <= 1 {
                return top - 1;
            }
            match (p.number[i], p.number[j]) {
                (Some(x), Some(y)) => within(&c.thresholds, (x - y).abs(), top - 2),
                _ => 0,
            }
        }
        Method::Email => {
            let split = |e: &'_ str| -> (String, String) {
                match e.rsplit_once('@') {
                    Some((u, d)) => (u.to_string(), d.to_string()),
                    None => (e.to_string(), String::new()),
                }
            };
            let ((ua, da), (ub, db)) = (split(a), split(b));
            if ua == ub && !ua.is_empty() {
                3
            } else if !ua.is_empty()
                && !ub.is_empty()
                && digits(&ua).eq(digits(&ub))
                && jaro_winkler(&ua, &ub) >= c.thresholds[0]
            {
                2
            } else if da == db && !da.is_empty() {
                1
            } else {
                0
            }
        }
    }
}

/// The digits of an e-mail user part, in order. Users are often a name
/// plus a number, so two people of one name have users alike by
/// Jaro–Winkler; a typo rarely touches the number, a different person
/// almost always has another.
fn digits(user: &str) -> impl Iterator<Item = char> + '_ {
    user.chars().filter(char::is_ascii_digit)
}

/// `first - i` for the first threshold `t_i` with `value ≤ t_i`, else 0.
fn within(thresholds: &[f64], value: f64, first: i8) -> i8 {
    thresholds
        .iter()
        .position(|&t| value <= t)
        .map_or(0, |i| first - i as i8)
}

/// `first - i` for the first threshold `t_i` with `value ≥ t_i`, else 0.
fn at_least(thresholds: &[f64], value: f64, first: i8) -> i8 {
    thresholds
        .iter()
        .position(|&t| value >= t)
        .map_or(0, |i| first - i as i8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn levels(entry: &str, pairs: &[(Option<&str>, Option<&str>)]) -> Vec<i8> {
        let c = Comparison::parse(entry).unwrap();
        let values: Vec<Option<String>> = pairs
            .iter()
            .flat_map(|(a, b)| [a.map(str::to_string), b.map(str::to_string)])
            .collect();
        let p = Prepared::new(&c, &values);
        (0..pairs.len())
            .map(|k| level(&c, &p, 2 * k, 2 * k + 1))
            .collect()
    }

    #[test]
    fn days_are_civil() {
        assert_eq!(parse_day("1970-01-01"), Some(0.0));
        assert_eq!(parse_day("19700102"), Some(1.0));
        // 2000-03-01 is day 11017 (Python: date(2000,3,1).toordinal() - date(1970,1,1).toordinal()).
        assert_eq!(parse_day("2000-03-01"), Some(11017.0));
        assert_eq!(parse_day("2000-02-29"), Some(11016.0));
        assert_eq!(parse_day("1900-02-29"), None);
        assert_eq!(parse_day("19561345"), None);
        assert_eq!(parse_day("1956-04/09"), None);
        assert_eq!(parse_day("2024-05-06T10:00:00"), parse_day("20240506"));
    }

    #[test]
    fn levels_per_method() {
        // MARTHA/MARHTA jw 0.961; DWAYNE/DUANE 0.84; DIXON/DICKSONX 0.813.
        assert_eq!(
            levels(
                "n: jaro_winkler(0.95, 0.82)",
                &[
                    (Some("Martha "), Some("martha")),
                    (Some("MARTHA"), Some("MARHTA")),
                    (Some("DWAYNE"), Some("DUANE")),
                    (Some("DIXON"), Some("DICKSONX")),
                    (None, Some("x")),
                    (Some("  "), Some("x")),
                ]
            ),
            vec![3, 2, 1, 0, NULL_LEVEL, NULL_LEVEL]
        );
        assert_eq!(
            levels(
                "n: levenshtein",
                &[
                    (Some("abcdef"), Some("abdcef")),
                    (Some("kitten"), Some("sitten")),
                    (Some("a"), Some("abcd"))
                ]
            ),
            vec![1, 2, 0]
        );
        assert_eq!(
            levels(
                "n: damerau_levenshtein",
                &[(Some("abcdef"), Some("abdcef"))]
            ),
            vec![2]
        );
        assert_eq!(
            levels(
                "d: date",
                &[
                    (Some("19560409"), Some("19560409")),
                    (Some("19560409"), Some("19560490")),
                    (Some("1956-04-09"), Some("1956-05-01")),
                    (Some("1956-04-09"), Some("1957-01-01")),
                    (Some("1956-04-09"), Some("1960-01-01")),
                    (Some("unknown"), Some("1960-01-01")),
                ]
            ),
            vec![4, 3, 2, 1, 0, 0]
        );
        assert_eq!(
            levels(
                "x: numeric(1, 10)",
                &[
                    (Some("3"), Some("3.0")),
                    (Some("3"), Some("4")),
                    (Some("3"), Some("12")),
                    (Some("3"), Some("14")),
                    (Some("3"), Some("x"))
                ]
            ),
            vec![3, 2, 1, 0, NULL_LEVEL]
        );
        assert_eq!(
            levels(
                "e: email",
                &[
                    (Some("Ann@x.de"), Some("ann@x.de")),
                    (Some("ann@x.de"), Some("ann@y.de")),
                    (Some("anna.smith@x.de"), Some("anna.smyth@y.de")),
                    (Some("ann@x.de"), Some("bob@x.de")),
                    (Some("ann@x.de"), Some("bob@y.de")),
                    // A typo keeps the number; another person of the same name has another.
                    (
                        Some("nora.schmidt96860@x.de"),
                        Some("nora.schmitd96860@y.de")
                    ),
                    (
                        Some("nora.schmidt96860@x.de"),
                        Some("nora.schmidt12345@y.de")
                    ),
                    (
                        Some("nora.schmidt96860@x.de"),
                        Some("nora.schmidt12345@x.de")
                    ),
                ]
            ),
            vec![4, 3, 2, 1, 0, 2, 0, 1]
        );
        assert_eq!(
            levels(
                "e: exact",
                &[(Some("a"), Some("A")), (Some("a"), Some("b"))]
            ),
            vec![1, 0]
        );
    }
}
