//! Models bound into a plan.
//!
//! A model function is registered unbound: `cluster_assign('m', …)` plans
//! with its return type only. Before the plan runs, the engine's analyzer
//! rule resolves the name against the lake's models and swaps the call's
//! function for a copy bound to the fitted model itself ([`Bound`]), so the
//! model travels inside the plan (to a remote executor, through a codec
//! that serializes [`Fitted`]) and nothing in this crate reads the lake.
//! There is no textual form of a model a user could pass as an argument.

use std::hash::{Hash, Hasher};
use std::sync::{Arc, OnceLock};

use datafusion::arrow::datatypes::FieldRef;
use datafusion::common::{Result, exec_err, plan_datafusion_err, plan_err};
use datafusion::logical_expr::{Expr, Signature, Volatility};
use serde::{Deserialize, Serialize};

use super::KMeansModel;
use super::boosted::BoostedModel;
use super::classifier::{Classifier, LogisticModel};
use super::clv_apply::ClvModel;
use super::nearest::Centroids;
use super::recommender::RecommenderModel;
use super::uplift::UpliftModel;

/// A fitted model, as the applying functions use it.
#[derive(Debug, Serialize, Deserialize)]
pub enum Fitted {
    /// A k-means clustering, with its centroids laid out for the kernel on
    /// first use (once per bound model, not once per batch).
    KMeans(KMeansModel, #[serde(skip)] OnceLock<Centroids>),
    /// A BG/NBD or Gamma-Gamma lifetime-value model.
    Clv(ClvModel),
    /// A binary logistic-regression classifier.
    Logistic(LogisticModel),
    /// A gradient-boosted tree classifier.
    Boosted(BoostedModel),
    /// A recommender.
    Recommender(RecommenderModel),
    /// An uplift model (two arms' classifiers, and the X-learner's
    /// regressions).
    Uplift(UpliftModel),
    /// A record-linkage model: applied by table functions, never by these;
    /// held so a call naming one says what it is.
    Linkage {
        /// `name@version`.
        label: String,
    },
}

impl Fitted {
    /// A k-means model ready to apply.
    pub fn kmeans(model: KMeansModel) -> Self {
        Fitted::KMeans(model, OnceLock::new())
    }

    /// `name@version`.
    pub fn label(&self) -> &str {
        match self {
            Fitted::KMeans(m, _) => &m.label,
            Fitted::Clv(m) => &m.label,
            Fitted::Logistic(m) => &m.label,
            Fitted::Boosted(m) => &m.label,
            Fitted::Recommender(m) => &m.label,
            Fitted::Uplift(m) => &m.label,
            Fitted::Linkage { label } => label,
        }
    }

    /// What kind of model this is, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Fitted::KMeans(..) => "k-means",
            Fitted::Clv(m) if m.bgnbd.is_some() => "BG/NBD",
            Fitted::Clv(_) => "Gamma-Gamma",
            Fitted::Logistic(_) => "logistic regression",
            Fitted::Boosted(_) => "boosted tree",
            Fitted::Recommender(_) => "recommender",
            Fitted::Uplift(_) => "uplift",
            Fitted::Linkage { .. } => "record linkage",
        }
    }
}

/// A shared fitted model held by a bound function. Two bindings are equal
/// when they hold the same model (same label and parameters), which is what
/// DataFusion's expression equality needs for common-subexpression and
/// plan comparisons.
#[derive(Debug, Clone)]
pub struct Bound(pub Arc<Fitted>);

impl Bound {
    /// The k-means model and its centroid layout, or an error for `func`.
    pub(crate) fn kmeans(&self, func: &str) -> Result<(&KMeansModel, &Centroids)> {
        match self.0.as_ref() {
            Fitted::KMeans(model, layout) => Ok((
                model,
                layout.get_or_init(|| Centroids::new(&model.centroids, model.dims())),
            )),
            other => exec_err!(
                "{func}: argument 1 (model): {} is a {} model, not a k-means model",
                other.label(),
                other.kind()
            ),
        }
    }
}

impl Bound {
    /// The classifier, or an error for `func` naming the model and its kind.
    pub fn classifier(&self, func: &str) -> Result<&dyn Classifier> {
        match self.0.as_ref() {
            Fitted::Logistic(model) => Ok(model),
            Fitted::Boosted(model) => Ok(model),
            other => plan_err!(
                "{func}: argument 1 (model): {} is a {} model, not a classifier (model_type 'logistic_reg' or 'boosted_tree_classifier')",
                other.label(),
                other.kind()
            ),
        }
    }

    /// The uplift model, or an error for `func` naming the model and its
    /// kind.
    pub fn uplift(&self, func: &str) -> Result<&UpliftModel> {
        match self.0.as_ref() {
            Fitted::Uplift(model) => Ok(model),
            other => plan_err!(
                "{func}: argument 1 (model): {} is a {} model, not an uplift model (model_type 'uplift')",
                other.label(),
                other.kind()
            ),
        }
    }
}

impl PartialEq for Bound {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
            || match (self.0.as_ref(), other.0.as_ref()) {
                (Fitted::KMeans(a, _), Fitted::KMeans(b, _)) => a == b,
                (Fitted::Clv(a), Fitted::Clv(b)) => a == b,
                (Fitted::Logistic(a), Fitted::Logistic(b)) => a == b,
                (Fitted::Boosted(a), Fitted::Boosted(b)) => a == b,
                (Fitted::Recommender(a), Fitted::Recommender(b)) => a == b,
                (Fitted::Uplift(a), Fitted::Uplift(b)) => a == b,
                (Fitted::Linkage { label: a }, Fitted::Linkage { label: b }) => a == b,
                _ => false,
            }
    }
}

impl Eq for Bound {}

