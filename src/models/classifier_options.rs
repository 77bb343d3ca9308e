//! `OPTIONS (…)` of `CREATE MODEL … model_type 'logistic_reg'` or
//! `'boosted_tree_classifier'`: checked all at once, every unknown or
//! out-of-range option named.

use std::collections::BTreeMap;

use crate::error::Result;
use crate::statements::OptionValue;

use super::usage;

const KNOWN: [&str; 12] = [
    "model_type",
    "input_label_cols",
    "positive_label",
    "l1_reg",
    "l2_reg",
    "auto_class_weights",
    "class_weights",
    "max_iterations",
    "data_split_method",
    "data_split_eval_fraction",
    "data_split_col",
    "seed",
];

/// Options only trees take.
const TREE_ONLY: [&str; 7] = [
    "learning_rate",
    "num_leaves",
    "max_tree_depth",
    "min_child_weight",
    "min_rows_in_leaf",
    "subsample",
    "early_stop",
];

/// Resolved boosted-tree options (LightGBM's defaults).
#[derive(Debug, Clone, PartialEq)]
pub struct TreeSettings {
    /// η.
    pub learning_rate: f64,
    /// Leaves per tree at most.
    pub num_leaves: usize,
    /// Depth at most; `None` unlimited.
    pub max_depth: Option<usize>,
    /// Hessian per leaf at least.
    pub min_child_weight: f64,
    /// Rows per leaf at least.
    pub min_rows_in_leaf: usize,
    /// Rows each tree samples.
    pub subsample: f64,
    /// Stop after 10 trees without progress on the evaluation rows.
    pub early_stop: bool,
}

/// How rows are split into training and evaluation rows.
#[derive(Debug, Clone, PartialEq)]
pub enum Split {
    /// BigQuery ML's rule: under 500 rows none; up to 50,000 a random 20%;
    /// beyond, a random 10,000 rows.
    Auto,
    /// A seeded hash of each row's values below the fraction: identical
    /// rows fall on the same side, whatever their order.
    Random(f64),
    /// The rows with the largest values of the column (the latest, for
    /// time-ordered labels): those from the value at the (1 − fraction)
    /// quantile on.
    Seq(String, f64),
    /// Every row trains.
    None,
}

/// Trees without progress on the evaluation rows before training stops.
pub const EARLY_STOP_ROUNDS: usize = 10;

/// Resolved classifier options.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassifierSettings {
    /// `logistic_reg` or `boosted_tree_classifier`.
    pub model_type: &'static str,
    /// The boosted-tree options, for trees.
    pub trees: Option<TreeSettings>,
    /// The label column.
    pub label: String,
    /// The label value taken as positive (text), when given.
    pub positive_label: Option<String>,
    /// λ of the L2 penalty.
    pub l2: f64,
    /// Balanced class weights n / (2 · n_class).
    pub auto_class_weights: bool,
    /// [negative, positive] weights.
    pub class_weights: Option<[f64; 2]>,
    /// Newton iterations (trees) at most.
    pub max_iterations: u32,
    /// The split.
    pub split: Split,
    /// Seed of the random split.
    pub seed: u64,
}

