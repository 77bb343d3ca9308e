//! Customer-journey functions: funnels, retention, sessions, purchase rhythm
//! and event-sequence patterns.
//!
//! - [`window_funnel`](WindowFunnel): aggregate, how many funnel steps a group reached in a time window
//! - [`retention`](Retention): aggregate, whether each later condition held given the first
//! - [`sequence_match`](SequenceMatch) / [`sequence_count`](SequenceCount): aggregates, ClickHouse-style event patterns
//! - [`interpurchase_stats`](InterpurchaseStats): aggregate, count and gaps between purchases
//! - [`sessionize`](Sessionize): window function, session number per row
//!
//! ClickHouse's functions of the same names are the reference for semantics;
//! each function's documentation states where ours differ.
//!
//! Every timestamp argument is coerced to `Timestamp(Microsecond)` (keeping its
//! zone), so the kernels see one type: dates become midnight, nanoseconds are
//! truncated to microseconds. Durations (windows, gaps) are held as
//! microseconds too.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Int64Array, ListArray, PrimitiveArray, UInt32Array,
};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::{
    DataType, Field, FieldRef, Int64Type, IntervalUnit, TimeUnit, TimestampMicrosecondType,
    UInt32Type,
};
use datafusion::common::utils::SingleRowListArrayBuilder;
use datafusion::common::{Result, ScalarValue, internal_err};
use datafusion::logical_expr::{AggregateUDF, EmitTo, WindowUDF};
use datafusion::physical_expr::PhysicalExpr;

use crate::common::Param;

mod interpurchase_stats;
mod retention;
mod sequence;
mod sessionize;
mod window_funnel;

pub use interpurchase_stats::{GapStats, InterpurchaseStats, gap_stats};
pub use retention::{Retention, retention_of};
pub use sequence::{Pattern, SequenceCount, SequenceMatch};
pub use sessionize::{Sessionize, session_numbers};
pub use window_funnel::{FunnelMode, WindowFunnel, funnel_level};

/// The most conditions a call may pass: a row's conditions are held as the
/// bits of one `u32`, which keeps a stored event at 16 bytes.
pub const MAX_CONDITIONS: usize = 32;

/// Microseconds per second and per day: every duration is held in these.
pub const MICROS_PER_SECOND: i64 = 1_000_000;
/// See [`MICROS_PER_SECOND`].
pub const MICROS_PER_DAY: i64 = 86_400 * MICROS_PER_SECOND;

/// Aggregate functions of this family.
pub fn aggregate_functions() -> Vec<Arc<AggregateUDF>> {
    vec![
        Arc::new(AggregateUDF::new_from_impl(WindowFunnel::new())),
        Arc::new(AggregateUDF::new_from_impl(Retention::new())),
        Arc::new(AggregateUDF::new_from_impl(SequenceMatch::new())),
        Arc::new(AggregateUDF::new_from_impl(SequenceCount::new())),
        Arc::new(AggregateUDF::new_from_impl(InterpurchaseStats::new())),
    ]
}

/// Window functions of this family.
pub fn window_functions() -> Vec<Arc<WindowUDF>> {
    vec![Arc::new(WindowUDF::new_from_impl(Sessionize::new()))]
}

/// Names of the condition parameters, so an error says `(cond3)` rather than
/// a bare position.
const COND_NAMES: [&str; MAX_CONDITIONS] = [
    "cond1", "cond2", "cond3", "cond4", "cond5", "cond6", "cond7", "cond8", "cond9", "cond10",
    "cond11", "cond12", "cond13", "cond14", "cond15", "cond16", "cond17", "cond18", "cond19",
    "cond20", "cond21", "cond22", "cond23", "cond24", "cond25", "cond26", "cond27", "cond28",
    "cond29", "cond30", "cond31", "cond32",
];

/// The parameter of condition `number` (0-based) sitting at argument `index`.
fn cond_param(func: &'static str, index: usize, number: usize) -> Param {
    Param::new(func, index, COND_NAMES[number.min(MAX_CONDITIONS - 1)])
}

/// Type check for a timestamp argument: any timestamp (any unit, any zone)
/// or a date, all evaluated as microsecond timestamps.
fn timestamp_type(param: Param, data_type: &DataType) -> Result<DataType> {
    match data_type {
        DataType::Timestamp(_, tz) => Ok(DataType::Timestamp(TimeUnit::Microsecond, tz.clone())),
        DataType::Date32 | DataType::Date64 | DataType::Null => {
            Ok(DataType::Timestamp(TimeUnit::Microsecond, None))
        }
        DataType::Dictionary(_, value) => timestamp_type(param, value),
        other => Err(param.error(format_args!("must be a timestamp or a date, got {other}"))),
    }
}

