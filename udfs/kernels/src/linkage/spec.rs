//! Comparisons as written in `comparisons [...]`: `'column: method'` or
//! `'column: method(t1, t2, …)'`, each method with documented default
//! thresholds. Levels are numbered from 0 (the least similar, "else") up
//! to the exact match; `NULL_LEVEL` is a pair where either value is
//! missing, whose Bayes factor is 1.

use serde::{Deserialize, Serialize};

use super::LinkageError;

/// The level of a pair where either side is NULL or empty.
pub const NULL_LEVEL: i8 = -1;

/// Most thresholds one comparison may have (levels stay below 16).
const MAX_THRESHOLDS: usize = 8;

/// How two values are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Equal or not.
    Exact,
    /// Exact, then Jaro–Winkler similarity ≥ each threshold (descending).
    JaroWinkler,
    /// Exact, then Levenshtein distance ≤ each threshold (ascending).
    Levenshtein,
    /// Exact, then Damerau–Levenshtein distance ≤ each threshold.
    DamerauLevenshtein,
    /// Exact, one typo or transposition in the text, then within each
    /// number of days (dates as `YYYY-MM-DD` or `YYYYMMDD`).
    Date,
    /// Equal numbers, then absolute difference ≤ each threshold.
    Numeric,
    /// Exact address, same user part, user parts with Jaro–Winkler ≥ the
    /// threshold and the same digits, same domain.
    Email,
}

impl Method {
    /// Every method's name, as written.
    pub const NAMES: [&'static str; 7] = [
        "exact",
        "jaro_winkler",
        "levenshtein",
        "damerau_levenshtein",
        "date",
        "numeric",
        "email",
    ];

    fn parse(name: &str) -> Option<Method> {
        Some(match name {
            "exact" => Method::Exact,
            "jaro_winkler" => Method::JaroWinkler,
            "levenshtein" => Method::Levenshtein,
            "damerau_levenshtein" => Method::DamerauLevenshtein,
            "date" => Method::Date,
            "numeric" => Method::Numeric,
            "email" => Method::Email,
            _ => return None,
        })
    }

    /// As written in a comparison.
    pub fn name(self) -> &'static str {
        Self::NAMES[self as usize]
    }

    /// The thresholds used when none are given.
    pub fn default_thresholds(self) -> Vec<f64> {
        match self {
            Method::Exact => vec![],
            // Splink's name comparison levels.
            Method::JaroWinkler => vec![0.92, 0.88, 0.7],
            Method::Levenshtein | Method::DamerauLevenshtein => vec![1.0, 2.0],
            // A month, a year.
            Method::Date => vec![31.0, 365.0],
            Method::Numeric => vec![1.0, 10.0],
            Method::Email => vec![0.88],
        }
    }

    /// Whether thresholds must descend (similarities) or ascend (distances).
    fn descending(self) -> bool {
        matches!(self, Method::JaroWinkler | Method::Email)
    }
}

/// One comparison: a column, a method and its thresholds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// The compared column.
    pub column: String,
    /// How.
    pub method: Method,
    /// Level thresholds (the method's defaults when none were written).
    pub thresholds: Vec<f64>,
    /// Whether the exact level is adjusted by the value's frequency.
    #[serde(default)]
    pub term_frequency: bool,
}

impl Comparison {
    /// Parses `'column: method'` / `'column: method(t1, t2, …)'`; errors name
    /// the entry and say what is wrong.
    pub fn parse(entry: &str) -> Result<Comparison, LinkageError> {
        let bad = |why: String| LinkageError(format!("comparison '{entry}': {why}"));
        let Some((column, method)) = entry.split_once(':') else {
            return Err(bad(
                "expected 'column: method' or 'column: method(thresholds…)'".into(),
            ));
        };
        let column = column.trim();
        if column.is_empty() || column.contains(|c: char| c.is_whitespace() || c == ',') {
            return Err(bad("expected one column name before ':'".into()));
        }
        let method = method.trim();
        let (name, args) = match method.split_once('(') {
            None => (method, None),
            Some((name, rest)) => {
                let Some(args) = rest.trim_end().strip_suffix(')') else {
                    return Err(bad("missing ')' after the thresholds".into()));
                };
                (name.trim(), Some(args))
            }
        };
        let name_lower = name.to_ascii_lowercase();
        let Some(method) = Method::parse(&name_lower) else {
            return Err(bad(format!(
                "unknown method {name:?} (methods: {})",
                Method::NAMES.join(", ")
            )));
        };
        let thresholds = match args {
            None => method.default_thresholds(),
            Some(args) => {
                let mut out = Vec::new();
                for t in args.split(',') {
                    match t.trim().parse::<f64>() {
                        Ok(v) if v.is_finite() && v >= 0.0 => out.push(v),
                        _ => {
                            return Err(bad(format!(
                                "threshold {:?} is not a number ≥ 0",
                                t.trim()
                            )));
                        }
                    }
                }
                out
            }
        };
        if method == Method::Exact && !thresholds.is_empty() {
            return Err(bad("exact takes no thresholds".into()));
        }
        if method == Method::Email && thresholds.len() != 1 {
            return Err(bad(
                "email takes one threshold (the user parts' Jaro–Winkler, default 0.88)".into(),
            ));
        }
        if method != Method::Exact && thresholds.is_empty() {
            return Err(bad(format!(
                "{} needs at least one threshold",
                method.name()
            )));
        }
        if thresholds.len() > MAX_THRESHOLDS {
            return Err(bad(format!("at most {MAX_THRESHOLDS} thresholds")));
        }
        let ordered = thresholds.windows(2).all(|w| {
            if method.descending() {
                w[0] > w[1]
            } else {
                w[0] < w[1]
            }
        });
        if !ordered {
            let order = if method.descending() {
                "descending (most similar first)"
            } else {
                "ascending (closest first)"
            };
            return Err(bad(format!("thresholds must be strictly {order}")));
        }
        if method.descending() && thresholds.iter().any(|&t| t > 1.0) {
            return Err(bad("similarity thresholds must be at most 1".into()));
        }
        Ok(Comparison {
            column: column.to_string(),
            method,
            thresholds,
            term_frequency: false,
        })
    }

