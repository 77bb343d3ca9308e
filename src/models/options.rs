//! `OPTIONS (…)` of `CREATE MODEL … model_type 'kmeans'`: checked all at
//! once, every unknown or out-of-range option named.

use std::collections::BTreeMap;

use microseg_udfs::model::kmeans::Init;

use crate::error::{Error, Result};
use crate::statements::{OptionValue, whole_option};

/// The most clusters a model may have: micro-segmentation scale, and the
/// size a plan can still carry inline.
pub const MAX_CLUSTERS: usize = 4096;

/// The largest `batch_size` accepted (larger batches are clamped to the
/// training rows anyway; this only keeps typos from looking meaningful).
const MAX_BATCH_SIZE: u64 = 1_000_000_000;

const KNOWN: [&str; 10] = [
    "model_type",
    "num_clusters",
    "standardize",
    "init",
    "max_iterations",
    "tolerance",
    "seed",
    "distance",
    "n_init",
    "batch_size",
];

/// Resolved k-means options.
#[derive(Debug, Clone, PartialEq)]
pub struct KMeansSettings {
    /// k.
    pub num_clusters: usize,
    /// z-score numeric features.
    pub standardize: bool,
    /// Lloyd iterations per run at most.
    pub max_iterations: u32,
    /// Relative tolerance (scikit-learn's rule).
    pub tolerance: f64,
    /// Random seed.
    pub seed: u64,
    /// Restarts, best kept; `None` (`n_init 'auto'`, the default) lets
    /// training choose by the problem's size (`kmeans::auto_n_init`).
    pub n_init: Option<u32>,
    /// Seeding: `'auto'` (the default) is k-means|| from
    /// `kmeans::KMEANS_PARALLEL_FROM` rows on and k-means++ below.
    pub init: Init,
    /// Mini-batch size (Sculley's mini-batch k-means); `None` is full-batch
    /// Lloyd. Larger than the training rows is allowed (clamped to them).
    pub batch_size: Option<usize>,
}

fn err(model: &str, message: impl std::fmt::Display) -> Error {
    Error::Usage(format!("CREATE MODEL {model}: {message}"))
}

impl KMeansSettings {
    /// Validates `options` for a k-means model.
    pub fn from_options(model: &str, options: &BTreeMap<String, OptionValue>) -> Result<Self> {
        for key in options.keys() {
            if !KNOWN.contains(&key.as_str()) {
                return Err(err(
                    model,
                    format!("unknown option {key} (options: {})", KNOWN.join(", ")),
                ));
            }
        }
        match options.get("model_type") {
            Some(OptionValue::Text(t)) if t.eq_ignore_ascii_case("kmeans") => {}
            Some(other) => {
                return Err(err(
                    model,
                    format!(
                        "unknown model_type {other} (model types: 'kmeans', 'bgnbd', 'gamma_gamma', 'logistic_reg', 'boosted_tree_classifier', 'recommender', 'linkage')"
                    ),
                ));
            }
            None => {
                return Err(err(
                    model,
                    "OPTIONS needs model_type (e.g. model_type 'kmeans')",
                ));
            }
        }
        let int = |key: &str, default: u64, range: std::ops::RangeInclusive<u64>| -> Result<u64> {
            whole_option(options, key, default, range).map_err(|e| err(model, e))
        };
        let Some(OptionValue::Number(_)) = options.get("num_clusters") else {
            return Err(err(
                model,
                "OPTIONS needs num_clusters (the number of clusters, 2 or more)",
            ));
        };
        let num_clusters = int("num_clusters", 0, 2..=MAX_CLUSTERS as u64)? as usize;
        let standardize = match options.get("standardize") {
            None => true,
            Some(OptionValue::Bool(b)) => *b,
            Some(other) => {
                return Err(err(
                    model,
                    format!("option standardize must be true or false, got {other}"),
                ));
            }
        };
        // The index in `allowed` of the value given (`default` when none).
        let text = |key: &str, default: &str, allowed: &[&str]| -> Result<usize> {
            match options.get(key) {
                None => Ok(allowed.iter().position(|a| *a == default).unwrap_or(0)),
                Some(OptionValue::Text(t)) if allowed.iter().any(|a| a.eq_ignore_ascii_case(t)) => {
                    Ok(allowed
                        .iter()
                        .position(|a| a.eq_ignore_ascii_case(t))
                        .unwrap_or(0))
                }
                Some(other) => Err(err(
                    model,
                    format!(
                        "option {key} must be one of {} (default '{default}'), got {other}",
                        allowed
                            .iter()
                            .map(|a| format!("'{a}'"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )),
            }
        };
        let init = match text(
            "init",
            "auto",
            &["auto", "kmeans++", "k-means++", "kmeans||", "k-means||"],
        )? {
            0 => Init::Auto,
            1 | 2 => Init::PlusPlus,
            _ => Init::Parallel,
        };
        text("distance", "euclidean", &["euclidean"])?;
        let tolerance = match options.get("tolerance") {
            None => 1e-4,
            Some(OptionValue::Number(n)) => match n.parse::<f64>() {
                Ok(t) if t >= 0.0 && t.is_finite() => t,
                _ => {
                    return Err(err(
                        model,
                        format!("option tolerance must be a number ≥ 0, got {n}"),
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
        Ok(KMeansSettings {
            num_clusters,
            standardize,
            max_iterations: int("max_iterations", 300, 1..=100_000)? as u32,
            tolerance,
            seed: int("seed", 42, 0..=u64::MAX)?,
            n_init: match options.get("n_init") {
                None => None,
                Some(OptionValue::Text(t)) if t.eq_ignore_ascii_case("auto") => None,
                Some(OptionValue::Number(_)) => Some(int("n_init", 1, 1..=100)? as u32),
                Some(other) => {
                    return Err(err(
                        model,
                        format!(
                            "option n_init must be 'auto' or a whole number from 1 to 100, got {other}"
                        ),
                    ));
                }
            },
            init,
            batch_size: match options.get("batch_size") {
                None => None,
                Some(_) => Some(int("batch_size", 0, 1..=MAX_BATCH_SIZE)? as usize),
            },
        })
    }

    /// Every option in force, for DESCRIBE MODEL.
    pub fn resolved(&self) -> BTreeMap<String, String> {
        [
            ("model_type", "kmeans".to_string()),
            ("num_clusters", self.num_clusters.to_string()),
            ("standardize", self.standardize.to_string()),
            ("init", self.init.name().to_string()),
            ("max_iterations", self.max_iterations.to_string()),
            ("tolerance", self.tolerance.to_string()),
            ("seed", self.seed.to_string()),
            ("distance", "euclidean".to_string()),
            (
                "n_init",
                self.n_init.map_or("auto".to_string(), |n| n.to_string()),
            ),
        ]
        .into_iter()
        .chain(self.batch_size.map(|b| ("batch_size", b.to_string())))
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }
}
