//! `model_evaluate(model, relation [, threshold])`, and for classifiers
//! `model_roc(model, relation)` and `model_gains(model, relation)`.
//!
//! k-means: the relation's columns are the model's features, in training
//! order; one row: rows, mean_squared_distance, davies_bouldin, silhouette
//! (on a hash-chosen sample of at most 2,000 rows, since it is quadratic)
//! and silhouette_sample, from one streaming aggregate
//! `model_quality(model, f1, …, fk)`.
//!
//! Classifiers: the relation holds the label and the features, found by
//! name (other columns are ignored, so a `churn_labels` view with its
//! customer id serves as it is); one row of metrics from
//! `model_classification(model, threshold, label, f1, …)`, or the rows of
//! `model_roc_curve` / `model_gains_table` unnested.
//!
//! Uplift models: the relation holds the label, the treatment column and
//! the features, found by name; three rows (the model's ranking, a random
//! and the perfect one) from `model_uplift_report`, unnested.
//!
//! Recommenders: `model_evaluate(model, relation, k)`, the relation's
//! `customer_id, item, ts` after the model's training data (see
//! `recommender_report`), one row per method compared.
//!
//! Which form a call takes depends on the model's type, read from the
//! catalog snapshot while planning when the model is named by a literal;
//! the model is bound again by the engine's analyzer when the plan runs. A
//! model given as a parameter (`$1`) plans the k-means form.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Fields, TimeUnit};
use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl, TableProvider, view::ViewTable};
use datafusion::common::{Column, Result, ScalarValue, plan_err};
use datafusion::functions::core::expr_fn::get_field;
use datafusion::logical_expr::{AggregateUDF, Expr, LogicalPlanBuilder, cast, col, lit};
use microseg_udfs::model::evaluate::{gains_fields, metrics_fields, roc_fields};
use microseg_udfs::model::quality::result_fields;
use microseg_udfs::model::rank_scores::{RecommenderScores, rank_fields};
use microseg_udfs::model::uplift_scores::uplift_fields;
use microseg_udfs::model::{
    Bound, ClassifierScores, Fitted, ModelQuality, RecommenderModel, UpliftReport,
};

use super::args;
use crate::catalog::CatalogCache;
use crate::catalog::models::parse_reference;

/// The SQL name.
pub const NAME: &str = "model_evaluate";
/// `model_roc`.
pub const ROC: &str = "model_roc";
/// `model_gains`.
pub const GAINS: &str = "model_gains";
const USAGE: &str = "model_evaluate(model, relation [, threshold])";
const RESULT: &str = "__model_result";

/// Which of the three table functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Report {
    Evaluate,
    Roc,
    Gains,
}

/// `model_evaluate`, `model_roc` or `model_gains`.
#[derive(Debug)]
pub struct ModelEvaluateFunction {
    report: Report,
    cache: Arc<CatalogCache>,
}

impl ModelEvaluateFunction {
    /// `model_evaluate` over the engine's catalog snapshot.
    pub fn evaluate(cache: Arc<CatalogCache>) -> Self {
        Self {
            report: Report::Evaluate,
            cache,
        }
    }

    /// `model_roc`.
    pub fn roc(cache: Arc<CatalogCache>) -> Self {
        Self {
            report: Report::Roc,
            cache,
        }
    }

    /// `model_gains`.
    pub fn gains(cache: Arc<CatalogCache>) -> Self {
        Self {
            report: Report::Gains,
            cache,
        }
    }

    fn name(&self) -> &'static str {
        match self.report {
            Report::Evaluate => NAME,
            Report::Roc => ROC,
            Report::Gains => GAINS,
        }
    }

    /// The recommender a literal model argument names, if it is one, with
    /// the last training timestamp (µs).
    fn recommender(&self, model: &Expr) -> Option<(RecommenderModel, Option<i64>)> {
        let Expr::Literal(ScalarValue::Utf8(Some(reference)), _) = model else {
            return None;
        };
        let (name, version) = parse_reference(reference).ok()?;
        let entry = self.cache.snapshot().model(&name, version).ok()??;
        let through = entry
            .stored
            .meta
            .options
            .get("trained_through")
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.timestamp_micros());
        match entry.bound.0.as_ref() {
            Fitted::Recommender(m) => Some((m.clone(), through)),
            _ => None,
        }
    }

    /// The uplift model a literal model argument names, if it is one.
    fn uplift(&self, model: &Expr) -> Option<Bound> {
        let Expr::Literal(ScalarValue::Utf8(Some(reference)), _) = model else {
            return None;
        };
        let (name, version) = parse_reference(reference).ok()?;
        let entry = self.cache.snapshot().model(&name, version).ok()??;
        matches!(entry.bound.0.as_ref(), Fitted::Uplift(_)).then(|| entry.bound.clone())
    }

    /// The classifier a literal model argument names, if it is one.
    fn classifier(&self, model: &Expr) -> Option<Bound> {
        let Expr::Literal(ScalarValue::Utf8(Some(reference)), _) = model else {
            return None;
        };
        let (name, version) = parse_reference(reference).ok()?;
        let entry = self.cache.snapshot().model(&name, version).ok()??;
        entry
            .bound
            .classifier(NAME)
            .is_ok()
            .then(|| entry.bound.clone())
    }
}