    /// Levels above the NULL level: 0 (else) … `levels() - 1` (exact).
    pub fn levels(&self) -> usize {
        match self.method {
            Method::Exact => 2,
            // exact, one typo, then each window of days, else.
            Method::Date => 3 + self.thresholds.len(),
            // exact, same user, similar users, same domain, else.
            Method::Email => 5,
            _ => 2 + self.thresholds.len(),
        }
    }

    /// What a level means, for `model_parameters`.
    pub fn describe(&self, level: i8) -> String {
        let top = self.levels() as i8 - 1;
        if level == NULL_LEVEL {
            return "null".into();
        }
        if level == top {
            return "exact".into();
        }
        if level == 0 {
            return "else".into();
        }
        // Level `top - 1 - i` is threshold i (after the extra text level of dates).
        let i = (top - 1 - level) as usize;
        let t = |i: usize| self.thresholds.get(i).copied().unwrap_or(f64::NAN);
        match self.method {
            Method::JaroWinkler => format!("jaro_winkler >= {}", t(i)),
            Method::Levenshtein => format!("levenshtein <= {}", t(i)),
            Method::DamerauLevenshtein => format!("damerau_levenshtein <= {}", t(i)),
            Method::Numeric => format!("abs difference <= {}", t(i)),
            Method::Date if i == 0 => "one typo or transposition".into(),
            Method::Date => format!("within {} days", t(i - 1)),
            Method::Email => match i {
                0 => "same user".into(),
                1 => format!("user jaro_winkler >= {}, same digits", t(0)),
                _ => "same domain".into(),
            },
            Method::Exact => "else".into(),
        }
    }

    /// As written, with its thresholds in force.
    pub fn to_text(&self) -> String {
        if self.thresholds.is_empty() {
            format!("{}: {}", self.column, self.method.name())
        } else {
            let t: Vec<String> = self.thresholds.iter().map(f64::to_string).collect();
            format!("{}: {}({})", self.column, self.method.name(), t.join(", "))
        }
    }
}

/// Parses a blocking rule `'a, b'`: equality on every listed column.
pub fn parse_blocking_rule(rule: &str) -> Result<Vec<String>, LinkageError> {
    let columns: Vec<String> = rule.split(',').map(|c| c.trim().to_string()).collect();
    if columns
        .iter()
        .any(|c| c.is_empty() || c.contains(char::is_whitespace))
    {
        return Err(LinkageError(format!(
            "blocking rule '{rule}': expected column names separated by commas"
        )));
    }
    Ok(columns)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_defaults_and_thresholds() {
        let c = Comparison::parse("given_name: jaro_winkler").unwrap();
        assert_eq!(c.column, "given_name");
        assert_eq!(c.method, Method::JaroWinkler);
        assert_eq!(c.thresholds, vec![0.92, 0.88, 0.7]);
        assert_eq!(c.levels(), 5);
        let c = Comparison::parse(" surname : Jaro_Winkler( 0.95, 0.88 ) ").unwrap();
        assert_eq!(c.thresholds, vec![0.95, 0.88]);
        assert_eq!(c.describe(3), "exact");
        assert_eq!(c.describe(2), "jaro_winkler >= 0.95");
        assert_eq!(c.describe(1), "jaro_winkler >= 0.88");
        assert_eq!(c.describe(0), "else");
        assert_eq!(c.describe(NULL_LEVEL), "null");
        let d = Comparison::parse("dob: date").unwrap();
        assert_eq!(d.levels(), 5);
        assert_eq!(d.describe(3), "one typo or transposition");
        assert_eq!(d.describe(2), "within 31 days");
        assert_eq!(d.describe(1), "within 365 days");
        assert_eq!(
            Comparison::parse("e: email").unwrap().describe(1),
            "same domain"
        );
        assert_eq!(
            Comparison::parse("x: levenshtein(1,3)").unwrap().to_text(),
            "x: levenshtein(1, 3)"
        );
    }

    #[test]
    fn malformed_entries_are_named() {
        for (entry, why) in [
            ("given_name", "expected 'column: method'"),
            (": exact", "one column name"),
            ("a b: exact", "one column name"),
            ("x: soundex", "unknown method \"soundex\""),
            ("x: jaro_winkler(0.9", "missing ')'"),
            ("x: jaro_winkler(0.8, 0.9)", "strictly descending"),
            ("x: levenshtein(2, 1)", "strictly ascending"),
            ("x: levenshtein(a)", "threshold \"a\""),
            ("x: exact(1)", "no thresholds"),
            ("x: jaro_winkler(1.5)", "at most 1"),
            ("x: email(0.9, 0.8)", "one threshold"),
            ("x: numeric()", "threshold \"\""),
        ] {
            let e = Comparison::parse(entry).unwrap_err().0;
            assert!(e.contains(&format!("'{entry}'")), "{e}");
            assert!(e.contains(why), "{entry}: {e}");
        }
        assert!(parse_blocking_rule("a, b").is_ok());
        assert!(parse_blocking_rule("a,,b").is_err());
        assert!(parse_blocking_rule("a b").is_err());
    }
}