/// Type check for a condition: a boolean (an untyped NULL is a false one).
fn condition_type(param: Param, data_type: &DataType) -> Result<DataType> {
    match data_type {
        DataType::Boolean | DataType::Null => Ok(DataType::Boolean),
        other => Err(param.error(format_args!("must be a boolean condition, got {other}"))),
    }
}

/// Type check for a duration (a funnel window, a session gap); its value is
/// read by [`duration_arg`] once it is a literal.
fn duration_type(param: Param, data_type: &DataType) -> Result<DataType> {
    match data_type {
        // A month or a year has no fixed length in seconds.
        DataType::Interval(IntervalUnit::YearMonth) => Err(param.error(
            "must be a fixed-length duration: an interval of days, hours, minutes or seconds, \
or a number of seconds, not months or years",
        )),
        DataType::Interval(_) | DataType::Duration(_) | DataType::Null => Ok(data_type.clone()),
        t if t.is_integer() || t.is_floating() => Ok(data_type.clone()),
        other => Err(param.error(format_args!(
            "must be an interval or a number of seconds, got {other}"
        ))),
    }
}

/// The duration of a constant argument in microseconds: an interval without
/// months, a SQL duration, or a number of seconds; never negative.
fn duration_arg(param: Param, args: &[Arc<dyn PhysicalExpr>]) -> Result<i64> {
    let Some(value) = param.literal(args)? else {
        return internal_err!("{}: argument {} is missing", param.func, param.index + 1);
    };
    let micros = duration_micros(value).map_err(|why| param.error(why))?;
    if micros < 0 {
        return Err(param.error(format_args!("must not be negative, got {value}")));
    }
    Ok(micros)
}

/// `value` in microseconds, or why it can't be one.
fn duration_micros(value: &ScalarValue) -> std::result::Result<i64, String> {
    let too_large = || format!("is too large a duration: {value}");
    let whole = |n: Option<i128>, per_second: i128| -> std::result::Result<i64, String> {
        let n = n.ok_or_else(|| "must not be NULL".to_string())?;
        let micros = n * i128::from(MICROS_PER_SECOND) / per_second;
        i64::try_from(micros).map_err(|_| too_large())
    };
    use ScalarValue::*;
    match value {
        IntervalMonthDayNano(v) => match v {
            None => Err("must not be NULL".to_string()),
            Some(v) if v.months != 0 => Err(format!(
                "must be a fixed-length duration, not months or years: {value}"
            )),
            Some(v) => {
                let micros = i128::from(v.days) * i128::from(MICROS_PER_DAY)
                    + i128::from(v.nanoseconds) / 1000;
                i64::try_from(micros).map_err(|_| too_large())
            }
        },
        IntervalDayTime(v) => match v {
            None => Err("must not be NULL".to_string()),
            Some(v) => Ok(i64::from(v.days) * MICROS_PER_DAY + i64::from(v.milliseconds) * 1000),
        },
        DurationSecond(v) => whole(v.map(i128::from), 1),
        DurationMillisecond(v) => whole(v.map(i128::from), 1_000),
        DurationMicrosecond(v) => whole(v.map(i128::from), 1_000_000),
        DurationNanosecond(v) => whole(v.map(i128::from), 1_000_000_000),
        Float16(_) | Float32(_) | Float64(_) => match value.cast_to(&DataType::Float64) {
            Ok(Float64(Some(secs))) if secs.is_finite() => {
                let micros = (secs * MICROS_PER_SECOND as f64).round();
                if micros.abs() < i64::MAX as f64 {
                    Ok(micros as i64)
                } else {
                    Err(too_large())
                }
            }
            Ok(Float64(Some(_))) => Err(format!("must be a finite number of seconds, got {value}")),
            _ => Err("must not be NULL".to_string()),
        },
        v if v.data_type().is_integer() => match v.cast_to(&DataType::Decimal128(38, 0)) {
            Ok(Decimal128(n, _, _)) => whole(n, 1),
            _ => Err(too_large()),
        },
        Null => Err("must not be NULL".to_string()),
        other => Err(format!(
            "must be an interval or a number of seconds, got {}",
            other.data_type()
        )),
    }
}