impl ClassifierSettings {
    /// Validates `options` for a classifier named `model`.
    pub fn from_options(model: &str, options: &BTreeMap<String, OptionValue>) -> Result<Self> {
        let err = |m: String| usage(model, m);
        let trees = matches!(options.get("model_type"), Some(OptionValue::Text(t)) if t.eq_ignore_ascii_case(crate::catalog::models::BOOSTED));
        let model_type = if trees {
            crate::catalog::models::BOOSTED
        } else {
            "logistic_reg"
        };
        let known: Vec<&str> = KNOWN
            .iter()
            .chain(if trees { &TREE_ONLY[..] } else { &[] })
            .copied()
            .collect();
        for key in options.keys() {
            if !known.contains(&key.as_str()) {
                return Err(err(format!(
                    "unknown option {key} (options for {model_type}: {})",
                    known.join(", ")
                )));
            }
        }
        let number = |key: &str, default: f64, ok: &dyn Fn(f64) -> bool, what: &str| match options
            .get(key)
        {
            None => Ok(default),
            Some(OptionValue::Number(n)) => match n.parse::<f64>() {
                Ok(v) if v.is_finite() && ok(v) => Ok(v),
                _ => Err(err(format!("option {key} must be {what}, got {n}"))),
            },
            Some(other) => Err(err(format!("option {key} must be {what}, got {other}"))),
        };
        let text = |key: &str| -> Result<Option<String>> {
            match options.get(key) {
                None => Ok(None),
                Some(OptionValue::Text(t)) => Ok(Some(t.clone())),
                Some(other) => Err(err(format!("option {key} must be a 'string', got {other}"))),
            }
        };
        let label = match options.get("input_label_cols") {
            None => "label".to_string(),
            Some(OptionValue::List(items)) => match items.as_slice() {
                [OptionValue::Text(column)] => column.clone(),
                _ => {
                    return Err(err(format!(
                        "option input_label_cols must list one column name, e.g. ['churned'], got {}",
                        options["input_label_cols"]
                    )));
                }
            },
            Some(other) => {
                return Err(err(format!(
                    "option input_label_cols must be a list of one column name, e.g. ['churned'], got {other}"
                )));
            }
        };
        let l1 = number("l1_reg", 0.0, &|v| v >= 0.0, "a number ≥ 0")?;
        if l1 > 0.0 {
            return Err(err(format!(
                "option l1_reg: L1 regularisation is not supported yet for {model_type} (use l2_reg)"
            )));
        }
        let auto_class_weights = match options.get("auto_class_weights") {
            None => false,
            Some(OptionValue::Bool(b)) => *b,
            Some(other) => {
                return Err(err(format!(
                    "option auto_class_weights must be true or false, got {other}"
                )));
            }
        };
        let class_weights = match options.get("class_weights") {
            None => None,
            Some(OptionValue::List(items)) => {
                let weights: Vec<Option<f64>> = items
                    .iter()
                    .map(|i| match i {
                        OptionValue::Number(n) => {
                            n.parse::<f64>().ok().filter(|w| *w > 0.0 && w.is_finite())
                        }
                        _ => None,
                    })
                    .collect();
                match weights.as_slice() {
                    [Some(w0), Some(w1)] => Some([*w0, *w1]),
                    _ => {
                        return Err(err(format!(
                            "option class_weights must list two numbers > 0, [negative, positive], got {}",
                            options["class_weights"]
                        )));
                    }
                }
            }
            Some(other) => {
                return Err(err(format!(
                    "option class_weights must be a list [negative, positive] of two numbers > 0, got {other}"
                )));
            }
        };
        if auto_class_weights && class_weights.is_some() {
            return Err(err(
                "options auto_class_weights and class_weights exclude each other".into(),
            ));
        }
        let max_iterations = number(
            "max_iterations",
            100.0,
            &|v| (1.0..=10_000.0).contains(&v) && v.fract() == 0.0,
            "a whole number from 1 to 10000",
        )? as u32;
        let seed = match options.get("seed") {
            None => 42,
            Some(OptionValue::Number(n)) => n
                .parse::<u64>()
                .map_err(|_| err(format!("option seed must be a whole number ≥ 0, got {n}")))?,
            Some(other) => return Err(err(format!("option seed must be a number, got {other}"))),
        };
        let fraction = options
            .contains_key("data_split_eval_fraction")
            .then(|| {
                number(
                    "data_split_eval_fraction",
                    0.2,
                    &|v| v > 0.0 && v < 1.0,
                    "a number between 0 and 1 (exclusive)",
                )
            })
            .transpose()?;
        let column = text("data_split_col")?;
        let method = text("data_split_method")?.map(|m| m.to_ascii_lowercase());
        let split = match method.as_deref() {
            None | Some("auto") if fraction.is_none() && column.is_none() => Split::Auto,
            None | Some("auto") => {
                return Err(err(
                    "data_split_eval_fraction and data_split_col need data_split_method 'random' or 'seq'"
                        .into(),
                ));
            }
            Some("random") if column.is_none() => Split::Random(fraction.unwrap_or(0.2)),
            Some("random") => {
                return Err(err(
                    "option data_split_col is for data_split_method 'seq'".into()
                ));
            }
            Some("seq") => match column {
                Some(c) => Split::Seq(c, fraction.unwrap_or(0.2)),
                None => {
                    return Err(err(
                        "data_split_method 'seq' needs data_split_col (the column ordering the rows, e.g. a date)"
                            .into(),
                    ));
                }
            },
            Some("no_split") if fraction.is_none() && column.is_none() => Split::None,
            Some("no_split") => {
                return Err(err(
                    "data_split_method 'no_split' takes no data_split_eval_fraction or data_split_col"
                        .into(),
                ));
            }
            Some(other) => {
                return Err(err(format!(
                    "option data_split_method must be one of 'auto', 'random', 'seq', 'no_split', got '{other}'"
                )));
            }
        };
        let whole = |key: &str, default: f64, low: f64, high: f64| -> Result<f64> {
            number(
                key,
                default,
                &|v| (low..=high).contains(&v) && v.fract() == 0.0,
                &format!("a whole number from {low} to {high}"),
            )
        };
        let tree_settings = if trees {
            let depth = whole("max_tree_depth", 0.0, 0.0, 64.0)? as usize;
            Some(TreeSettings {
                learning_rate: number(
                    "learning_rate",
                    0.1,
                    &|v| v > 0.0 && v <= 1.0,
                    "a number in (0, 1]",
                )?,
                num_leaves: whole("num_leaves", 31.0, 2.0, 4096.0)? as usize,
                max_depth: (depth > 0).then_some(depth),
                min_child_weight: number("min_child_weight", 1e-3, &|v| v >= 0.0, "a number ≥ 0")?,
                min_rows_in_leaf: whole("min_rows_in_leaf", 20.0, 1.0, 1e9)? as usize,
                subsample: number(
                    "subsample",
                    1.0,
                    &|v| v > 0.0 && v <= 1.0,
                    "a number in (0, 1]",
                )?,
                early_stop: match options.get("early_stop") {
                    None => true,
                    Some(OptionValue::Bool(b)) => *b,
                    Some(other) => {
                        return Err(err(format!(
                            "option early_stop must be true or false, got {other}"
                        )));
                    }
                },
            })
        } else {
            None
        };
        Ok(Self {
            model_type,
            trees: tree_settings,
            label,
            positive_label: text("positive_label")?,
            l2: number("l2_reg", 0.0, &|v| v >= 0.0, "a number ≥ 0")?,
            auto_class_weights,
            class_weights,
            max_iterations,
            split,
            seed,
        })
    }

