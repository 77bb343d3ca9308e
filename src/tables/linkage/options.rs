//! `OPTIONS (…)` of `CREATE MODEL … model_type 'linkage'`.

use std::collections::BTreeMap;

use microseg_udfs::model::linkage::{
    Comparison, DEFAULT_MAX_CLUSTER_SIZE, LinkType, Method, Settings, parse_blocking_rule,
};

use crate::error::{Error, Result};
use crate::statements::{OptionValue, whole_option};

const KNOWN: [&str; 15] = [
    "model_type",
    "link_type",
    "unique_id",
    "source_col",
    "blocking_rules",
    "comparisons",
    "term_frequency",
    "max_pairs",
    "u_samples",
    "seed",
    "max_iterations",
    "tolerance",
    "deterministic_rules",
    "deterministic_recall",
    "max_cluster_size",
];

/// Candidate pairs allowed by default: 8 bytes each while held, so 160 MB.
pub const DEFAULT_MAX_PAIRS: u64 = 20_000_000;

/// Resolved linkage options.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkageOptions {
    /// The records' unique id column.
    pub unique_id: String,
    /// The column telling sources apart (link only).
    pub source_col: Option<String>,
    /// What the kernel trains with.
    pub settings: Settings,
}

fn err(model: &str, message: impl std::fmt::Display) -> Error {
    Error::Usage(format!("CREATE MODEL {model}: {message}"))
}

fn text_list(model: &str, key: &str, value: Option<&OptionValue>) -> Result<Option<Vec<String>>> {
    match value {
        None => Ok(None),
        Some(OptionValue::List(items)) => items
            .iter()
            .map(|item| match item {
                OptionValue::Text(t) => Ok(t.clone()),
                other => Err(err(
                    model,
                    format!("option {key} must list strings, got {other}"),
                )),
            })
            .collect::<Result<Vec<_>>>()
            .map(Some),
        Some(other) => Err(err(
            model,
            format!("option {key} must be a list of strings like ['a', 'b'], got {other}"),
        )),
    }
}