impl TableFunctionImpl for ModelEvaluateFunction {
    fn call_with_args(&self, call: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let func = self.name();
        let exprs = call.exprs();
        match self.report {
            Report::Evaluate => args::check_count(func, exprs, 2, 3, USAGE)?,
            _ => args::check_count(func, exprs, 2, 2, &format!("{func}(model, relation)"))?,
        }
        let model = args::model_arg(func, 0, exprs)?;
        let name = args::name_arg(func, 1, "relation", exprs)?;
        let relation = args::table_at(func, call.session(), 1, "relation", &name)?;
        let scan = relation.scan()?;
        if scan.schema().columns().is_empty() {
            return plan_err!("{func}: argument 2 (relation): {name} has no columns");
        }
        if let Some((recommender, through)) = self.recommender(&model) {
            if self.report != Report::Evaluate {
                return plan_err!(
                    "{func}: argument 1 (model): {} is a recommender: use model_evaluate(model, relation, k)",
                    recommender.label
                );
            }
            if exprs.len() != 3 {
                return plan_err!(
                    "{func}: argument 3 (k) is missing: a recommender is scored on its top k, model_evaluate('{}', relation, k)",
                    recommender.label
                );
            }
            let k = super::recommend::count_arg(func, 2, "k", exprs)?;
            return recommender_report(func, &name, &relation, scan, recommender, through, k);
        }
        if let Some(bound) = self.uplift(&model) {
            if self.report != Report::Evaluate || exprs.len() != 2 {
                return plan_err!(
                    "{func}: argument 1 (model): {} is an uplift model: use model_evaluate(model, relation)",
                    bound.0.label()
                );
            }
            return uplift_report(func, &name, &relation, scan, model, &bound);
        }
        let Some(bound) = self.classifier(&model) else {
            if self.report != Report::Evaluate {
                return plan_err!(
                    "{func}: argument 1 (model) must name a classifier (model_type 'logistic_reg' or 'boosted_tree_classifier') by a string literal, got {model}"
                );
            }
            if exprs.len() == 3 {
                return plan_err!(
                    "{func}: argument 3 (threshold) is for classifiers, named by a string literal; {model} is not one"
                );
            }
            return kmeans(model, scan);
        };
        let classifier = bound.classifier(func)?;
        // The label and the features, by name.
        let schema = relation.schema();
        let column = |column: &str, what: &str| -> Result<Expr> {
            match schema.field_with_name(column) {
                Ok(_) => Ok(Expr::Column(Column::new_unqualified(column))),
                Err(_) => plan_err!(
                    "{func}: argument 2 (relation): {name} has no column {column} ({what} of model {}; columns: {})",
                    classifier.label(),
                    schema
                        .fields()
                        .iter()
                        .map(|f| f.name().as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }
        };
        let label = column(classifier.label_column(), "the label")?;
        let features = classifier
            .features()
            .iter()
            .map(|f| column(f.name(), "a feature"))
            .collect::<Result<Vec<_>>>()?;
        let (udaf, lead, fields) = match self.report {
            Report::Evaluate => {
                let threshold = match exprs.get(2) {
                    None => lit(0.5),
                    Some(e @ Expr::Placeholder(_)) => e.clone(),
                    Some(_) => match args::constant_arg(func, 2, "threshold", exprs)? {
                        Some(v) => {
                            match v.cast_to(&datafusion::arrow::datatypes::DataType::Float64) {
                                Ok(ScalarValue::Float64(Some(t))) if (0.0..=1.0).contains(&t) => {
                                    lit(t)
                                }
                                _ => {
                                    return plan_err!(
                                        "{func}: argument 3 (threshold) must be a number in [0, 1], got {v}"
                                    );
                                }
                            }
                        }
                        None => lit(0.5),
                    },
                };
                (
                    ClassifierScores::metrics(),
                    vec![model, threshold, label],
                    metrics_fields(),
                )
            }
            Report::Roc => (ClassifierScores::roc(), vec![model, label], roc_fields()),
            Report::Gains => (
                ClassifierScores::gains(),
                vec![model, label],
                gains_fields(),
            ),
        };
        let call_args = lead.into_iter().chain(features).collect();
        let aggregated = scan.aggregate(
            Vec::<Expr>::new(),
            vec![
                AggregateUDF::new_from_impl(udaf)
                    .call(call_args)
                    .alias(RESULT),
            ],
        )?;
        let plan = if self.report == Report::Evaluate {
            unpack(aggregated, &fields)?
        } else {
            unpack(aggregated.unnest_column(RESULT)?, &fields)?
        };
        Ok(Arc::new(ViewTable::new(plan.build()?, None)))
    }
}

/// A recommender on held-out rows: the relation's `customer_id, item, ts`
/// after the model's last training timestamp (a global temporal split, so
/// giving the whole table scores only what came later), one row per
/// compared method (the model, popularity, buy-again).
fn recommender_report(
    func: &str,
    name: &str,
    relation: &args::NamedTable,
    scan: LogicalPlanBuilder,
    model: RecommenderModel,
    through: Option<i64>,
    k: usize,
) -> Result<Arc<dyn TableProvider>> {
    let schema = relation.schema();
    for column in ["customer_id", "item", "ts"] {
        if schema.field_with_name(column).is_err() {
            return plan_err!(
                "{func}: argument 2 (relation): {name} has no column {column} (a recommender is scored on customer_id, item, ts; columns: {})",
                schema
                    .fields()
                    .iter()
                    .map(|f| f.name().as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    let utf8 = |c: &str| cast(col(c), DataType::Utf8);
    let scan = match through {
        Some(t) => scan.filter(
            cast(col("ts"), DataType::Timestamp(TimeUnit::Microsecond, None))
                .gt(lit(ScalarValue::TimestampMicrosecond(Some(t), None))),
        )?,
        None => scan,
    };
    let scores = AggregateUDF::new_from_impl(RecommenderScores::new(model, k));
    let plan = unpack(
        scan.aggregate(
            Vec::<Expr>::new(),
            vec![
                scores
                    .call(vec![utf8("customer_id"), utf8("item")])
                    .alias(RESULT),
            ],
        )?
        .unnest_column(RESULT)?,
        &rank_fields(),
    )?;
    Ok(Arc::new(ViewTable::new(plan.build()?, None)))
}

/// An uplift model on rows of an experiment: the relation's label,
/// treatment and feature columns by name; one row per ranking compared.
fn uplift_report(
    func: &str,
    name: &str,
    relation: &args::NamedTable,
    scan: LogicalPlanBuilder,
    model_arg: Expr,
    bound: &Bound,
) -> Result<Arc<dyn TableProvider>> {
    let model = bound.uplift(func)?;
    let schema = relation.schema();
    let column = |column: &str, what: &str| -> Result<Expr> {
        match schema.field_with_name(column) {
            Ok(_) => Ok(Expr::Column(Column::new_unqualified(column))),
            Err(_) => plan_err!(
                "{func}: argument 2 (relation): {name} has no column {column} ({what} of model {}; columns: {})",
                model.label,
                schema
                    .fields()
                    .iter()
                    .map(|f| f.name().as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    };
    let mut call_args = vec![
        model_arg,
        column(&model.label_column, "the label")?,
        column(&model.treatment_column, "the treatment")?,
    ];
    for feature in &model.features {
        call_args.push(column(feature.name(), "a feature")?);
    }
    let report = AggregateUDF::new_from_impl(UpliftReport::new());
    let plan = unpack(
        scan.aggregate(
            Vec::<Expr>::new(),
            vec![report.call(call_args).alias(RESULT)],
        )?
        .unnest_column(RESULT)?,
        &uplift_fields(),
    )?;
    Ok(Arc::new(ViewTable::new(plan.build()?, None)))
}

/// The struct column's fields as columns.
fn unpack(plan: LogicalPlanBuilder, fields: &Fields) -> Result<LogicalPlanBuilder> {
    plan.project(
        fields
            .iter()
            .map(|f| get_field(col(RESULT), f.name().as_str()).alias(f.name())),
    )
}

/// The k-means form: every column of the relation is a feature, in order.
fn kmeans(model: Expr, scan: LogicalPlanBuilder) -> Result<Arc<dyn TableProvider>> {
    let features: Vec<Expr> = scan
        .schema()
        .columns()
        .into_iter()
        .map(Expr::Column)
        .collect();
    let quality = AggregateUDF::new_from_impl(ModelQuality::new());
    let call_args = std::iter::once(model).chain(features).collect();
    let plan = unpack(
        scan.aggregate(
            Vec::<Expr>::new(),
            vec![quality.call(call_args).alias(RESULT)],
        )?,
        &result_fields(),
    )?
    .build()?;
    Ok(Arc::new(ViewTable::new(plan, None)))
}
