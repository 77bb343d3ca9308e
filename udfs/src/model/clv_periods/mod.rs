//! `clv_periods(period, amount)`: what the buy-till-you-die models need of
//! one customer's purchases, in one aggregate.
//!
//! `clv_summary` used to group by (customer, period) and then by customer:
//! the first grouping puts almost every order in a group of its own, and
//! cost four times the second. Here the groups are customers. While the
//! periods span at most 2,048 values (`bits`: five and a half years of
//! days) each group is one fixed record with a bit per period, updated in
//! place; past that the groups' rows go to one flat list that is sorted by
//! group when the groups are emitted (`entries`).

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, Int64Array, ListArray, StructArray,
};
use datafusion::arrow::buffer::{NullBuffer, OffsetBuffer};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields, Float64Type, Int64Type};
use datafusion::common::{Result, ScalarValue, internal_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, Documentation, EmitTo, GroupsAccumulator, Signature, Volatility,
};
use datafusion_macros::user_doc;

mod bits;
mod entries;

use bits::BitGroups;
use entries::EntryGroups;

use crate::common::{Param, check_arity, float_type, param_names};

const NAME: &str = "clv_periods";
const PERIOD: Param = Param::new(NAME, 0, "period");
const AMOUNT: Param = Param::new(NAME, 1, "amount");

#[user_doc(
    doc_section(label = "Model Functions"),
    description = "One customer's purchase periods as the lifetime-value models see them: a struct \
{periods, first, last, first_amount, total_amount}. periods (Int64) is the number of distinct \
non-NULL periods; first and last are the smallest and largest; first_amount is the sum of the \
amounts in the first period (the purchase lifetimes' summary leaves out of monetary_value), \
total_amount the sum of all amounts. Rows with a NULL period are ignored; NULL amounts are left \
out of the sums, which are NULL when they have no amount. first, last and the sums are NULL for a \
group without periods. `clv_summary` is built on it: frequency = periods − 1, recency = last − \
first, monetary_value = (total_amount − first_amount) / (periods − 1).",
    syntax_example = "clv_periods(period, amount)",
    sql_example = r#"```sql
> SELECT clv_periods(day, amount) AS p
  FROM (VALUES (10, 5.0), (10, 1.0), (12, 4.0), (15, 2.0)) AS t(day, amount);