/// The microsecond timestamps of a coerced timestamp argument.
fn timestamps(array: &ArrayRef) -> Result<&PrimitiveArray<TimestampMicrosecondType>> {
    match array.as_primitive_opt::<TimestampMicrosecondType>() {
        Some(ts) => Ok(ts),
        None => internal_err!(
            "journey functions expect coerced timestamps, got {}",
            array.data_type()
        ),
    }
}

/// The conditions of each row as bits (condition i is bit i); NULL is false.
fn condition_masks(conditions: &[ArrayRef], rows: usize) -> Result<Vec<u32>> {
    let mut masks = vec![0u32; rows];
    for (bit, cond) in conditions.iter().enumerate() {
        let Some(cond) = cond.as_boolean_opt() else {
            return internal_err!(
                "journey functions expect coerced conditions, got {}",
                cond.data_type()
            );
        };
        for (row, mask) in masks.iter_mut().enumerate() {
            if is_true(cond, row) {
                *mask |= 1 << bit;
            }
        }
    }
    Ok(masks)
}

fn is_true(cond: &BooleanArray, row: usize) -> bool {
    cond.is_valid(row) && cond.value(row)
}

/// One stored event: its time in microseconds and the bits of the
/// conditions it satisfies.
pub type Event = (i64, u32);

/// The events of one group, as the event aggregates hold them between
/// batches and ship them between partitions.
#[derive(Debug, Default, Clone)]
struct EventLog {
    events: Vec<Event>,
}

impl EventLog {
    /// Adds the rows of a batch. Rows without a timestamp never count; rows
    /// that satisfy no condition are only kept when `keep_unmatched` (an
    /// unmatched row interrupts a `strict_order` funnel, nothing else cares).
    fn add_rows(
        &mut self,
        ts: &ArrayRef,
        conditions: &[ArrayRef],
        keep_unmatched: bool,
    ) -> Result<()> {
        let ts = timestamps(ts)?;
        let masks = condition_masks(conditions, ts.len())?;
        self.events.extend(
            masks
                .into_iter()
                .enumerate()
                .filter(|&(row, mask)| ts.is_valid(row) && (keep_unmatched || mask != 0))
                .map(|(row, mask)| (ts.value(row), mask)),
        );
        Ok(())
    }

    /// The state fields: the times and the condition bits, as two lists.
    fn state_fields(name: &str) -> Vec<FieldRef> {
        vec![
            Field::new(
                format!("{name}[ts]"),
                DataType::List(Arc::new(Field::new_list_field(DataType::Int64, true))),
                true,
            )
            .into(),
            Field::new(
                format!("{name}[conditions]"),
                DataType::List(Arc::new(Field::new_list_field(DataType::UInt32, true))),
                true,
            )
            .into(),
        ]
    }

    fn state(&self) -> Vec<ScalarValue> {
        let ts = Int64Array::from_iter_values(self.events.iter().map(|e| e.0));
        let masks = UInt32Array::from_iter_values(self.events.iter().map(|e| e.1));
        vec![
            SingleRowListArrayBuilder::new(Arc::new(ts)).build_list_scalar(),
            SingleRowListArrayBuilder::new(Arc::new(masks)).build_list_scalar(),
        ]
    }

    fn merge(&mut self, states: &[ArrayRef]) -> Result<()> {
        let (Some(ts), Some(masks)) = (
            states.first().and_then(|s| s.as_list_opt::<i32>()),
            states.get(1).and_then(|s| s.as_list_opt::<i32>()),
        ) else {
            return internal_err!("journey event state must be two lists");
        };
        let ts_values = ts.values().as_primitive::<Int64Type>().values();
        let mask_values = masks.values().as_primitive::<UInt32Type>().values();
        for row in 0..ts.len() {
            if ts.is_null(row) || masks.is_null(row) {
                continue;
            }
            let t = ts.value_offsets()[row] as usize..ts.value_offsets()[row + 1] as usize;
            let m = masks.value_offsets()[row] as usize..masks.value_offsets()[row + 1] as usize;
            self.events.extend(
                ts_values[t]
                    .iter()
                    .copied()
                    .zip(mask_values[m].iter().copied()),
            );
        }
        Ok(())
    }

    /// The events in time order. Partitions deliver events in any order, so
    /// ties must be broken by the events themselves for a deterministic
    /// answer: see [`sort_events`].
    fn sorted(&mut self) -> &[Event] {
        sort_events(&mut self.events);
        &self.events
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.events.capacity() * std::mem::size_of::<Event>()
    }
}

