//! `clv_periods(period, amount)`: what the buy-till-you-die models need of
//! one customer's purchases, in one aggregate.
//!
//! `clv_summary` used to group by (customer, period) and then by customer:
//! the first grouping puts almost every order in a group of its own, and
//! cost four times the second. Here the groups are customers; each keeps
//! its periods in one flat list shared by all groups (a group index and a
//! period per row, 12 bytes), which is sorted by group and deduplicated
//! once when the groups are emitted.

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

/// One row: its group, period and amount. Flags ride in the group's top
/// bits so an entry is 24 bytes.
#[derive(Debug, Clone, Copy)]
struct Entry {
    group: u32,
    period: i64,
    amount: f64,
}

/// The entry's amount is NULL.
const NO_AMOUNT: u32 = 1 << 31;
/// The entry's amount is not part of the total (a merged state's first
/// period: its state's total is kept apart, see `ClvPeriodsGroups::totals`).
const NOT_IN_TOTAL: u32 = 1 << 30;
const GROUP: u32 = NOT_IN_TOTAL - 1;

impl Entry {
    fn group(&self) -> usize {
        (self.group & GROUP) as usize
    }

    fn amount(&self) -> Option<f64> {
        (self.group & NO_AMOUNT == 0).then_some(self.amount)
    }

    fn in_total(&self) -> Option<f64> {
        (self.group & NOT_IN_TOTAL == 0)
            .then(|| self.amount())
            .flatten()
    }
}

/// Periods of many groups: one entry per row, appended in arrival order.
/// Nothing is looked up per row (a per-group record would miss the cache
/// on almost every row); the entries are sorted by group when the groups
/// are emitted, and first period, sums and distinct periods are read off
/// each group's run.
#[derive(Debug, Default)]
struct ClvPeriodsGroups {
    entries: Vec<Entry>,
    /// Totals of merged partial states, per group.
    totals: Vec<Option<f64>>,
}

/// Bits of the group index sorted per radix pass: 2^11 output streams
/// keep the scatter's write frontier in cache.
const RADIX_BITS: u32 = 11;

/// Sorts `entries` by group (all below `groups`), stably: least
/// significant digit first, one counting pass per digit. A scatter straight
/// to each group's slot would miss the cache on almost every write.
fn sort_by_group(entries: Vec<Entry>, groups: usize) -> Vec<Entry> {
    let bits = usize::BITS - groups.saturating_sub(1).leading_zeros();
    let mut from = entries;
    if bits == 0 {
        return from;
    }
    let mut to = vec![
        Entry {
            group: 0,
            period: 0,
            amount: 0.0,
        };
        from.len()
    ];
    let radix = 1usize << RADIX_BITS;
    let mut shift = 0;
    while shift < bits {
        let digit = |e: &Entry| (e.group() >> shift) & (radix - 1);
        let mut next = vec![0usize; radix];
        for e in &from {
            next[digit(e)] += 1;
        }
        let mut sum = 0;
        for slot in next.iter_mut() {
            let count = *slot;
            *slot = sum;
            sum += count;
        }
        for e in &from {
            let d = digit(e);
            to[next[d]] = *e;
            next[d] += 1;
        }
        std::mem::swap(&mut from, &mut to);
        shift += RADIX_BITS;
    }
    from
}

/// What the emitted groups hold: one span each, and with `keep_periods`
/// their distinct periods (sorted within a group) and offsets into them.
struct Taken {
    spans: Vec<Span>,
    periods: Vec<i64>,
    offsets: Vec<usize>,
}

impl ClvPeriodsGroups {
    fn push(&mut self, group: usize, period: i64, amount: Option<f64>, flags: u32) -> Result<()> {
        let group = match u32::try_from(group) {
            Ok(g) if g <= GROUP => g,
            _ => return internal_err!("{NAME}: more than 2^30 groups in one aggregation"),
        };
        let (amount, null) = match amount {
            Some(a) => (a, 0),
            None => (0.0, NO_AMOUNT),
        };
        self.entries.push(Entry {
            group: group | null | flags,
            period,
            amount,
        });
        Ok(())
    }