impl LinkageOptions {
    /// Validates `options`, naming any unknown, missing or malformed one.
    pub fn from_options(model: &str, options: &BTreeMap<String, OptionValue>) -> Result<Self> {
        for key in options.keys() {
            if !KNOWN.contains(&key.as_str()) {
                return Err(err(
                    model,
                    format!(
                        "unknown option {key} (options for linkage: {})",
                        KNOWN.join(", ")
                    ),
                ));
            }
        }
        let text = |key: &str| -> Result<Option<String>> {
            match options.get(key) {
                None => Ok(None),
                Some(OptionValue::Text(t)) if !t.trim().is_empty() => Ok(Some(t.trim().into())),
                Some(other) => Err(err(
                    model,
                    format!("option {key} must be a column name as a string, got {other}"),
                )),
            }
        };
        let link_type = match options.get("link_type") {
            None => LinkType::Dedupe,
            Some(OptionValue::Text(t)) if t.eq_ignore_ascii_case("dedupe") => LinkType::Dedupe,
            Some(OptionValue::Text(t)) if t.eq_ignore_ascii_case("link") => LinkType::Link,
            Some(other) => {
                return Err(err(
                    model,
                    format!("option link_type must be 'dedupe' or 'link', got {other}"),
                ));
            }
        };
        let Some(unique_id) = text("unique_id")? else {
            return Err(err(
                model,
                "OPTIONS needs unique_id (the column identifying each record)",
            ));
        };
        let source_col = text("source_col")?;
        match (link_type, &source_col) {
            (LinkType::Link, None) => {
                return Err(err(
                    model,
                    "link_type 'link' needs source_col (the column telling the sources apart)",
                ));
            }
            (LinkType::Dedupe, Some(_)) => {
                return Err(err(
                    model,
                    "source_col is for link_type 'link'; a dedupe compares every record with every other",
                ));
            }
            _ => {}
        }
        let Some(rules) = text_list(model, "blocking_rules", options.get("blocking_rules"))? else {
            return Err(err(
                model,
                "OPTIONS needs blocking_rules, e.g. ['surname', 'postcode, date_of_birth']",
            ));
        };
        let blocking = rules
            .iter()
            .map(|r| parse_blocking_rule(r).map_err(|e| err(model, e)))
            .collect::<Result<Vec<_>>>()?;
        let Some(entries) = text_list(model, "comparisons", options.get("comparisons"))? else {
            return Err(err(
                model,
                "OPTIONS needs comparisons, e.g. ['given_name: jaro_winkler', 'postcode: exact']",
            ));
        };
        let mut comparisons = entries
            .iter()
            .map(|c| Comparison::parse(c).map_err(|e| err(model, e)))
            .collect::<Result<Vec<_>>>()?;
        // Names are what jaro_winkler is for: their common values say less.
        let tf = text_list(model, "term_frequency", options.get("term_frequency"))?;
        for c in &mut comparisons {
            c.term_frequency = match &tf {
                None => c.method == Method::JaroWinkler,
                Some(columns) => columns.iter().any(|t| t.eq_ignore_ascii_case(&c.column)),
            };
        }
        if let Some(columns) = &tf {
            for t in columns {
                if !comparisons.iter().any(|c| c.column.eq_ignore_ascii_case(t)) {
                    return Err(err(
                        model,
                        format!("term_frequency names {t}, which no comparison compares"),
                    ));
                }
            }
        }
        let whole = |key: &str, default: u64, range: std::ops::RangeInclusive<u64>| {
            whole_option(options, key, default, range).map_err(|e| err(model, e))
        };
        let tolerance = match options.get("tolerance") {
            None => 1e-6,
            Some(OptionValue::Number(n)) => match n.parse::<f64>() {
                Ok(t) if t > 0.0 && t.is_finite() => t,
                _ => {
                    return Err(err(
                        model,
                        format!("option tolerance must be a number > 0, got {n}"),
                    ));
                }
            },
            Some(other) => {
                return Err(err(
                    model,
                    format!("option tolerance must be a number, got {other}"),
                ));
            }
        };
        let deterministic = text_list(
            model,
            "deterministic_rules",
            options.get("deterministic_rules"),
        )?
        .unwrap_or_default()
        .iter()
        .map(|r| parse_blocking_rule(r).map_err(|e| err(model, e)))
        .collect::<Result<Vec<_>>>()?;
        let recall = match options.get("deterministic_recall") {
            None => 0.8,
            Some(OptionValue::Number(n)) => match n.parse::<f64>() {
                Ok(r) if r > 0.0 && r <= 1.0 => r,
                _ => {
                    return Err(err(
                        model,
                        format!("option deterministic_recall must be in (0, 1], got {n}"),
                    ));
                }
            },
            Some(other) => {
                return Err(err(
                    model,
                    format!("option deterministic_recall must be a number, got {other}"),
                ));
            }
        };
        Ok(LinkageOptions {
            unique_id,
            source_col,
            settings: Settings {
                link_type,
                comparisons,
                blocking,
                max_pairs: whole("max_pairs", DEFAULT_MAX_PAIRS, 1..=u64::MAX)?,
                u_samples: whole("u_samples", 1_000_000, 1..=1_000_000_000)?,
                seed: whole("seed", 42, 0..=u64::MAX)?,
                max_iterations: whole("max_iterations", 100, 1..=10_000)? as u32,
                tolerance,
                deterministic,
                recall,
                max_cluster_size: whole(
                    "max_cluster_size",
                    DEFAULT_MAX_CLUSTER_SIZE,
                    2..=u64::from(u32::MAX),
                )?,
            },
        })
    }