/// The events of many groups at once, for the `GroupsAccumulator`s of the
/// event aggregates: one vector per group instead of one boxed accumulator,
/// which is what keeps a GROUP BY over millions of customers cheap.
#[derive(Debug, Default)]
struct EventGroups {
    groups: Vec<Vec<Event>>,
    /// See [`EventLog::add_rows`].
    keep_unmatched: bool,
    /// Events held over all groups: `size()` is called per batch and must
    /// not walk every group.
    held: usize,
}

/// Whether row `row` passes an aggregate's FILTER: NULL does not.
fn passes(filter: Option<&BooleanArray>, row: usize) -> bool {
    filter.is_none_or(|f| is_true(f, row))
}

impl EventGroups {
    fn add_rows(
        &mut self,
        ts: &ArrayRef,
        conditions: &[ArrayRef],
        group_indices: &[usize],
        filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.groups.resize_with(total_num_groups, Vec::new);
        let ts = timestamps(ts)?;
        let masks = condition_masks(conditions, ts.len())?;
        for (row, (&group, mask)) in group_indices.iter().zip(masks).enumerate() {
            if ts.is_valid(row) && (self.keep_unmatched || mask != 0) && passes(filter, row) {
                self.groups[group].push((ts.value(row), mask));
                self.held += 1;
            }
        }
        Ok(())
    }

    fn merge(
        &mut self,
        states: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.groups.resize_with(total_num_groups, Vec::new);
        let (Some(ts), Some(masks)) = (
            states.first().and_then(|s| s.as_list_opt::<i32>()),
            states.get(1).and_then(|s| s.as_list_opt::<i32>()),
        ) else {
            return internal_err!("journey event state must be two lists");
        };
        let ts_values = ts.values().as_primitive::<Int64Type>().values();
        let mask_values = masks.values().as_primitive::<UInt32Type>().values();
        for (row, &group) in group_indices.iter().enumerate() {
            if ts.is_null(row) || masks.is_null(row) {
                continue;
            }
            let t = ts.value_offsets()[row] as usize..ts.value_offsets()[row + 1] as usize;
            let m = masks.value_offsets()[row] as usize..masks.value_offsets()[row + 1] as usize;
            self.held += t.len();
            self.groups[group].extend(
                ts_values[t]
                    .iter()
                    .copied()
                    .zip(mask_values[m].iter().copied()),
            );
        }
        Ok(())
    }

    /// The groups `emit_to` asks for, each sorted by [`sort_events`].
    fn take_sorted(&mut self, emit_to: EmitTo) -> Vec<Vec<Event>> {
        let mut taken = self.take(emit_to);
        taken.iter_mut().for_each(|events| sort_events(events));
        taken
    }

    /// The state of the groups `emit_to` asks for, as [`EventLog::state_fields`].
    fn state(&mut self, emit_to: EmitTo) -> Vec<ArrayRef> {
        let taken = self.take(emit_to);
        let offsets = OffsetBuffer::from_lengths(taken.iter().map(Vec::len));
        let ts = Int64Array::from_iter_values(taken.iter().flatten().map(|e| e.0));
        let masks = UInt32Array::from_iter_values(taken.iter().flatten().map(|e| e.1));
        let list = |values: ArrayRef| -> ArrayRef {
            let field = Arc::new(Field::new_list_field(values.data_type().clone(), true));
            Arc::new(ListArray::new(field, offsets.clone(), values, None))
        };
        vec![list(Arc::new(ts)), list(Arc::new(masks))]
    }

    fn take(&mut self, emit_to: EmitTo) -> Vec<Vec<Event>> {
        let taken = emit_to.take_needed(&mut self.groups);
        self.held -= taken.iter().map(Vec::len).sum::<usize>();
        taken
    }

    /// Each input row as a group of its own: the state of a partial
    /// aggregation that has stopped grouping.
    fn rows_as_state(
        &self,
        ts: &ArrayRef,
        conditions: &[ArrayRef],
        filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        let mut rows = EventGroups {
            keep_unmatched: self.keep_unmatched,
            ..Default::default()
        };
        let groups: Vec<usize> = (0..ts.len()).collect();
        rows.add_rows(ts, conditions, &groups, filter, ts.len())?;
        Ok(rows.state(EmitTo::All))
    }