    /// Takes the groups `emit_to` names; the entries of the groups left
    /// behind stay, renumbered from 0.
    fn take(&mut self, emit_to: EmitTo, keep_periods: bool) -> Taken {
        let totals = emit_to.take_needed(&mut self.totals);
        let n = totals.len();
        let emitted = if self.totals.is_empty() {
            std::mem::take(&mut self.entries)
        } else {
            let (emitted, kept): (Vec<Entry>, Vec<Entry>) =
                self.entries.iter().partition(|e| e.group() < n);
            self.entries = kept
                .into_iter()
                .map(|e| Entry {
                    group: e.group - n as u32,
                    ..e
                })
                .collect();
            emitted
        };
        let mut emitted = sort_by_group(emitted, n);
        let mut spans = Vec::with_capacity(n);
        let mut periods = Vec::new();
        let mut offsets = Vec::new();
        if keep_periods {
            periods.reserve(emitted.len());
            offsets.reserve(n + 1);
        }
        let mut at = 0;
        for (g, merged_total) in totals.into_iter().enumerate() {
            let start = at;
            while at < emitted.len() && emitted[at].group() == g {
                at += 1;
            }
            let run = &mut emitted[start..at];
            // Arrival order is mostly time order: nearly sorted runs.
            run.sort_unstable_by_key(|e| e.period);
            let mut span = Span::EMPTY;
            span.total = merged_total;
            let mut distinct = 0;
            let mut previous = None;
            if keep_periods {
                offsets.push(periods.len());
            }
            for e in run.iter() {
                if previous != Some(e.period) {
                    distinct += 1;
                    previous = Some(e.period);
                    if keep_periods {
                        periods.push(e.period);
                    }
                }
                span.add(e.period, e.amount());
                span.add_total(e.in_total());
            }
            span.periods = distinct;
            span.last = previous;
            spans.push(span);
        }
        if keep_periods {
            offsets.push(periods.len());
        }
        Taken {
            spans,
            periods,
            offsets,
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
        self.totals.resize(total_num_groups, None);
        let (periods, amounts) = arguments(values)?;
        self.entries.reserve(group_indices.len());
        if opt_filter.is_none() && periods.null_count() == 0 && amounts.null_count() == 0 {
            let amounts = amounts.values();
            for ((&g, &p), &a) in group_indices.iter().zip(periods.values()).zip(amounts) {
                self.push(g, p, Some(a), 0)?;
            }
            return Ok(());
        }
        for (row, &g) in group_indices.iter().enumerate() {
            if periods.is_null(row)
                || opt_filter.is_some_and(|f| !(f.is_valid(row) && f.value(row)))
            {
                continue;
            }
            self.push(g, periods.value(row), value(amounts, row), 0)?;
        }
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        result(&self.take(emit_to, false).spans)
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let taken = self.take(emit_to, true);
        state(taken.periods, &taken.offsets, &taken.spans)
    }

    /// A state's periods become entries without amounts, except its first
    /// period, which carries the state's first amount (left out of the
    /// total); the state's total is added to the group's merged total.
    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.totals.resize(total_num_groups, None);
        let (lists, first_amounts, totals) = states(values)?;
        let offsets = lists.value_offsets();
        let all = lists.values().as_primitive::<Int64Type>().values();
        for (row, &g) in group_indices.iter().enumerate() {
            if lists.is_null(row) {
                continue;
            }
            let own = &all[offsets[row] as usize..offsets[row + 1] as usize];
            let Some((&first, rest)) = own.split_first() else {
                continue;
            };
            self.push(g, first, value(first_amounts, row), NOT_IN_TOTAL)?;
            for &p in rest {
                self.push(g, p, None, 0)?;
            }
            self.totals[g] = plus(self.totals[g], value(totals, row));
        }
        Ok(())
    }

    /// Each row is a state of its own: its period (none when NULL or
    /// filtered out) and its amount as both sums.
    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        let (periods, amounts) = arguments(values)?;
        let kept = |row: usize| {
            periods.is_valid(row) && opt_filter.is_none_or(|f| f.is_valid(row) && f.value(row))
        };
        let rows = periods.len();
        let mut own = Vec::with_capacity(rows);
        let mut lengths = Vec::with_capacity(rows);
        let mut sums = Vec::with_capacity(rows);
        for row in 0..rows {
            if kept(row) {
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
        self.entries.capacity() * size_of::<Entry>()
            + self.totals.capacity() * size_of::<Option<f64>>()
    }
}

#[cfg(test)]
mod tests;
