//! `model_feature_importance('model')`: what a classifier relies on, ranked.
//!
//! One row per encoded dimension (a numeric column, or `column=value` for a
//! one-hot category). Logistic regression: its coefficient (on the
//! standardized feature, so coefficients compare across columns: the change
//! in log-odds per standard deviation, or for being in the category),
//! `importance` = |coefficient|. Boosted trees: `weight` (splits on it),
//! `gain` (their total loss reduction), `cover` (their total hessian, as
//! XGBoost's total_cover), `importance` = gain. Both: its `share` of the
//! total importance and its `rank` (1 = largest).

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::{Result, plan_err};
use datafusion::datasource::MemTable;
use microseg_udfs::model::classifier::dimension_names;
use microseg_udfs::model::{BoostedModel, Fitted};

use crate::catalog::CatalogCache;

/// The SQL name.
pub const NAME: &str = "model_feature_importance";

/// The table function over the engine's catalog snapshot.
#[derive(Debug)]
pub struct FeatureImportanceFunction {
    cache: Arc<CatalogCache>,
}

impl FeatureImportanceFunction {
    /// Reads models from `cache`.
    pub fn new(cache: Arc<CatalogCache>) -> Self {
        Self { cache }
    }
}

impl TableFunctionImpl for FeatureImportanceFunction {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let entry = super::centroids::model_entry(&self.cache, NAME, args.exprs())?;
        let model = match entry.bound.0.as_ref() {
            Fitted::Logistic(model) => model,
            Fitted::Boosted(model) => return trees(model),
            other => {
                return plan_err!(
                    "{NAME}: argument 1 (model): {} is a {} model, not a classifier (model_type 'logistic_reg' or 'boosted_tree_classifier')",
                    other.label(),
                    other.kind()
                );
            }
        };
        let names = dimension_names(&model.features);
        let total: f64 = model.coefficients.iter().map(|w| w.abs()).sum();
        let mut order: Vec<usize> = (0..names.len()).collect();
        order.sort_by(|&a, &b| {
            model.coefficients[b]
                .abs()
                .total_cmp(&model.coefficients[a].abs())
                .then(names[a].cmp(&names[b]))
        });
        let schema = Arc::new(Schema::new(vec![
            Field::new("feature", DataType::Utf8, false),
            Field::new("coefficient", DataType::Float64, false),
            Field::new("importance", DataType::Float64, false),
            Field::new("share", DataType::Float64, true),
            Field::new("rank", DataType::Int64, false),
        ]));
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values(
                order.iter().map(|&i| names[i].as_str()),
            )),
            Arc::new(Float64Array::from_iter_values(
                order.iter().map(|&i| model.coefficients[i]),
            )),
            Arc::new(Float64Array::from_iter_values(
                order.iter().map(|&i| model.coefficients[i].abs()),
            )),
            Arc::new(Float64Array::from_iter(order.iter().map(|&i| {
                (total > 0.0).then(|| model.coefficients[i].abs() / total)
            }))),
            Arc::new(Int64Array::from_iter_values(1..=order.len() as i64)),
        ];
        let batch = RecordBatch::try_new(Arc::clone(&schema), columns)?;
        Ok(Arc::new(MemTable::try_new(schema, vec![vec![batch]])?))
    }
}

/// The boosted-tree form: weight, gain and cover per dimension.
fn trees(model: &BoostedModel) -> Result<Arc<dyn TableProvider>> {
    let names = dimension_names(&model.features);
    let stats = model.ensemble.importance(names.len());
    let total: f64 = stats.iter().map(|s| s.1).sum();
    let mut order: Vec<usize> = (0..names.len()).collect();
    order.sort_by(|&a, &b| {
        stats[b]
            .1
            .total_cmp(&stats[a].1)
            .then(names[a].cmp(&names[b]))
    });
    let schema = Arc::new(Schema::new(vec![
        Field::new("feature", DataType::Utf8, false),
        Field::new("weight", DataType::Int64, false),
        Field::new("gain", DataType::Float64, false),
        Field::new("cover", DataType::Float64, false),
        Field::new("importance", DataType::Float64, false),
        Field::new("share", DataType::Float64, true),
        Field::new("rank", DataType::Int64, false),
    ]));
    let column = |f: &dyn Fn(usize) -> f64| -> ArrayRef {
        Arc::new(Float64Array::from_iter_values(order.iter().map(|&i| f(i))))
    };
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            order.iter().map(|&i| names[i].as_str()),
        )),
        Arc::new(Int64Array::from_iter_values(
            order.iter().map(|&i| stats[i].0 as i64),
        )),
        column(&|i| stats[i].1),
        column(&|i| stats[i].2),
        column(&|i| stats[i].1),
        Arc::new(Float64Array::from_iter(
            order
                .iter()
                .map(|&i| (total > 0.0).then(|| stats[i].1 / total)),
        )),
        Arc::new(Int64Array::from_iter_values(1..=order.len() as i64)),
    ];
    let batch = RecordBatch::try_new(Arc::clone(&schema), columns)?;
    Ok(Arc::new(MemTable::try_new(schema, vec![vec![batch]])?))
}