    /// Lengths rather than capacities, to stay O(1); vectors grow by
    /// doubling, so this is within a factor of two.
    fn size(&self) -> usize {
        std::mem::size_of_val(self)
            + self.groups.capacity() * std::mem::size_of::<Vec<Event>>()
            + self.held * std::mem::size_of::<Event>()
    }
}

/// Sorts events by time; events at the same time go in order of the
/// lowest-numbered condition they satisfy (then the next lowest, …), and
/// events satisfying no condition go last. So a step-1 and a step-2 event at
/// the same instant count as step 1 followed by step 2, whatever the order
/// the rows arrived in.
pub fn sort_events(events: &mut [Event]) {
    // Reversing the bits puts condition 1 in the top bit, so a larger value
    // means a lower-numbered first condition.
    events.sort_unstable_by_key(|&(ts, mask)| (ts, std::cmp::Reverse(mask.reverse_bits())));
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::{IntervalDayTime, IntervalMonthDayNano};

    #[test]
    fn durations_in_micros() {
        let d = |v: ScalarValue| duration_micros(&v);
        assert_eq!(d(ScalarValue::Int64(Some(3600))), Ok(3_600_000_000));
        assert_eq!(d(ScalarValue::UInt8(Some(2))), Ok(2_000_000));
        assert_eq!(d(ScalarValue::Float64(Some(1.5))), Ok(1_500_000));
        assert_eq!(
            d(ScalarValue::IntervalMonthDayNano(Some(
                IntervalMonthDayNano::new(0, 1, 3_600_000_000_000)
            ))),
            Ok(MICROS_PER_DAY + 3_600_000_000)
        );
        assert_eq!(
            d(ScalarValue::IntervalDayTime(Some(IntervalDayTime::new(
                2, 500
            )))),
            Ok(2 * MICROS_PER_DAY + 500_000)
        );
        assert_eq!(d(ScalarValue::DurationSecond(Some(7))), Ok(7_000_000));
        assert!(
            d(ScalarValue::IntervalMonthDayNano(Some(
                IntervalMonthDayNano::new(1, 0, 0)
            )))
            .unwrap_err()
            .contains("not months")
        );
        assert!(d(ScalarValue::Int64(None)).unwrap_err().contains("NULL"));
        assert!(d(ScalarValue::Float64(Some(f64::NAN))).is_err());
        assert!(d(ScalarValue::Int64(Some(i64::MAX))).is_err());
    }

    #[test]
    fn ties_sort_by_lowest_condition() {
        let mut events = vec![
            (5, 0b100),
            (5, 0),
            (1, 0b10),
            (5, 0b10),
            (5, 0b101),
            (5, 0b1),
        ];
        sort_events(&mut events);
        assert_eq!(
            events,
            [
                (1, 0b10),
                (5, 0b101),
                (5, 0b1),
                (5, 0b10),
                (5, 0b100),
                (5, 0)
            ]
        );
    }

    #[test]
    fn event_log_round_trips_through_state() {
        let log = EventLog {
            events: vec![(3, 1), (1, 2), (2, 5)],
        };
        let state = log.state();
        let arrays: Vec<ArrayRef> = state.iter().map(|s| s.to_array().unwrap()).collect();
        let mut merged = EventLog::default();
        merged.merge(&arrays).unwrap();
        merged.merge(&arrays).unwrap();
        assert_eq!(
            merged.sorted(),
            [(1, 2), (1, 2), (2, 5), (2, 5), (3, 1), (3, 1)]
        );
    }

    #[test]
    fn unmatched_and_null_time_rows_are_dropped() {
        use datafusion::arrow::array::TimestampMicrosecondArray;
        let ts: ArrayRef = Arc::new(TimestampMicrosecondArray::from(vec![
            Some(1),
            None,
            Some(3),
            Some(4),
        ]));
        let c1: ArrayRef = Arc::new(BooleanArray::from(vec![
            Some(true),
            Some(true),
            None,
            Some(false),
        ]));
        let c2: ArrayRef = Arc::new(BooleanArray::from(vec![
            Some(true),
            Some(true),
            Some(false),
            Some(true),
        ]));
        let mut log = EventLog::default();
        log.add_rows(&ts, &[c1.clone(), c2.clone()], false).unwrap();
        assert_eq!(log.events, [(1, 0b11), (4, 0b10)]);
        let mut all = EventLog::default();
        all.add_rows(&ts, &[c1, c2], true).unwrap();
        assert_eq!(all.events, [(1, 0b11), (3, 0), (4, 0b10)]);
    }
}
