//! How an uplift model's parts are stored: with a linear base, each part's
//! coefficients are one row of `centroids.parquet` (k = 2 or 4 rows:
//! control, treated, then the X-learner's control and treated effects) and
//! its intercept a parameter; with a tree base, the parts' trees follow
//! each other in one `trees.parquet` ensemble (base 0), each part's count
//! and base margin parameters. Either way the stored files are those of the
//! classifiers, read by the same code.

use std::collections::BTreeMap;

use microseg_udfs::model::gbdt::Ensemble;
use microseg_udfs::model::uplift::{Effects, Part, UpliftModel};

use super::models::{LabelMeta, StoredModel};

/// The parts' names, in storage order.
pub const PARTS: [&str; 4] = ["control", "treated", "effect_control", "effect_treated"];

/// The parts' parameters, rows of centroids and trees, in storage order.
pub struct Packed {
    /// `intercept_<part>` or `base_<part>` and `trees_<part>`.
    pub parameters: BTreeMap<String, f64>,
    /// One row per linear part.
    pub centroids: Vec<f64>,
    /// The parts' trees, one after another.
    pub trees: Option<Ensemble>,
}

/// Packs `parts` (control, treated[, effect_control, effect_treated]).
pub fn pack(parts: Vec<Part>) -> Packed {
    let mut packed = Packed {
        parameters: BTreeMap::new(),
        centroids: Vec::new(),
        trees: None,
    };
    for (part, name) in parts.into_iter().zip(PARTS) {
        match part {
            Part::Linear {
                intercept,
                coefficients,
            } => {
                packed
                    .parameters
                    .insert(format!("intercept_{name}"), intercept);
                packed.centroids.extend(coefficients);
            }
            Part::Trees(ensemble) => {
                packed
                    .parameters
                    .insert(format!("base_{name}"), ensemble.base);
                packed
                    .parameters
                    .insert(format!("trees_{name}"), ensemble.trees.len() as f64);
                packed
                    .trees
                    .get_or_insert_with(|| Ensemble {
                        base: 0.0,
                        trees: Vec::new(),
                    })
                    .trees
                    .extend(ensemble.trees);
            }
        }
    }
    packed
}

/// The applying functions' model from a stored one (`None` when its parts
/// do not add up: a damaged or foreign model.json).
pub fn unpack(stored: &StoredModel) -> Option<UpliftModel> {
    let meta = &stored.meta;
    let p = |k: String| meta.parameters.get(&k).copied();
    let parts_count = if meta.options.get("learner").map(String::as_str) == Some("x") {
        4
    } else {
        2
    };
    let d = microseg_udfs::model::dims(&meta.features);
    let mut parts = Vec::with_capacity(parts_count);
    let mut tree_at = 0;
    for (i, name) in PARTS.iter().take(parts_count).enumerate() {
        let part = match &stored.trees {
            Some(all) => {
                let count = p(format!("trees_{name}"))? as usize;
                let trees = all.trees.get(tree_at..tree_at + count)?.to_vec();
                tree_at += count;
                Part::Trees(Ensemble {
                    base: p(format!("base_{name}"))?,
                    trees,
                })
            }
            None => Part::Linear {
                intercept: p(format!("intercept_{name}"))?,
                coefficients: stored.centroids.get(i * d..(i + 1) * d)?.to_vec(),
            },
        };
        parts.push(part);
    }
    let label = meta.label.clone().unwrap_or(LabelMeta {
        column: String::new(),
        classes: [String::new(), String::new()],
    });
    let option = |k: &str| meta.options.get(k).cloned().unwrap_or_default();
    let mut parts = parts.into_iter();
    let (control, treated) = (parts.next()?, parts.next()?);
    let effects = match (parts.next(), parts.next()) {
        (Some(control), Some(treated)) => Some(Effects {
            control,
            treated,
            propensity: p("propensity".into())?,
        }),
        _ => None,
    };
    Some(UpliftModel {
        label: stored.label(),
        features: meta.features.clone(),
        label_column: label.column,
        classes: label.classes,
        treatment_column: option("treatment_col"),
        arms: [option("control_value"), option("treatment_value")],
        control,
        treated,
        offset: p("offset".into()).unwrap_or(0.0),
        effects,
    })
}
