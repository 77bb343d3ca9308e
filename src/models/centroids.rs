//! `model_centroids('model')`: one row per (centroid, feature) with the
//! centroid's value in the feature's original units and the cluster's size.

use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, Float64Array, Int32Array, RecordBatch, StringArray, UInt64Array,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::{Result, ScalarValue, plan_datafusion_err, plan_err};
use datafusion::datasource::MemTable;
use datafusion::logical_expr::Expr;
use microseg_udfs::model::{Feature, Fitted};

use crate::catalog::models::parse_reference;
use crate::catalog::{CatalogCache, ModelEntry};

/// The SQL name.
pub const NAME: &str = "model_centroids";

/// The `model_centroids` table function: reads the model from the
/// engine's catalog snapshot (refreshed before each statement is planned).
///
/// Numeric features are shown un-standardized (mean + z × std); a
/// categorical feature gives one row per category, `feature` written
/// `column=value`, whose value is the share of the cluster's members in
/// that category (the centroid's coordinate on that one-hot dimension).
#[derive(Debug)]
pub struct ModelCentroidsFunction {
    cache: Arc<CatalogCache>,
}

impl ModelCentroidsFunction {
    /// The function over the engine's catalog snapshot.
    pub fn new(cache: Arc<CatalogCache>) -> Self {
        Self { cache }
    }
}

/// The model a table function's only argument names (a string literal),
/// from the catalog snapshot; errors name `func`.
pub(super) fn model_entry(
    cache: &CatalogCache,
    func: &str,
    exprs: &[Expr],
) -> Result<Arc<ModelEntry>> {
    if exprs.len() != 1 {
        return plan_err!(
            "{func}: expected 1 argument (the model's name), got {}",
            exprs.len()
        );
    }
    let Expr::Literal(ScalarValue::Utf8(Some(reference)), _) = &exprs[0] else {
        return plan_err!("{func}: argument 1 (model) must be a string literal");
    };
    let (name, version) = parse_reference(reference).map_err(|e| plan_datafusion_err!("{e}"))?;
    match cache.snapshot().model(&name, version) {
        Ok(Some(entry)) => Ok(entry),
        Ok(None) => plan_err!("{func}: unknown model {reference}"),
        Err(why) => plan_err!("{func}: model {reference} cannot be read: {why}"),
    }
}

impl TableFunctionImpl for ModelCentroidsFunction {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let entry = model_entry(&self.cache, NAME, args.exprs())?;
        let Fitted::KMeans(model, _) = entry.bound.0.as_ref() else {
            return plan_err!(
                "{NAME}: {} is a {} model; only k-means models have centroids",
                entry.bound.0.label(),
                entry.bound.0.kind()
            );
        };
        let d = model.dims();
        let mut ids = Vec::new();
        let mut names = Vec::new();
        let mut values = Vec::new();
        let mut sizes = Vec::new();
        for j in 0..model.k {
            let size = model.sizes.get(j).copied().unwrap_or(0);
            let centroid = &model.centroids[j * d..(j + 1) * d];
            let mut offset = 0;
            for feature in &model.features {
                match feature {
                    Feature::Numeric {
                        name,
                        mean,
                        std,
                        standardize,
                    } => {
                        let z = centroid[offset];
                        ids.push(j as i32 + 1);
                        names.push(name.clone());
                        values.push(if *standardize { mean + z * std } else { z });
                        sizes.push(size);
                    }
                    Feature::Categorical { name, categories } => {
                        for (i, category) in categories.iter().enumerate() {
                            ids.push(j as i32 + 1);
                            names.push(format!("{name}={}", category.as_deref().unwrap_or("NULL")));
                            values.push(centroid[offset + i]);
                            sizes.push(size);
                        }
                    }
                }
                offset += feature.dims();
            }
        }
        let schema = Arc::new(Schema::new(vec![
            Field::new("centroid_id", DataType::Int32, false),
            Field::new("feature", DataType::Utf8, false),
            Field::new("value", DataType::Float64, false),
            Field::new("size", DataType::UInt64, false),
        ]));
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int32Array::from(ids)),
            Arc::new(StringArray::from(names)),
            Arc::new(Float64Array::from(values)),
            Arc::new(UInt64Array::from(sizes)),
        ];
        let batch = RecordBatch::try_new(Arc::clone(&schema), columns)?;
        Ok(Arc::new(MemTable::try_new(schema, vec![vec![batch]])?))
    }
}
