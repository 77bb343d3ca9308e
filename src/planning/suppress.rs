//! Query-time suppression of forgotten people.
//!
//! [`SuppressForgotten`] is an analyzer rule: beneath every leaf of a plan
//! whose rows carry the entity key (a table scan, `table_at`'s node, the
//! scans a view or table function inlines) it puts
//! `Filter(NOT microseg_forgotten(key))`, the function bound to the list
//! loaded with the catalog snapshot. Analyzer rules run on every plan of
//! every session before the optimizer, so the filter sits under joins,
//! aggregates and windows alike and nothing above it can see the rows it
//! drops. With an empty list the rule changes nothing.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray};
use datafusion::arrow::datatypes::{self as types, DataType};
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNodeRecursion};
use datafusion::common::{Column, Result, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, Expr, Filter, LogicalPlan, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl,
    Signature, Volatility,
};
use datafusion::optimizer::AnalyzerRule;

use crate::catalog::{CatalogCache, Suppressed};

/// The name the bound filter function shows in plans.
pub const FORGOTTEN: &str = "microseg_forgotten";

/// `microseg_forgotten(key)`: whether the key is on the suppression list.
/// Never registered by name: only this rule puts it in a plan, bound.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Forgotten {
    list: HashedList,
    signature: Signature,
}

/// The list behind an `Arc`, compared by identity (plans hold the same one).
#[derive(Debug, Clone)]
struct HashedList(Arc<Suppressed>);

impl PartialEq for HashedList {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}
impl Eq for HashedList {}
impl std::hash::Hash for HashedList {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (Arc::as_ptr(&self.0) as usize).hash(state)
    }
}

impl Forgotten {
    /// The function bound to `list`.
    pub fn new(list: Arc<Suppressed>) -> Self {
        Forgotten {
            list: HashedList(list),
            signature: Signature::any(1, Volatility::Immutable),
        }
    }

    /// The list it is bound to (the cluster codec ships it with the plan).
    pub fn list(&self) -> &Arc<Suppressed> {
        &self.list.0
    }
}

impl ScalarUDFImpl for Forgotten {
    fn name(&self) -> &str {
        FORGOTTEN
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Boolean)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [key] = args.args.as_slice() else {
            return exec_err!("{FORGOTTEN} takes one argument, the entity key");
        };
        let array = key.to_array(args.number_rows)?;
        Ok(ColumnarValue::Array(Arc::new(forgotten(
            &self.list.0,
            &array,
        )?)))
    }
}

/// One flag per row: is its key on the list? NULL keys are nobody. Equal
/// neighbouring keys (a customer's orders, written together) are hashed once.
fn forgotten(list: &Suppressed, keys: &ArrayRef) -> Result<BooleanArray> {
    let mut out = Vec::with_capacity(keys.len());
    // The previous key and its answer; the buffer is reused.
    let mut prev: Vec<u8> = Vec::new();
    let mut last: Option<bool> = None;
    each_key_text(keys, |text| {
        let Some(text) = text else {
            out.push(false);
            return;
        };
        if let Some(hit) = last
            && prev.as_slice() == text
        {
            out.push(hit);
            return;
        }
        let hit = list.contains(text);
        prev.clear();
        prev.extend_from_slice(text);
        last = Some(hit);
        out.push(hit);
    })?;
    Ok(BooleanArray::from(out))
}

/// Calls `f` with each key's canonical text (integers in decimal, text as
/// is, anything else as Arrow casts it to text), `None` for NULL.
fn each_key_text(keys: &ArrayRef, mut f: impl FnMut(Option<&[u8]>)) -> Result<()> {
    // `$sign_magnitude` turns a value into (negative, magnitude) in 64-bit
    // arithmetic: a 128-bit division per digit would cost more than the hash.
    macro_rules! integers {
        ($t:ty, $sign_magnitude:expr) => {{
            let values = keys.as_primitive::<$t>();
            let mut buf = [0u8; 20];
            for i in 0..values.len() {
                if values.is_null(i) {
                    f(None);
                } else {
                    let (negative, magnitude) = $sign_magnitude(values.value(i));
                    f(Some(decimal(negative, magnitude, &mut buf)));
                }
            }
        }};
    }
    let signed = |v: i64| (v < 0, v.unsigned_abs());
    let unsigned = |v: u64| (false, v);
    match keys.data_type() {
        DataType::Int64 => integers!(types::Int64Type, signed),
        DataType::Int32 => integers!(types::Int32Type, |v| signed(i64::from(v))),
        DataType::Int16 => integers!(types::Int16Type, |v| signed(i64::from(v))),
        DataType::Int8 => integers!(types::Int8Type, |v| signed(i64::from(v))),
        DataType::UInt64 => integers!(types::UInt64Type, unsigned),
        DataType::UInt32 => integers!(types::UInt32Type, |v| unsigned(u64::from(v))),
        DataType::UInt16 => integers!(types::UInt16Type, |v| unsigned(u64::from(v))),
        DataType::UInt8 => integers!(types::UInt8Type, |v| unsigned(u64::from(v))),
        DataType::Utf8 => keys
            .as_string::<i32>()
            .iter()
            .for_each(|v| f(v.map(str::as_bytes))),
        DataType::LargeUtf8 => keys
            .as_string::<i64>()
            .iter()
            .for_each(|v| f(v.map(str::as_bytes))),
        DataType::Utf8View => keys
            .as_string_view()
            .iter()
            .for_each(|v| f(v.map(str::as_bytes))),
        _ => {
            let text = datafusion::arrow::compute::cast(keys, &DataType::Utf8)?;
            text.as_string::<i32>()
                .iter()
                .for_each(|v| f(v.map(str::as_bytes)));
        }
    }
    Ok(())
}

