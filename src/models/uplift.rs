//! `CREATE MODEL … OPTIONS (model_type 'uplift', learner 't' | 'x',
//! treatment_col 'variant', treatment_value 'treatment', input_label_cols
//! ['converted'], base_model 'logistic_reg' | 'boosted_tree_classifier',
//! …)`: the effect of a treatment on a binary outcome, from the rows of a
//! randomised experiment.
//!
//! The rows are prepared as for the base classifier (`classifier.rs`: held
//! in the engine's pool, split, encoded, sorted canonically), the
//! treatment column read apart (not a feature). The T-learner fits the base
//! classifier on each arm; the X-learner then regresses each arm's imputed
//! effects (treated: y − p₀(x), control: p₁(x) − y) with the base's
//! regression (ridge for logistic regression, squared-error boosting for
//! trees), see `microseg_udfs::model::uplift`. Every other option is the
//! base model's.

use std::collections::BTreeMap;
use std::time::Instant;

use datafusion::dataframe::DataFrame;
use microseg_udfs::model::gbdt;
use microseg_udfs::model::linear::ridge;
use microseg_udfs::model::logistic::{self, sigmoid};
use microseg_udfs::model::uplift::{Effects, Part, UpliftModel};
use microseg_udfs::model::uplift_metrics::report;

use super::classifier::{Prepared, Rows, Treatment, canonical, prepare};
use super::classifier_options::ClassifierSettings;
use super::usage;
use crate::catalog::StoredModel;
use crate::catalog::models::{BOOSTED, UPLIFT};
use crate::catalog::uplifts::pack;
use crate::error::Result;
use crate::statements::OptionValue;

/// Options of the uplift model itself; the rest go to the base model.
const OWN: [&str; 4] = ["learner", "treatment_col", "treatment_value", "base_model"];

/// Resolved uplift options.
struct UpliftSettings {
    /// The X-learner (else the T-learner).
    x_learner: bool,
    treatment_col: String,
    treatment_value: String,
    /// The base classifier's settings.
    base: ClassifierSettings,
}

