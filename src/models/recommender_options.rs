//! `OPTIONS (…)` of `CREATE MODEL … model_type 'recommender'`.

use std::collections::BTreeMap;

use microseg_udfs::model::recommend::{AlsSettings, Method};

use crate::error::{Error, Result};
use crate::statements::OptionValue;

const KNOWN: [&str; 10] = [
    "model_type",
    "method",
    "exclude_bought",
    "half_life_days",
    "min_support",
    "seed",
    "factors",
    "regularization",
    "alpha",
    "iterations",
];

const METHODS: [&str; 6] = [
    "auto",
    "buy_again",
    "cooccurrence",
    "segment_popular",
    "blend",
    "als",
];

/// Resolved recommender options.
#[derive(Debug, Clone, PartialEq)]
pub struct RecommenderSettings {
    /// What `method` resolved to (`'auto'` is the blend).
    pub method: Method,
    /// Leave out items the customer already bought.
    pub exclude_bought: bool,
    /// Half-life of an interaction's weight, in days; `None`: no decay.
    pub half_life_days: Option<f64>,
    /// Customers a segment or an item pair needs, see `Settings`.
    pub min_support: u32,
    /// Random seed (for the factorization methods).
    pub seed: u64,
    /// Implicit ALS (method `als`): factors, λ, α, iterations.
    pub als: AlsSettings,
}

fn err(model: &str, message: impl std::fmt::Display) -> Error {
    Error::Usage(format!("CREATE MODEL {model}: {message}"))
}

impl RecommenderSettings {
    /// Validates `options`, naming any unknown or out-of-range option.
    pub fn from_options(model: &str, options: &BTreeMap<String, OptionValue>) -> Result<Self> {
        for key in options.keys() {
            if !KNOWN.contains(&key.as_str()) {
                return Err(err(
                    model,
                    format!(
                        "unknown option {key} (options for recommender: {})",
                        KNOWN.join(", ")
                    ),
                ));
            }
        }
        let method = match options.get("method") {
            None => Method::Blend,
            Some(OptionValue::Text(t)) => match t.to_ascii_lowercase().as_str() {
                "auto" | "blend" => Method::Blend,
                "buy_again" => Method::BuyAgain,
                "cooccurrence" => Method::Cooccurrence,
                "segment_popular" => Method::SegmentPopular,
                "als" => Method::Als,
                _ => return Err(method_error(model, &format!("'{t}'"))),
            },
            Some(other) => return Err(method_error(model, &other.to_string())),
        };
        let exclude_bought = match options.get("exclude_bought") {
            None => false,
            Some(OptionValue::Bool(b)) => *b,
            Some(other) => {
                return Err(err(
                    model,
                    format!("option exclude_bought must be true or false, got {other}"),
                ));
            }
        };
        let half_life_days = match options.get("half_life_days") {
            None => None,
            Some(OptionValue::Number(n)) => match n.parse::<f64>() {
                Ok(h) if h > 0.0 && h.is_finite() => Some(h),
                _ => {
                    return Err(err(
                        model,
                        format!("option half_life_days must be a number > 0, got {n}"),
                    ));
                }
            },
            Some(other) => {
                return Err(err(
                    model,
                    format!("option half_life_days must be a number of days > 0, got {other}"),
                ));
            }
        };
        let whole = |key: &str, default: u64, max: u64| -> Result<u64> {
            match options.get(key) {
                None => Ok(default),
                Some(OptionValue::Number(n)) => match n.parse::<u64>() {
                    Ok(v) if (1..=max).contains(&v) || (key == "seed" && v <= max) => Ok(v),
                    _ => Err(err(
                        model,
                        format!("option {key} must be a whole number from 1 to {max}, got {n}"),
                    )),
                },
                Some(other) => Err(err(
                    model,
                    format!("option {key} must be a whole number, got {other}"),
                )),
            }
        };
        let real = |key: &str, default: f64| -> Result<f64> {
            match options.get(key) {
                None => Ok(default),
                Some(OptionValue::Number(n)) => match n.parse::<f64>() {
                    Ok(v) if v >= 0.0 && v.is_finite() => Ok(v),
                    _ => Err(err(
                        model,
                        format!("option {key} must be a number ≥ 0, got {n}"),
                    )),
                },
                Some(other) => Err(err(
                    model,
                    format!("option {key} must be a number ≥ 0, got {other}"),
                )),
            }
        };
        let defaults = AlsSettings::default();
        let seed = whole("seed", 42, u64::MAX)?;
        let als = AlsSettings {
            factors: whole("factors", defaults.factors as u64, 1024)? as usize,
            regularization: real("regularization", defaults.regularization)?,
            alpha: real("alpha", defaults.alpha)?,
            iterations: whole("iterations", defaults.iterations as u64, 1000)? as usize,
            seed,
        };
        if method != Method::Als {
            for key in ["factors", "regularization", "alpha", "iterations"] {
                if options.contains_key(key) {
                    return Err(err(model, format!("option {key} is for method 'als'")));
                }
            }
        }
        Ok(RecommenderSettings {
            method,
            exclude_bought,
            half_life_days,
            min_support: whole("min_support", 5, u64::from(u32::MAX))? as u32,
            seed,
            als,
        })
    }

    /// Every option in force, for DESCRIBE MODEL and for reading the model
    /// back (`catalog::models::recommender_settings`).
    pub fn resolved(&self) -> BTreeMap<String, String> {
        [
            ("model_type", "recommender".to_string()),
            ("method", self.method.name().to_string()),
            ("exclude_bought", self.exclude_bought.to_string()),
            (
                "half_life_days",
                self.half_life_days
                    .map_or("none".to_string(), |h| h.to_string()),
            ),
            ("min_support", self.min_support.to_string()),
            ("seed", self.seed.to_string()),
        ]
        .into_iter()
        .chain(
            (self.method == Method::Als)
                .then(|| {
                    [
                        ("factors", self.als.factors.to_string()),
                        ("regularization", self.als.regularization.to_string()),
                        ("alpha", self.als.alpha.to_string()),
                        ("iterations", self.als.iterations.to_string()),
                    ]
                })
                .into_iter()
                .flatten(),
        )
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }
}

fn method_error(model: &str, got: &str) -> Error {
    err(
        model,
        format!(
            "option method must be one of {}, got {got}",
            METHODS
                .iter()
                .map(|m| format!("'{m}'"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(pairs: &[(&str, OptionValue)]) -> BTreeMap<String, OptionValue> {
        std::iter::once((
            "model_type".to_string(),
            OptionValue::Text("recommender".into()),
        ))
        .chain(pairs.iter().map(|(k, v)| (k.to_string(), v.clone())))
        .collect()
    }

    #[test]
    fn defaults_and_errors() {
        let s = RecommenderSettings::from_options("r", &options(&[])).unwrap();
        assert_eq!(s.method, Method::Blend);
        assert_eq!(s.min_support, 5);
        let e = |pairs: &[(&str, OptionValue)]| {
            RecommenderSettings::from_options("r", &options(pairs))
                .unwrap_err()
                .to_string()
        };
        assert!(e(&[("method", OptionValue::Text("magic".into()))]).contains("option method"));
        assert!(
            e(&[("half_life_days", OptionValue::Number("0".into()))]).contains("half_life_days")
        );
        assert!(e(&[("min_support", OptionValue::Number("0".into()))]).contains("min_support"));
        assert!(
            e(&[("num_clusters", OptionValue::Number("3".into()))])
                .contains("unknown option num_clusters")
        );
    }
}
