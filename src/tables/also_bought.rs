//! `also_bought(model, item, k [, segment])`: the k items most often bought
//! by the customers who bought `item`, with the association statistics of
//! the pair (support, confidence, lift, Zhang's metric), among all of the
//! model's customers or those of one segment cell (a segment label, or a
//! `micro_segment` ancestor such as `city=Leeds|channel=*`). An item or
//! segment the model does not know gives no rows and a warning in the log,
//! not an error: a catalogue changes faster than models are retrained.

use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::{Result, plan_err};
use microseg_udfs::model::recommend::associations;

use super::args;
use super::recommend::{ComputedTable, count_arg, key_arg, recommender};
use crate::catalog::CatalogCache;

/// The SQL name.
pub const NAME: &str = "also_bought";
const USAGE: &str = "also_bought(model, item, k [, segment])";

/// `also_bought`.
#[derive(Debug)]
pub struct AlsoBoughtFunction {
    cache: Arc<CatalogCache>,
}

impl AlsoBoughtFunction {
    /// Over the engine's catalog snapshot.
    pub fn new(cache: Arc<CatalogCache>) -> Self {
        Self { cache }
    }
}

impl TableFunctionImpl for AlsoBoughtFunction {
    fn call_with_args(&self, call: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let exprs = call.exprs();
        args::check_count(NAME, exprs, 3, 4, USAGE)?;
        let model = recommender(NAME, &self.cache, exprs)?;
        let Some(item) = key_arg(NAME, 1, "item", exprs)? else {
            return plan_err!("{NAME}: argument 2 (item) is missing");
        };
        let k = count_arg(NAME, 2, "k", exprs)?;
        let segment = key_arg(NAME, 3, "segment", exprs)?;
        let schema = Arc::new(Schema::new(vec![
            Field::new("item", model.item_type(), false),
            Field::new("rank", DataType::Int32, false),
            Field::new("also_bought", model.item_type(), false),
            Field::new("customers_both", DataType::Int64, false),
            Field::new("support", DataType::Float64, false),
            Field::new("confidence", DataType::Float64, false),
            Field::new("lift", DataType::Float64, false),
            Field::new("zhang", DataType::Float64, false),
        ]));
        let what = format!("also_bought({}, {item}, {k})", model.label);
        let out = Arc::clone(&schema);
        let make = move || -> Result<RecordBatch> {
            let m = &model.model;
            let within = match &segment {
                None => Ok(None),
                Some(label) => m.segment_cell(label).map(Some).ok_or(label),
            };
            let stats = match (m.item(&item), within) {
                (Some(a), Ok(within)) => {
                    let mut stats = associations(m, a, within);
                    stats.truncate(k);
                    stats
                }
                (None, _) => {
                    log::warn!("{NAME}: model {} has no item {item}: no rows", model.label);
                    Vec::new()
                }
                (_, Err(label)) => {
                    log::warn!(
                        "{NAME}: model {} has no segment {label}: no rows",
                        model.label
                    );
                    Vec::new()
                }
            };
            let n = stats.len();
            let columns: Vec<ArrayRef> = vec![
                cast(
                    &StringArray::from_iter_values(std::iter::repeat_n(item.as_str(), n)),
                    &model.item_type(),
                )?,
                Arc::new(Int32Array::from_iter_values(1..=n as i32)),
                cast(
                    &StringArray::from_iter_values(
                        stats.iter().map(|s| m.data.items[s.item as usize].as_str()),
                    ),
                    &model.item_type(),
                )?,
                Arc::new(Int64Array::from_iter_values(
                    stats.iter().map(|s| i64::from(s.both)),
                )),
                Arc::new(Float64Array::from_iter_values(
                    stats.iter().map(|s| s.support),
                )),
                Arc::new(Float64Array::from_iter_values(
                    stats.iter().map(|s| s.confidence),
                )),
                Arc::new(Float64Array::from_iter_values(stats.iter().map(|s| s.lift))),
                Arc::new(Float64Array::from_iter_values(
                    stats.iter().map(|s| s.zhang),
                )),
            ];
            Ok(RecordBatch::try_new(Arc::clone(&out), columns)?)
        };
        Ok(Arc::new(ComputedTable {
            what,
            schema,
            make: Arc::new(make),
        }))
    }
}
