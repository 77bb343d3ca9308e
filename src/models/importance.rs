//! `model_feature_importance('model')`: a classifier's coefficients ranked.
//!
//! One row per encoded dimension (a numeric column, or `column=value` for a
//! one-hot category): its coefficient (on the standardized feature, so
//! coefficients compare across columns: the change in log-odds per
//! standard deviation, or for being in the category), `importance` =
//! |coefficient|, its `share` of the total and its `rank` (1 = largest).

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::{Result, plan_err};
use datafusion::datasource::MemTable;
use microseg_udfs::model::Fitted;
use microseg_udfs::model::classifier::dimension_names;

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
        let Fitted::Logistic(model) = entry.bound.0.as_ref() else {
            return plan_err!(
                "{NAME}: argument 1 (model): {} is a {} model, not a classifier (model_type 'logistic_reg')",
                entry.bound.0.label(),
                entry.bound.0.kind()
            );
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