    /// Every option in force, for DESCRIBE MODEL and for predicting.
    pub fn resolved(&self) -> BTreeMap<String, String> {
        let s = &self.settings;
        let list = |items: Vec<String>| {
            format!(
                "[{}]",
                items
                    .iter()
                    .map(|i| format!("'{i}'"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        let mut out: BTreeMap<String, String> = [
            ("model_type", "linkage".to_string()),
            (
                "link_type",
                match s.link_type {
                    LinkType::Dedupe => "dedupe",
                    LinkType::Link => "link",
                }
                .to_string(),
            ),
            ("unique_id", self.unique_id.clone()),
            (
                "blocking_rules",
                list(s.blocking.iter().map(|r| r.join(", ")).collect()),
            ),
            (
                "comparisons",
                list(s.comparisons.iter().map(Comparison::to_text).collect()),
            ),
            (
                "term_frequency",
                list(
                    s.comparisons
                        .iter()
                        .filter(|c| c.term_frequency)
                        .map(|c| c.column.clone())
                        .collect(),
                ),
            ),
            ("max_pairs", s.max_pairs.to_string()),
            ("u_samples", s.u_samples.to_string()),
            ("seed", s.seed.to_string()),
            ("max_iterations", s.max_iterations.to_string()),
            ("tolerance", s.tolerance.to_string()),
            ("max_cluster_size", s.max_cluster_size.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        if let Some(source) = &self.source_col {
            out.insert("source_col".into(), source.clone());
        }
        if !s.deterministic.is_empty() {
            out.insert(
                "deterministic_rules".into(),
                list(s.deterministic.iter().map(|r| r.join(", ")).collect()),
            );
            out.insert("deterministic_recall".into(), s.recall.to_string());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(pairs: &[(&str, OptionValue)]) -> BTreeMap<String, OptionValue> {
        let t = |s: &str| OptionValue::Text(s.into());
        let mut o: BTreeMap<String, OptionValue> = [
            ("model_type", t("linkage")),
            ("unique_id", t("rec_id")),
            (
                "blocking_rules",
                OptionValue::List(vec![t("surname"), t("postcode, dob")]),
            ),
            (
                "comparisons",
                OptionValue::List(vec![t("given_name: jaro_winkler"), t("postcode: exact")]),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        for (k, v) in pairs {
            o.insert(k.to_string(), v.clone());
        }
        o
    }

    #[test]
    fn defaults_and_errors() {
        let o = LinkageOptions::from_options("m", &options(&[])).unwrap();
        assert_eq!(
            o.settings.blocking,
            vec![
                vec!["surname".to_string()],
                vec!["postcode".into(), "dob".into()]
            ]
        );
        assert!(o.settings.comparisons[0].term_frequency);
        assert!(!o.settings.comparisons[1].term_frequency);
        assert_eq!(o.settings.max_pairs, DEFAULT_MAX_PAIRS);
        let e = |pairs: &[(&str, OptionValue)]| {
            LinkageOptions::from_options("m", &options(pairs))
                .unwrap_err()
                .to_string()
        };
        let t = |s: &str| OptionValue::Text(s.into());
        assert!(
            e(&[("comparisons", OptionValue::List(vec![t("given_name jaro")]))])
                .contains("comparison 'given_name jaro'")
        );
        assert!(e(&[("link_type", t("link"))]).contains("needs source_col"));
        assert!(e(&[("source_col", t("src"))]).contains("source_col is for link_type 'link'"));
        assert!(
            e(&[("num_clusters", OptionValue::Number("3".into()))])
                .contains("unknown option num_clusters")
        );
        assert!(e(&[("comparisons", t("a: exact"))]).contains("must be a list"));
        assert!(
            e(&[("term_frequency", OptionValue::List(vec![t("city")]))])
                .contains("term_frequency names city")
        );
        assert!(e(&[("max_pairs", OptionValue::Number("0".into()))]).contains("max_pairs"));
        assert!(
            e(&[("deterministic_recall", OptionValue::Number("1.5".into()))])
                .contains("deterministic_recall must be in (0, 1], got 1.5")
        );
        // Deterministic rules read as blocking rules, and are kept in the
        // resolved options (without them, none is listed).
        assert!(o.settings.deterministic.is_empty() && o.settings.recall == 0.8);
        assert!(!o.resolved().contains_key("deterministic_rules"));
        let d = LinkageOptions::from_options(
            "m",
            &options(&[
                (
                    "deterministic_rules",
                    OptionValue::List(vec![t("surname, dob")]),
                ),
                ("deterministic_recall", OptionValue::Number("0.6".into())),
            ]),
        )
        .unwrap();
        assert_eq!(
            d.settings.deterministic,
            vec![vec!["surname".to_string(), "dob".into()]]
        );
        assert_eq!(d.resolved()["deterministic_rules"], "['surname, dob']");
        assert_eq!(d.resolved()["deterministic_recall"], "0.6");
    }
}