+---------------------------------------------------------------------+
| p                                                                   |
+---------------------------------------------------------------------+
| {periods: 3, first: 10, last: 15, first_amount: 6.0, total_amount: 12.0} |
+---------------------------------------------------------------------+
```"#,
    argument(
        name = "period",
        description = "The purchase's period as a whole number (e.g. days since the epoch)."
    ),
    argument(name = "amount", description = "The purchase's amount (any number).")
)]
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ClvPeriods {
    signature: Signature,
}

impl ClvPeriods {
    /// The `clv_periods` aggregate function.
    pub fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable)
                .with_parameter_names(param_names(&[PERIOD, AMOUNT]))
                .expect("a user-defined signature takes any parameter names"),
        }
    }
}

impl Default for ClvPeriods {
    fn default() -> Self {
        Self::new()
    }
}

fn result_fields() -> Fields {
    Fields::from(vec![
        Field::new("periods", DataType::Int64, false),
        Field::new("first", DataType::Int64, true),
        Field::new("last", DataType::Int64, true),
        Field::new("first_amount", DataType::Float64, true),
        Field::new("total_amount", DataType::Float64, true),
    ])
}

fn list_of_periods() -> DataType {
    DataType::List(Arc::new(Field::new_list_field(DataType::Int64, false)))
}

impl AggregateUDFImpl for ClvPeriods {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        check_arity(NAME, arg_types.len(), 2..=2)?;
        let period = match &arg_types[0] {
            DataType::Null => DataType::Int64,
            t if t.is_integer() => DataType::Int64,
            other => {
                return Err(PERIOD.error(format_args!("must be a whole number, got type {other}")));
            }
        };
        Ok(vec![period, float_type(AMOUNT, &arg_types[1])?])
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Struct(result_fields()))
    }

    fn accumulator(&self, _args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(ClvPeriodsAccumulator::default()))
    }

    /// The distinct periods (sorted), and the two sums: partial states
    /// merge by concatenating the lists and keeping the earlier first
    /// period's amount.
    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![
            Field::new(format!("{}[periods]", args.name), list_of_periods(), true).into(),
            Field::new(
                format!("{}[first_amount]", args.name),
                DataType::Float64,
                true,
            )
            .into(),
            Field::new(
                format!("{}[total_amount]", args.name),
                DataType::Float64,
                true,
            )
            .into(),
        ])
    }

    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }

    fn create_groups_accumulator(
        &self,
        _args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(ClvPeriodsGroups::default()))
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}

/// A group's first period with its amount, its total amount, and (once
/// its periods are counted) the number of distinct periods and the last;
/// the sums are `None` until a non-NULL amount arrives.
#[derive(Debug, Clone, Copy)]
struct Span {
    first: i64,
    first_amount: Option<f64>,
    total: Option<f64>,
    periods: i64,
    last: Option<i64>,
}

impl Span {
    const EMPTY: Span = Span {
        first: i64::MAX,
        first_amount: None,
        total: None,
        periods: 0,
        last: None,
    };

    /// Adds `amount` spent in `period` (for a merged state: the state's
    /// first period and that period's amount).
    fn add(&mut self, period: i64, amount: Option<f64>) {
        if period < self.first {
            self.first = period;
            self.first_amount = amount;
        } else if period == self.first {
            self.first_amount = plus(self.first_amount, amount);
        }
    }

    fn add_total(&mut self, amount: Option<f64>) {
        self.total = plus(self.total, amount);
    }
}

/// SQL SUM of two partial sums: NULL only when both are.
fn plus(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a + b),
        (a, None) => a,
        (None, b) => b,
    }
}

/// The argument arrays, as `coerce_types` made them.
fn arguments(values: &[ArrayRef]) -> Result<(&Int64Array, &Float64Array)> {
    match (
        values
            .first()
            .and_then(|v| v.as_primitive_opt::<Int64Type>()),
        values
            .get(1)
            .and_then(|v| v.as_primitive_opt::<Float64Type>()),
    ) {
        (Some(p), Some(a)) => Ok((p, a)),
        _ => internal_err!("{NAME}: arguments must be Int64 and Float64"),
    }
}

/// The state arrays of `state_fields`.
fn states(values: &[ArrayRef]) -> Result<(&ListArray, &Float64Array, &Float64Array)> {
    match (
        values.first().and_then(|v| v.as_list_opt::<i32>()),
        values
            .get(1)
            .and_then(|v| v.as_primitive_opt::<Float64Type>()),
        values
            .get(2)
            .and_then(|v| v.as_primitive_opt::<Float64Type>()),
    ) {
        (Some(l), Some(f), Some(t)) if l.values().data_type() == &DataType::Int64 => Ok((l, f, t)),
        _ => internal_err!("{NAME}: state must be (List<Int64>, Float64, Float64)"),
    }
}

/// Whether a row counts: its period is not NULL and the FILTER keeps it.
fn kept(periods: &Int64Array, opt_filter: Option<&BooleanArray>, row: usize) -> bool {
    periods.is_valid(row) && opt_filter.is_none_or(|f| f.is_valid(row) && f.value(row))
}

fn value(a: &Float64Array, row: usize) -> Option<f64> {
    a.is_valid(row).then(|| a.value(row))
}

/// The result struct of groups given their spans.
fn result(spans: &[Span]) -> Result<ArrayRef> {
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from_iter_values(
            spans.iter().map(|s| s.periods),
        )),
        Arc::new(Int64Array::from_iter(
            spans.iter().map(|s| (s.periods > 0).then_some(s.first)),
        )),
        Arc::new(Int64Array::from_iter(spans.iter().map(|s| s.last))),
        Arc::new(Float64Array::from_iter(
            spans.iter().map(|s| s.first_amount),
        )),
        Arc::new(Float64Array::from_iter(spans.iter().map(|s| s.total))),
    ];
    Ok(Arc::new(StructArray::try_new(
        result_fields(),
        columns,
        None,
    )?))
}

/// The partial state of groups: their distinct periods (`offsets` into
/// `periods`, sorted within each group) and sums.
fn state(periods: Vec<i64>, offsets: &[usize], spans: &[Span]) -> Result<Vec<ArrayRef>> {
    let field = Arc::new(Field::new_list_field(DataType::Int64, false));
    let lists = ListArray::try_new(
        field,
        OffsetBuffer::from_lengths(offsets.windows(2).map(|w| w[1] - w[0])),
        Arc::new(Int64Array::from(periods)),
        None::<NullBuffer>,
    )?;
    Ok(vec![
        Arc::new(lists),
        Arc::new(Float64Array::from_iter(
            spans.iter().map(|s| s.first_amount),
        )),
        Arc::new(Float64Array::from_iter(spans.iter().map(|s| s.total))),
    ])
}

/// Every group's periods for one group-at-a-time aggregation.
#[derive(Debug, Default)]
struct ClvPeriodsAccumulator {
    periods: Vec<i64>,
    span: Option<Span>,
}

impl ClvPeriodsAccumulator {
    fn span(&mut self) -> &mut Span {
        self.span.get_or_insert(Span::EMPTY)
    }

    fn distinct(&mut self) {
        self.periods.sort_unstable();
        self.periods.dedup();
        let (periods, last) = (self.periods.len() as i64, self.periods.last().copied());
        let span = self.span();
        span.periods = periods;
        span.last = last;
    }
}

impl Accumulator for ClvPeriodsAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let (periods, amounts) = arguments(values)?;
        for row in 0..periods.len() {
            if periods.is_null(row) {
                continue;
            }
            let (period, amount) = (periods.value(row), value(amounts, row));
            self.periods.push(period);
            let span = self.span();
            span.add(period, amount);
            span.add_total(amount);
        }
        Ok(())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        self.distinct();
        let array = result(&[self.span.unwrap_or(Span::EMPTY)])?;
        ScalarValue::try_from_array(&array, 0)
    }

    fn size(&self) -> usize {
        size_of_val(self) + self.periods.capacity() * size_of::<i64>()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        self.distinct();
        let span = self.span.unwrap_or(Span::EMPTY);
        let len = self.periods.len();
        let arrays = state(std::mem::take(&mut self.periods), &[0, len], &[span])?;
        arrays
            .iter()
            .map(|a| ScalarValue::try_from_array(a, 0))
            .collect()
    }

    fn merge_batch(&mut self, states_: &[ArrayRef]) -> Result<()> {
        let (lists, first_amounts, totals) = states(states_)?;
        for row in 0..lists.len() {
            if lists.is_null(row) {
                continue;
            }
            let own = lists.value(row);
            let own = own.as_primitive::<Int64Type>().values();
            let Some(&first) = own.first() else { continue };
            self.periods.extend_from_slice(own);
            let span = self.span();
            span.add(first, value(first_amounts, row));
            span.add_total(value(totals, row));
        }
        Ok(())
    }
}

/// What the emitted groups hold: one span each, and with `keep_periods`
/// their distinct periods (sorted within a group) and offsets into them.
struct Taken {
    spans: Vec<Span>,
    periods: Vec<i64>,
    offsets: Vec<usize>,
}

/// The groups of one aggregation: records of bits while the periods fit a
/// narrow range (`bits`), else the flat list (`entries`), which takes any.
#[derive(Debug)]
enum ClvPeriodsGroups {
    Bits(BitGroups),
    Entries(EntryGroups),
}

impl Default for ClvPeriodsGroups {
    fn default() -> Self {
        Self::Bits(BitGroups::default())
    }
}

impl ClvPeriodsGroups {
    /// The flat list, the groups' records moved into it first.
    fn entries(&mut self) -> Result<&mut EntryGroups> {
        if let Self::Bits(bits) = self {
            *self = Self::Entries(std::mem::take(bits).into_entries()?);
        }
        match self {
            Self::Entries(entries) => Ok(entries),
            Self::Bits(_) => unreachable!("just replaced"),
        }
    }

    fn take(&mut self, emit_to: EmitTo, keep_periods: bool) -> Taken {
        match self {
            Self::Bits(bits) => bits.take(emit_to, keep_periods),
            Self::Entries(entries) => entries.take(emit_to, keep_periods),
        }
    }
}

impl GroupsAccumulator for ClvPeriodsGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        if let Self::Bits(bits) = self
            && bits.update_batch(values, group_indices, opt_filter, total_num_groups)?
        {
            return Ok(());
        }
        self.entries()?
            .update_batch(values, group_indices, opt_filter, total_num_groups)
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        result(&self.take(emit_to, false).spans)
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let taken = self.take(emit_to, true);
        state(taken.periods, &taken.offsets, &taken.spans)
    }

    /// A state's periods become the group's periods; its first period
    /// brings the state's first amount, and its total is added to the
    /// group's.
    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        if let Self::Bits(bits) = self
            && bits.merge_batch(values, group_indices, total_num_groups)?
        {
            return Ok(());
        }
        self.entries()?
            .merge_batch(values, group_indices, total_num_groups)
    }

    /// Each row is a state of its own: its period (none when NULL or
    /// filtered out) and its amount as both sums.
    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        let (periods, amounts) = arguments(values)?;
        let rows = periods.len();
        let mut own = Vec::with_capacity(rows);
        let mut lengths = Vec::with_capacity(rows);
        let mut sums = Vec::with_capacity(rows);
        for row in 0..rows {
            if kept(periods, opt_filter, row) {
                own.push(periods.value(row));
                lengths.push(1);
                sums.push(value(amounts, row));
            } else {
                lengths.push(0);
                sums.push(None);
            }
        }
        let field = Arc::new(Field::new_list_field(DataType::Int64, false));
        let lists = ListArray::try_new(
            field,
            OffsetBuffer::from_lengths(lengths),
            Arc::new(Int64Array::from(own)),
            None::<NullBuffer>,
        )?;
        let sums: ArrayRef = Arc::new(Float64Array::from(sums));
        Ok(vec![Arc::new(lists), Arc::clone(&sums), sums])
    }

    fn size(&self) -> usize {
        match self {
            Self::Bits(bits) => bits.size(),
            Self::Entries(entries) => entries.size(),
        }
    }
}

#[cfg(test)]
mod tests;