impl UpliftSettings {
    fn from_options(model: &str, options: &BTreeMap<String, OptionValue>) -> Result<Self> {
        let err = |m: String| usage(model, m);
        let text = |key: &str| -> Result<Option<String>> {
            match options.get(key) {
                None => Ok(None),
                Some(OptionValue::Text(t)) => Ok(Some(t.clone())),
                Some(other) => Err(err(format!("option {key} must be a 'string', got {other}"))),
            }
        };
        let x_learner = match text("learner")?.map(|l| l.to_ascii_lowercase()).as_deref() {
            None | Some("t") => false,
            Some("x") => true,
            Some(other) => {
                return Err(err(format!(
                    "option learner must be 't' (one classifier per arm) or 'x' (the X-learner), got '{other}'"
                )));
            }
        };
        let required = |key: &str, example: &str| -> Result<String> {
            text(key)?.ok_or_else(|| {
                err(format!(
                    "model_type 'uplift' needs option {key} (e.g. {key} '{example}')"
                ))
            })
        };
        let treatment_col = required("treatment_col", "variant")?;
        let treatment_value = required("treatment_value", "treatment")?;
        let base_model = match text("base_model")?.map(|b| b.to_ascii_lowercase()) {
            None => BOOSTED.to_string(),
            Some(b) if b == BOOSTED || b == "logistic_reg" => b,
            Some(other) => {
                return Err(err(format!(
                    "option base_model must be 'logistic_reg' or '{BOOSTED}', got '{other}'"
                )));
            }
        };
        let mut base_options: BTreeMap<String, OptionValue> = options
            .iter()
            .filter(|(k, _)| !OWN.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        base_options.insert("model_type".into(), OptionValue::Text(base_model));
        Ok(Self {
            x_learner,
            treatment_col,
            treatment_value,
            base: ClassifierSettings::from_options(model, &base_options)?,
        })
    }

    fn resolved(&self, arms: &[String; 2]) -> BTreeMap<String, String> {
        let mut out = self.base.resolved();
        out.insert("base_model".into(), self.base.model_type.into());
        out.insert("model_type".into(), UPLIFT.into());
        out.insert(
            "learner".into(),
            if self.x_learner { "x" } else { "t" }.into(),
        );
        out.insert("treatment_col".into(), self.treatment_col.clone());
        out.insert("treatment_value".into(), arms[1].clone());
        out.insert("control_value".into(), arms[0].clone());
        out
    }
}

/// Trains an uplift model.
pub async fn train(
    name: &str,
    version: u32,
    options: &BTreeMap<String, OptionValue>,
    query: &str,
    training: DataFrame,
) -> Result<StoredModel> {
    let started = Instant::now();
    let settings = UpliftSettings::from_options(name, options)?;
    let trees = settings.base.trees.clone();
    let treatment = Treatment {
        column: &settings.treatment_col,
        value: &settings.treatment_value,
    };
    let mut data = prepare(
        name,
        &settings.base,
        training,
        trees.is_some(),
        Some(treatment),
    )
    .await?;
    // The whole-data rows are not needed: each arm gets its own.
    data.train = Rows::default();
    data.evaluation = Rows::default();
    let n = data.labels.len();
    if let Some(t) = &trees {
        data.reservation
            .try_grow(super::boosted::fit_bytes(n, data.d, t))?;
    }
    data.reservation
        .try_grow(n * (data.d * size_of::<f64>() + 9))?;
    let arm = |treated: bool, eval: bool| {
        canonical(&data.encoded, data.d, &data.labels, &data.weights, |i| {
            data.treated[i] == treated && data.eval[i] == eval
        })
    };
    let arms = [
        (arm(false, false), arm(false, true)),
        (arm(true, false), arm(true, true)),
    ];
    for (i, (rows, _)) in arms.iter().enumerate() {
        let positives = rows.y.iter().filter(|y| **y).count();
        if positives == 0 || positives == rows.y.len() {
            return Err(usage(
                name,
                format!(
                    "the {} arm ({} = '{}') has {} training rows, all of one class of {}: each arm needs both classes",
                    if i == 1 { "treated" } else { "control" },
                    settings.treatment_col,
                    data.arms[i],
                    rows.y.len(),
                    settings.base.label
                ),
            ));
        }
    }
    let [(c_train, c_eval), (t_train, t_eval)] = arms;
    let d = data.d;
    let offset = data.offset();
    let base = settings.base.clone();
    let x_learner = settings.x_learner;
    let treated_share = t_train.y.len() as f64 / (t_train.y.len() + c_train.y.len()) as f64;
    let parts = tokio::task::spawn_blocking(move || -> std::result::Result<Vec<Part>, String> {
        let control = classify(&base, &c_train, &c_eval, d)?;
        let treated = classify(&base, &t_train, &t_eval, d)?;
        if !x_learner {
            return Ok(vec![control, treated]);
        }
        // Imputed effects: treated y − p₀(x); control p₁(x) − y.
        let p = |part: &Part, row: &[f64]| sigmoid(part.value(row) + offset);
        let effects = |rows: &Rows, other: &Part, treated_arm: bool| -> Vec<f64> {
            rows.x
                .chunks_exact(d.max(1))
                .zip(&rows.y)
                .map(|(row, &y)| {
                    let y = f64::from(u8::from(y));
                    if treated_arm {
                        y - p(other, row)
                    } else {
                        p(other, row) - y
                    }
                })
                .collect()
        };
        let effect_control = regress(
            &base,
            &c_train,
            &effects(&c_train, &treated, false),
            &c_eval,
            &effects(&c_eval, &treated, false),
            d,
        )?;
        let effect_treated = regress(
            &base,
            &t_train,
            &effects(&t_train, &control, true),
            &t_eval,
            &effects(&t_eval, &control, true),
            d,
        )?;
        Ok(vec![control, treated, effect_control, effect_treated])
    })
    .await
    .map_err(|e| usage(name, format!("training failed: {e}")))?
    .map_err(|e| usage(name, e))?;

    let mut parts = parts.into_iter();
    let (control, treated) = (parts.next(), parts.next());
    let (Some(control), Some(treated)) = (control, treated) else {
        return Err(usage(name, "training returned no model"));
    };
    let effects = match (parts.next(), parts.next()) {
        (Some(control), Some(treated)) => Some(Effects {
            control,
            treated,
            propensity: treated_share,
        }),
        _ => None,
    };
    let model = UpliftModel {
        label: format!("{name}@{version}"),
        features: data.features.clone(),
        label_column: settings.base.label.clone(),
        classes: data.classes.clone(),
        treatment_column: settings.treatment_col.clone(),
        arms: data.arms.clone(),
        control,
        treated,
        offset,
        effects,
    };
    let metrics = metrics(name, &data, &model)?;
    let mut parts = vec![model.control, model.treated];
    if let Some(e) = model.effects {
        parts.extend([e.control, e.treated]);
    }
    let k = if trees.is_some() { 0 } else { parts.len() };
    let packed = pack(parts);
    let mut parameters = packed.parameters;
    parameters.insert("offset".into(), offset);
    if settings.x_learner {
        parameters.insert("propensity".into(), treated_share);
    }
    let mut meta = data.meta(
        name,
        version,
        &settings.base,
        query,
        started,
        (settings.base.max_iterations, true),
        metrics,
        parameters,
    );
    meta.model_type = UPLIFT.into();
    let auto_weights = meta.options.remove("class_weights");
    meta.options = settings.resolved(&data.arms);
    if let Some(w) = auto_weights {
        meta.options.insert("class_weights".into(), w);
    }
    meta.k = k;
    let sizes = if k == 0 { Vec::new() } else { vec![0; k] };
    Ok(StoredModel {
        meta,
        centroids: packed.centroids,
        sizes,
        trees: packed.trees,
        recommender: None,
        linkage: None,
    })
}

/// The base classifier on one arm's rows: a part whose value is a logit.
fn classify(
    base: &ClassifierSettings,
    train: &Rows,
    eval: &Rows,
    d: usize,
) -> std::result::Result<Part, String> {
    match &base.trees {
        None => {
            let fit = logistic::fit(
                &train.x,
                &train.y,
                &train.s,
                d,
                &super::logistic::fit_options(base),
            )?;
            Ok(Part::Linear {
                intercept: fit.intercept,
                coefficients: fit.coefficients,
            })
        }
        Some(trees) => {
            let eval = (!eval.y.is_empty()).then_some((eval.x.as_slice(), eval.y.as_slice()));
            let fit = gbdt::fit(
                &train.x,
                &train.y,
                &train.s,
                d,
                eval,
                &super::boosted::fit_options(base, trees),
            )?;
            Ok(Part::Trees(fit.ensemble))
        }
    }
}

/// The base's regression of `targets` on one arm's rows (unweighted).
fn regress(
    base: &ClassifierSettings,
    train: &Rows,
    targets: &[f64],
    eval: &Rows,
    eval_targets: &[f64],
    d: usize,
) -> std::result::Result<Part, String> {
    let ones = vec![1.0; targets.len()];
    match &base.trees {
        None => {
            let fit = ridge(&train.x, targets, &ones, d, base.l2)?;
            Ok(Part::Linear {
                intercept: fit.intercept,
                coefficients: fit.coefficients,
            })
        }
        Some(trees) => {
            let eval = (!eval_targets.is_empty()).then_some((eval.x.as_slice(), eval_targets));
            let fit = gbdt::fit_regression(
                &train.x,
                targets,
                &ones,
                d,
                eval,
                &super::boosted::fit_options(base, trees),
            )?;
            Ok(Part::Trees(fit.ensemble))
        }
    }
}

/// `train_…` and `eval_…` uplift metrics of the model's scores.
fn metrics(name: &str, data: &Prepared, model: &UpliftModel) -> Result<BTreeMap<String, f64>> {
    let mut metrics = BTreeMap::new();
    for (prefix, is_eval) in [("train", false), ("eval", true)] {
        let rows: Vec<usize> = (0..data.labels.len())
            .filter(|&i| data.eval[i] == is_eval)
            .collect();
        metrics.insert(format!("{prefix}_rows"), rows.len() as f64);
        let treated = rows.iter().filter(|&&i| data.treated[i]).count();
        if treated == 0 || treated == rows.len() {
            continue;
        }
        let scores: Vec<f64> = rows
            .iter()
            .map(|&i| model.uplift_row(data.row(i)))
            .collect();
        let y: Vec<bool> = rows.iter().map(|&i| data.labels[i]).collect();
        let t: Vec<bool> = rows.iter().map(|&i| data.treated[i]).collect();
        let r = report(&scores, &y, &t).map_err(|e| usage(name, e))?;
        for (key, value) in [
            ("qini_coefficient", r.model.qini_coefficient),
            ("auuc", r.model.auuc),
            ("uplift_at_10", r.model.at[0]),
            ("uplift_at_20", r.model.at[1]),
            ("uplift_at_30", r.model.at[2]),
            ("average_uplift", r.random.at[0]),
        ] {
            if value.is_finite() {
                metrics.insert(format!("{prefix}_{key}"), value);
            }
        }
    }
    Ok(metrics)
}