/// A 64-bit integer (sign and magnitude) in decimal as `format!` writes
/// it, in `buf` (every such value fits); a digit loop, since `fmt` costs
/// more than the hash per row.
fn decimal(negative: bool, magnitude: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut n = magnitude;
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if negative {
        at -= 1;
        buf[at] = b'-';
    }
    &buf[at..]
}

/// The text an entity key is hashed by: a customer id given as text (on
/// the command line, in `FORGET CUSTOMER`) cast to the key column's type
/// and written back as the filter writes it, so `'042'` and `42` name the
/// same integer customer.
pub fn canonical_key(text: &str, key_type: &DataType) -> Result<String> {
    use datafusion::arrow::array::StringArray;
    let given: ArrayRef = Arc::new(StringArray::from(vec![text.trim()]));
    let options = datafusion::arrow::compute::CastOptions {
        safe: false,
        ..Default::default()
    };
    let typed = datafusion::arrow::compute::cast_with_options(&given, key_type, &options).map_err(
        |_| {
            datafusion::error::DataFusionError::Plan(format!(
                "customer id {text:?} is not a valid {key_type} (the type of the entity key column)"
            ))
        },
    )?;
    let mut canonical = None;
    each_key_text(&typed, |t| {
        canonical = t.map(|t| String::from_utf8_lossy(t).into_owned())
    })?;
    canonical
        .filter(|c| !c.is_empty())
        .ok_or_else(|| datafusion::error::DataFusionError::Plan("the customer id is empty".into()))
}

/// Puts the suppression filter under every leaf that carries the entity key.
#[derive(Debug)]
pub struct SuppressForgotten {
    cache: Arc<CatalogCache>,
    key: String,
}

impl SuppressForgotten {
    /// A rule reading the list from `cache`'s snapshot, filtering on column `key`.
    pub fn new(cache: Arc<CatalogCache>, key: String) -> Self {
        Self { cache, key }
    }
}

impl AnalyzerRule for SuppressForgotten {
    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        let snapshot = self.cache.snapshot();
        let list = snapshot.suppressed();
        if list.is_empty() {
            return Ok(plan);
        }
        let udf = Arc::new(ScalarUDF::new_from_impl(Forgotten::new(Arc::clone(list))));
        plan.transform_down_with_subqueries(|node| self.guard(node, &udf))
            .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "microseg_suppress_forgotten"
    }
}

/// Whether `expr` is this rule's filter (so a plan analyzed twice gets one,
/// and the reader rule does not count it as a user's filter).
pub(crate) fn is_guard(expr: &Expr) -> bool {
    matches!(expr, Expr::Not(inner) if matches!(inner.as_ref(), Expr::ScalarFunction(f) if f.func.name() == FORGOTTEN))
}

impl SuppressForgotten {
    fn guard(&self, node: LogicalPlan, udf: &Arc<ScalarUDF>) -> Result<Transformed<LogicalPlan>> {
        match node {
            LogicalPlan::Filter(f) if is_guard(&f.predicate) => Ok(Transformed::new(
                LogicalPlan::Filter(f),
                false,
                TreeNodeRecursion::Jump,
            )),
            other => super::leaves::wrap_keyed_leaf(other, &self.key, &|leaf, column| {
                filtered(leaf, column, udf)
            }),
        }
    }
}

fn filtered(leaf: LogicalPlan, column: Column, udf: &Arc<ScalarUDF>) -> Result<LogicalPlan> {
    let predicate = Expr::Not(Box::new(udf.call(vec![Expr::Column(column)])));
    Ok(LogicalPlan::Filter(Filter::try_new(
        predicate,
        Arc::new(leaf),
    )?))
}

#[cfg(test)]
mod tests {
    use super::decimal;

    #[test]
    fn decimal_is_what_format_writes() {
        let mut buf = [0u8; 20];
        let edges = [0i64, 7, -7, 10, -10, 999_999, i64::MAX, i64::MIN];
        for v in edges.into_iter().chain((-2000..2000).map(|x| x * 7919)) {
            let text = decimal(v < 0, v.unsigned_abs(), &mut buf);
            assert_eq!(text, v.to_string().as_bytes(), "{v}");
        }
        for v in [0u64, 9, 10, u64::MAX] {
            assert_eq!(decimal(false, v, &mut buf), v.to_string().as_bytes(), "{v}");
        }
    }
}
