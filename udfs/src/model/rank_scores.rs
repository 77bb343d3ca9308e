//! The aggregate behind `model_evaluate` for recommenders: held-out
//! `(customer_id, item)` rows in, one row per compared method out (the
//! model, the popularity and buy-again baselines) with precision@k,
//! recall@k, MAP@k, NDCG@k, hit rate and catalogue coverage
//! (`microseg_kernels::recommend::rank`). The table function creates it
//! already holding its model (found in the catalog snapshot while
//! planning), so it is not a SQL function of its own.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Float64Array, Int64Array, StringArray, StructArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields};
use datafusion::common::utils::SingleRowListArrayBuilder;
use datafusion::common::{Result, ScalarValue, internal_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{Accumulator, AggregateUDFImpl, Signature, Volatility};

use super::RecommenderModel;
use super::recommend::rank::evaluate;

/// The SQL name shown in plans.
pub const NAME: &str = "recommender_scores";

/// One compared method's fields.
pub fn rank_fields() -> Fields {
    let f = |n: &str| Field::new(n, DataType::Float64, false);
    Fields::from(vec![
        Field::new("method", DataType::Utf8, false),
        Field::new("users", DataType::Int64, false),
        f("precision_at_k"),
        f("recall_at_k"),
        f("map_at_k"),
        f("ndcg_at_k"),
        f("hit_rate"),
        f("coverage"),
    ])
}

fn output_type() -> DataType {
    DataType::List(Arc::new(Field::new_list_field(
        DataType::Struct(rank_fields()),
        true,
    )))
}

/// `recommender_scores(customer_id, item)` for one model and k.
#[derive(Debug)]
pub struct RecommenderScores {
    model: RecommenderModel,
    k: usize,
    signature: Signature,
}

impl RecommenderScores {
    /// Scores `model`'s top `k`.
    pub fn new(model: RecommenderModel, k: usize) -> Self {
        Self {
            model,
            k,
            signature: Signature::exact(
                vec![DataType::Utf8, DataType::Utf8],
                Volatility::Immutable,
            ),
        }
    }
}

impl PartialEq for RecommenderScores {
    fn eq(&self, other: &Self) -> bool {
        self.k == other.k && self.model == other.model
    }
}

impl Eq for RecommenderScores {}

impl Hash for RecommenderScores {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.model.label.hash(state);
        self.k.hash(state);
    }
}

impl AggregateUDFImpl for RecommenderScores {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(output_type())
    }

    fn accumulator(&self, _args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(RankAccumulator {
            model: self.model.clone(),
            k: self.k,
            customers: Vec::new(),
            items: Vec::new(),
        }))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let list = DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true)));
        Ok(vec![
            Field::new(format!("{}[customers]", args.name), list.clone(), true).into(),
            Field::new(format!("{}[items]", args.name), list, true).into(),
        ])
    }
}

#[derive(Debug)]
struct RankAccumulator {
    model: RecommenderModel,
    k: usize,
    customers: Vec<String>,
    items: Vec<String>,
}

impl RankAccumulator {
    fn extend(&mut self, customers: &ArrayRef, items: &ArrayRef) -> Result<()> {
        let (c, i) = (
            cast(customers, &DataType::Utf8)?,
            cast(items, &DataType::Utf8)?,
        );
        let (c, i) = (c.as_string::<i32>(), i.as_string::<i32>());
        for row in 0..c.len() {
            // A row without a customer or an item says nothing.
            if c.is_valid(row) && i.is_valid(row) {
                self.customers.push(c.value(row).to_string());
                self.items.push(i.value(row).to_string());
            }
        }
        Ok(())
    }
}

impl Accumulator for RankAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let [customers, items] = values else {
            return internal_err!("{NAME}: expected customer_id and item");
        };
        self.extend(customers, items)
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let [customers, items] = states else {
            return internal_err!("{NAME}: expected 2 state columns");
        };
        let (Some(customers), Some(items)) =
            (customers.as_list_opt::<i32>(), items.as_list_opt::<i32>())
        else {
            return internal_err!("{NAME}: unexpected state types");
        };
        for row in 0..customers.len() {
            if customers.is_valid(row) {
                self.extend(&customers.value(row), &items.value(row))?;
            }
        }
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let list = |v: &[String]| {
            SingleRowListArrayBuilder::new(Arc::new(StringArray::from_iter_values(v)))
                .build_list_scalar()
        };
        Ok(vec![list(&self.customers), list(&self.items)])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let m = &self.model.model;
        // Items the model never saw are still relevant (and never hit):
        // they get indexes past the catalogue.
        let mut unseen: HashMap<&str, u32> = HashMap::new();
        let mut test: BTreeMap<u32, HashSet<u32>> = BTreeMap::new();
        for (c, i) in self.customers.iter().zip(&self.items) {
            let Some(c) = m.customer(c) else {
                continue;
            };
            let next = (m.data.items.len() + unseen.len()) as u32;
            let i = match m.item(i) {
                Some(i) => i as u32,
                None => *unseen.entry(i.as_str()).or_insert(next),
            };
            test.entry(c as u32).or_default().insert(i);
        }
        let test: Vec<(u32, HashSet<u32>)> = test.into_iter().collect();
        let rows = evaluate(m, &test, self.k);
        let f = |g: fn(&super::recommend::rank::RankMetrics) -> f64| -> ArrayRef {
            Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| g(&r.1))))
        };
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| {
                if r.0 == "model" {
                    format!("model:{}", m.settings.method.name())
                } else {
                    r.0.to_string()
                }
            }))),
            Arc::new(Int64Array::from_iter_values(
                rows.iter().map(|r| r.1.users as i64),
            )),
            f(|r| r.precision),
            f(|r| r.recall),
            f(|r| r.map),
            f(|r| r.ndcg),
            f(|r| r.hit_rate),
            f(|r| r.coverage),
        ];
        let array = StructArray::new(rank_fields(), columns, None);
        Ok(SingleRowListArrayBuilder::new(Arc::new(array)).build_list_scalar())
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self)
            + self
                .customers
                .iter()
                .chain(&self.items)
                .map(|s| s.capacity() + std::mem::size_of::<String>())
                .sum::<usize>()
    }
}