impl Hash for Bound {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.label().hash(state);
    }
}

/// A function whose leading arguments name models: registered unbound,
/// bound by the engine's analyzer to the models those names resolve to.
pub trait ModelFunction: Sized {
    /// How many leading arguments name models.
    fn model_arguments(&self) -> usize;
    /// Whether the engine has bound the call to its models.
    fn is_bound(&self) -> bool;
    /// The models the call is bound to, in argument order (empty when
    /// unbound): what a plan codec ships to another process, which binds
    /// the registered function to them again with [`ModelFunction::bind`].
    fn models(&self) -> Vec<Bound>;
    /// A copy bound to `models`, one per model argument, each checked to be
    /// of the kind its argument wants.
    fn bind(&self, models: Vec<Bound>) -> Result<Self>;
}

/// What a one-model function holds: its signature and, once bound, the
/// model (checked to be of the kind the function applies).
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct ModelSlot {
    pub signature: Signature,
    pub model: Option<Bound>,
}

impl ModelSlot {
    /// As registered: user-defined argument types, no model.
    pub fn unbound() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
            model: None,
        }
    }

    /// Bound to the one k-means model in `models`, for function `func`.
    pub fn bind(&self, func: &str, models: Vec<Bound>) -> Result<Self> {
        self.bind_checked(func, models, |m| m.kmeans(func).map(|_| ()))
    }

    /// Bound to the one classifier in `models`, for function `func`.
    pub fn bind_classifier(&self, func: &str, models: Vec<Bound>) -> Result<Self> {
        self.bind_checked(func, models, |m| m.classifier(func).map(|_| ()))
    }

    /// Bound to the one uplift model in `models`, for function `func`.
    pub fn bind_uplift(&self, func: &str, models: Vec<Bound>) -> Result<Self> {
        self.bind_checked(func, models, |m| m.uplift(func).map(|_| ()))
    }

    fn bind_checked(
        &self,
        func: &str,
        models: Vec<Bound>,
        check: impl Fn(&Bound) -> Result<()>,
    ) -> Result<Self> {
        let [model] = <[Bound; 1]>::try_from(models)
            .map_err(|m| plan_datafusion_err!("{func}: expected 1 model, got {}", m.len()))?;
        check(&model)?;
        Ok(Self {
            signature: self.signature.clone(),
            model: Some(model),
        })
    }

    /// The bound model, or the error of an unbound call.
    pub fn model(&self, func: &str) -> Result<&Bound> {
        match &self.model {
            Some(model) => Ok(model),
            None => exec_err!(
                "{func}: argument 1 (model) was not resolved to a model: run the query through the microseg engine, which binds model names when it plans"
            ),
        }
    }
}

/// The column name of a model function call, `f('model', x, y)`: the
/// same before and after binding, so binding never changes a plan's schema.
pub(crate) fn call_name(function: &str, args: &[Expr]) -> String {
    let parts: Vec<String> = args
        .iter()
        .map(|a| match a {
            Expr::Literal(value, _) => match value.try_as_str() {
                Some(Some(text)) => format!("'{text}'"),
                _ => a.schema_name().to_string(),
            },
            other => other.schema_name().to_string(),
        })
        .collect();
    format!("{function}({})", parts.join(", "))
}

/// Checks the feature arguments of `func` against `model`: their count
/// and that each type fits its feature. `lead` arguments precede them
/// (the model name, a point), for the argument numbers in messages.
pub(crate) fn check_features(
    func: &str,
    model: &KMeansModel,
    fields: &[FieldRef],
    lead: usize,
) -> Result<()> {
    check_model_features(func, &model.label, &model.features, fields, lead)
}

/// [`check_features`] for any model's `features`.
pub(crate) fn check_model_features(
    func: &str,
    label: &str,
    features: &[super::Feature],
    fields: &[FieldRef],
    lead: usize,
) -> Result<()> {
    if fields.len() != features.len() {
        return plan_err!(
            "{func}: model {} has {} features ({}), got {}",
            label,
            features.len(),
            features
                .iter()
                .map(|f| f.name())
                .collect::<Vec<_>>()
                .join(", "),
            fields.len()
        );
    }
    for (i, (feature, field)) in features.iter().zip(fields).enumerate() {
        if !feature.accepts(field.data_type()) {
            return plan_err!(
                "{func}: argument {} ({}) is {}, but the model's feature {} is {}",
                i + lead + 1,
                field.name(),
                field.data_type(),
                feature.name(),
                if matches!(feature, super::Feature::Numeric { .. }) {
                    "numeric"
                } else {
                    "categorical (text or boolean)"
                }
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Feature;

    fn model(label: &str, centroid: f64) -> Bound {
        Bound(Arc::new(Fitted::kmeans(KMeansModel {
            label: label.into(),
            features: vec![Feature::Numeric {
                name: "x".into(),
                mean: 0.0,
                std: 1.0,
                standardize: false,
            }],
            k: 1,
            centroids: vec![centroid],
            sizes: vec![1],
        })))
    }

    #[test]
    fn equality_is_by_content() {
        assert_eq!(model("m@1", 1.0), model("m@1", 1.0));
        assert_ne!(model("m@1", 1.0), model("m@1", 2.0));
        assert_ne!(model("m@1", 1.0), model("m@2", 1.0));
    }

    #[test]
    fn a_clv_model_is_not_a_clustering() {
        let clv = Bound(Arc::new(Fitted::Clv(ClvModel {
            label: "life@3".into(),
            bgnbd: None,
            gamma_gamma: None,
            periods_per_month: 30.0,
        })));
        let err = clv.kmeans("cluster_assign").unwrap_err().to_string();
        assert!(
            err.contains("life@3") && err.contains("not a k-means"),
            "{err}"
        );
    }
}