    /// Every option in force, for DESCRIBE MODEL.
    pub fn resolved(&self) -> BTreeMap<String, String> {
        let list = |v: &[String]| {
            OptionValue::List(v.iter().map(|s| OptionValue::Text(s.clone())).collect())
        };
        let mut out: BTreeMap<String, String> = [
            ("model_type", self.model_type.to_string()),
            (
                "input_label_cols",
                list(std::slice::from_ref(&self.label)).to_string(),
            ),
            ("l1_reg", "0".to_string()),
            ("l2_reg", self.l2.to_string()),
            ("auto_class_weights", self.auto_class_weights.to_string()),
            ("max_iterations", self.max_iterations.to_string()),
            ("seed", self.seed.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        if let Some(t) = &self.trees {
            for (key, value) in [
                ("learning_rate", t.learning_rate.to_string()),
                ("num_leaves", t.num_leaves.to_string()),
                (
                    "max_tree_depth",
                    t.max_depth
                        .map_or("0 (unlimited)".into(), |d| d.to_string()),
                ),
                ("min_child_weight", t.min_child_weight.to_string()),
                ("min_rows_in_leaf", t.min_rows_in_leaf.to_string()),
                ("subsample", t.subsample.to_string()),
                ("early_stop", t.early_stop.to_string()),
            ] {
                out.insert(key.into(), value);
            }
        }
        if let Some([w0, w1]) = self.class_weights {
            out.insert("class_weights".into(), format!("[{w0}, {w1}]"));
        }
        let (method, fraction) = match &self.split {
            Split::Auto => ("auto", None),
            Split::Random(f) => ("random", Some(*f)),
            Split::Seq(column, f) => {
                out.insert("data_split_col".into(), column.clone());
                ("seq", Some(*f))
            }
            Split::None => ("no_split", None),
        };
        out.insert("data_split_method".into(), method.into());
        if let Some(f) = fraction {
            out.insert("data_split_eval_fraction".into(), f.to_string());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(pairs: &[(&str, OptionValue)]) -> BTreeMap<String, OptionValue> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }
    fn num(n: &str) -> OptionValue {
        OptionValue::Number(n.into())
    }
    fn text(t: &str) -> OptionValue {
        OptionValue::Text(t.into())
    }

    #[test]
    fn defaults_and_lists() {
        let s = ClassifierSettings::from_options(
            "m",
            &opts(&[
                ("model_type", text("logistic_reg")),
                ("input_label_cols", OptionValue::List(vec![text("churned")])),
                ("class_weights", OptionValue::List(vec![num("1"), num("3")])),
            ]),
        )
        .unwrap();
        assert_eq!(s.label, "churned");
        assert_eq!(s.class_weights, Some([1.0, 3.0]));
        assert_eq!(s.split, Split::Auto);
        assert_eq!(s.resolved()["input_label_cols"], "['churned']");
        assert_eq!(s.resolved()["class_weights"], "[1, 3]");
    }

    #[test]
    fn tree_options_and_defaults() {
        let s = ClassifierSettings::from_options(
            "m",
            &opts(&[
                ("model_type", text("boosted_tree_classifier")),
                ("num_leaves", num("8")),
                ("max_tree_depth", num("3")),
                ("early_stop", OptionValue::Bool(false)),
            ]),
        )
        .unwrap();
        let t = s.trees.clone().unwrap();
        assert_eq!(
            (t.num_leaves, t.max_depth, t.early_stop),
            (8, Some(3), false)
        );
        assert_eq!(
            (t.learning_rate, t.min_rows_in_leaf, t.subsample),
            (0.1, 20, 1.0)
        );
        let r = s.resolved();
        assert_eq!(r["model_type"], "boosted_tree_classifier");
        assert_eq!(r["num_leaves"], "8");
        assert!(
            ClassifierSettings::from_options("m", &opts(&[("num_leaves", num("8"))]))
                .unwrap_err()
                .to_string()
                .contains("unknown option num_leaves (options for logistic_reg")
        );
    }

    #[test]
    fn errors_name_the_option() {
        let bad = |pairs: &[(&str, OptionValue)], wanted: &str| {
            let e = ClassifierSettings::from_options("m", &opts(pairs))
                .unwrap_err()
                .to_string();
            assert!(e.contains("CREATE MODEL m") && e.contains(wanted), "{e}");
        };
        bad(
            &[("input_label_cols", text("churned"))],
            "option input_label_cols",
        );
        bad(
            &[(
                "input_label_cols",
                OptionValue::List(vec![text("a"), text("b")]),
            )],
            "option input_label_cols must list one column",
        );
        bad(
            &[("class_weights", OptionValue::List(vec![num("1")]))],
            "option class_weights must list two numbers",
        );
        bad(
            &[(
                "class_weights",
                OptionValue::List(vec![num("1"), num("-2")]),
            )],
            "option class_weights",
        );
        bad(&[("l1_reg", num("0.5"))], "not supported yet");
        bad(&[("l2_reg", num("-1"))], "option l2_reg");
        bad(
            &[("data_split_method", text("seq"))],
            "needs data_split_col",
        );
        bad(
            &[("data_split_method", text("sometimes"))],
            "data_split_method",
        );
        bad(
            &[
                ("data_split_eval_fraction", num("1.5")),
                ("data_split_method", text("random")),
            ],
            "data_split_eval_fraction",
        );
        bad(&[("num_clusters", num("3"))], "unknown option num_clusters");
        bad(
            &[
                ("auto_class_weights", OptionValue::Bool(true)),
                ("class_weights", OptionValue::List(vec![num("1"), num("2")])),
            ],
            "exclude each other",
        );
    }
}
