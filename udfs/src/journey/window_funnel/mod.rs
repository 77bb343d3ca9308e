//! `window_funnel(window, ts, cond1, …, condN [, mode])`.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, BooleanArray, Int32Array};
use datafusion::arrow::datatypes::{DataType, FieldRef};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, Documentation, EmitTo, GroupsAccumulator, Signature, Volatility,
};
use datafusion_macros::user_doc;

use super::{
    Event, EventGroups, EventLog, MAX_CONDITIONS, cond_param, condition_type, duration_arg,
    duration_type, timestamp_type,
};
use crate::common::{Param, arity_error, check_arity};

const NAME: &str = "window_funnel";
const WINDOW: Param = Param::new(NAME, 0, "window");
const TS: Param = Param::new(NAME, 1, "ts");

#[user_doc(
    doc_section(label = "Journey Functions"),
    description = "The number of consecutive funnel steps (cond1, then cond2, …) a group reached \
within `window` of the step-1 event that started the chain, as ClickHouse's windowFunnel: events \
are taken in time order; a step-1 event starts a chain; an event satisfying cond k extends a chain \
that reached step k-1 if its time is at most `window` after that chain's step-1 event (inclusive). \
Returns the longest chain reached, 0 when no row satisfies cond1. One row advances a chain by at \
most one step even if it satisfies several conditions. Rows with a NULL ts are ignored, a NULL \
condition is false. Events at the same time are taken in order of the lowest-numbered condition \
they satisfy, so a step-1 and a step-2 event at the same instant do count as two steps (unless \
'strict_increase'). Modes (one, or several separated by commas): 'strict_order': after the first \
step-1 event, a row that cannot extend or repeat a reached step (including a row satisfying no \
condition at all) ends the search; 'strict_deduplication': a row repeating a step already reached \
(other than step 1, which starts a new chain) ends the search; 'strict_increase': each step must \
be strictly later than the previous step of its chain. Where the search ends, the result is the \
longest chain reached before the row that ends it (that row adds nothing) (ClickHouse's strict_deduplication returns the step of the event \
before the repeat instead). Returns Int32 (ClickHouse: UInt8).",
    syntax_example = "window_funnel(window, ts, cond1 [, cond2, …, cond32] [, mode])",
    sql_example = r#"```sql
> SELECT c, window_funnel(INTERVAL '1 hour', ts, e = 'view', e = 'cart', e = 'buy') AS steps
  FROM (VALUES ('a', TIMESTAMP '2026-01-01 10:00:00', 'view'), ('a', TIMESTAMP '2026-01-01 10:05:00', 'cart'),
               ('a', TIMESTAMP '2026-01-01 10:30:00', 'buy'), ('b', TIMESTAMP '2026-01-01 10:00:00', 'view'),
               ('b', TIMESTAMP '2026-01-01 12:00:00', 'cart')) AS t(c, ts, e)
  GROUP BY c ORDER BY c;
+---+-------+
| c | steps |
+---+-------+
| a | 3     |
| b | 1     |
+---+-------+
```"#,
    argument(
        name = "window",
        description = "Constant: an INTERVAL of days, hours, minutes or seconds (not months or years), \
a DURATION, or a number of seconds (integer or float)."
    ),
    argument(
        name = "ts",
        description = "Event time: a timestamp of any unit, with or without time zone, or a date (midnight)."
    ),
    argument(
        name = "cond1, …, condN",
        description = "1 to 32 boolean step conditions, in funnel order. NULL counts as false."
    ),
    argument(
        name = "mode",
        description = "Optional constant text: 'strict_order', 'strict_deduplication', \
'strict_increase', or several of them separated by commas."
    )
)]
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct WindowFunnel {
    signature: Signature,
}

impl WindowFunnel {
    /// The `window_funnel` aggregate function.
    pub fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl Default for WindowFunnel {
    fn default() -> Self {
        Self::new()
    }
}

fn is_text(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
    )
}

/// How many of `arg_types` are conditions, and whether a mode follows them.
fn layout(arg_types: &[DataType]) -> (usize, bool) {
    let has_mode = arg_types.len() > 3 && arg_types.last().is_some_and(is_text);
    (arg_types.len() - 2 - usize::from(has_mode), has_mode)
}

impl AggregateUDFImpl for WindowFunnel {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        check_arity(NAME, arg_types.len(), 3..=MAX_CONDITIONS + 3)?;
        let (conditions, has_mode) = layout(arg_types);
        if conditions > MAX_CONDITIONS {
            return Err(arity_error(
                NAME,
                &format!(
                    "at most {MAX_CONDITIONS} conditions, so at most {}",
                    MAX_CONDITIONS + 3
                ),
                arg_types.len(),
            ));
        }
        let mut types = vec![
            duration_type(WINDOW, &arg_types[0])?,
            timestamp_type(TS, &arg_types[1])?,
        ];
        for (number, t) in arg_types[2..2 + conditions].iter().enumerate() {
            types.push(condition_type(cond_param(NAME, 2 + number, number), t)?);
        }
        if has_mode {
            types.push(arg_types[arg_types.len() - 1].clone());
        }
        Ok(types)
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int32)
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let settings = FunnelSettings::of(&args)?;
        Ok(Box::new(FunnelAccumulator {
            log: EventLog::default(),
            settings,
        }))
    }

    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }

    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        let settings = FunnelSettings::of(&args)?;
        Ok(Box::new(FunnelGroupsAccumulator {
            groups: EventGroups {
                keep_unmatched: settings.mode.strict_order,
                ..Default::default()
            },
            settings,
        }))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(EventLog::state_fields(args.name))
    }

    /// No matching event means no step reached, not an unknown one.
    fn default_value(&self, _data_type: &DataType) -> Result<ScalarValue> {
        Ok(ScalarValue::Int32(Some(0)))
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}

/// The optional strictness rules of a funnel; any combination may be on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FunnelMode {
    /// A row that can neither extend nor repeat a reached step ends the search.
    pub strict_order: bool,
    /// A row repeating a reached step (other than step 1) ends the search.
    pub strict_deduplication: bool,
    /// Each step must be strictly later than the one before it.
    pub strict_increase: bool,
}

impl FunnelMode {
    fn parse(param: Param, value: Option<&ScalarValue>) -> Result<Self> {
        let allowed = "'strict_order', 'strict_deduplication' or 'strict_increase' (or several, comma-separated)";
        let Some(text) = value.and_then(|v| v.try_as_str().flatten()) else {
            let shown = value.map_or("nothing".to_string(), |v| v.to_string());
            return Err(param.error(format_args!("must be {allowed}, got {shown}")));
        };
        let mut mode = Self::default();
        for word in text.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            match word.to_ascii_lowercase().as_str() {
                "strict_order" => mode.strict_order = true,
                "strict_deduplication" => mode.strict_deduplication = true,
                "strict_increase" => mode.strict_increase = true,
                _ => {
                    return Err(param.error(format_args!("must be {allowed}, got '{word}'")));
                }
            }
        }
        Ok(mode)
    }
}

/// What a call fixes for all its groups, read from the plan once.
#[derive(Debug, Clone, Copy)]
struct FunnelSettings {
    window: i64,
    conditions: usize,
    mode: FunnelMode,
}

impl FunnelSettings {
    fn of(args: &AccumulatorArgs) -> Result<Self> {
        let types: Vec<DataType> = args
            .expr_fields
            .iter()
            .map(|f| f.data_type().clone())
            .collect();
        let (conditions, has_mode) = layout(&types);
        let mode = if has_mode {
            let param = Param::new(NAME, types.len() - 1, "mode");
            FunnelMode::parse(param, param.literal(args.exprs)?)?
        } else {
            FunnelMode::default()
        };
        Ok(Self {
            window: duration_arg(WINDOW, args.exprs)?,
            conditions,
            mode,
        })
    }

    fn level(&self, sorted: &[Event]) -> i32 {
        // At most 32 steps, so the level always fits.
        funnel_level(sorted, self.conditions, self.window, self.mode) as i32
    }
}

#[derive(Debug)]
struct FunnelAccumulator {
    settings: FunnelSettings,
    log: EventLog,
}

impl Accumulator for FunnelAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.log.add_rows(
            &values[1],
            &values[2..2 + self.settings.conditions],
            self.settings.mode.strict_order,
        )
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(ScalarValue::Int32(Some(
            self.settings.level(self.log.sorted()),
        )))
    }

    fn size(&self) -> usize {
        self.log.size()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(self.log.state())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        self.log.merge(states)
    }
}

#[derive(Debug)]
struct FunnelGroupsAccumulator {
    settings: FunnelSettings,
    groups: EventGroups,
}

impl GroupsAccumulator for FunnelGroupsAccumulator {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.groups.add_rows(
            &values[1],
            &values[2..2 + self.settings.conditions],
            group_indices,
            opt_filter,
            total_num_groups,
        )
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let levels = self.groups.take_sorted(emit_to);
        Ok(Arc::new(Int32Array::from_iter_values(
            levels.iter().map(|events| self.settings.level(events)),
        )))
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        Ok(self.groups.state(emit_to))
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.groups.merge(values, group_indices, total_num_groups)
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        self.groups.rows_as_state(
            &values[1],
            &values[2..2 + self.settings.conditions],
            opt_filter,
        )
    }

    fn size(&self) -> usize {
        self.groups.size()
    }
}

/// The funnel level of `events` (sorted as by [`super::sort_events`]) over
/// `steps` conditions with `window` microseconds.
///
/// For each step only the latest start among the chains reaching it is kept:
/// a later start leaves more of the window, and every extension comes from
/// the step below, so that finds the longest chain in one pass. Under
/// strict_increase a chain whose last step is at the current instant cannot
/// be extended at that instant, while an older chain with an earlier start
/// may be; so starts are kept apart by whether the chain ended before the
/// current instant or at it, and merged when time moves on.
pub fn funnel_level(events: &[Event], steps: usize, window: i64, mode: FunnelMode) -> usize {
    let mut before: Vec<Option<i64>> = vec![None; steps];
    let mut at_now: Vec<Option<i64>> = vec![None; steps];
    let mut now = None;
    let reached = |before: &[Option<i64>], at_now: &[Option<i64>]| {
        (0..steps)
            .take_while(|&k| before[k].is_some() || at_now[k].is_some())
            .count()
    };
    let mut started = false;
    for &(ts, mask) in events {
        if now != Some(ts) {
            for (b, a) in before.iter_mut().zip(at_now.iter_mut()) {
                *b = (*b).max(a.take());
            }
            now = Some(ts);
        }
        let level = reached(&before, &at_now);
        let has = |k: usize| mask & (1 << k) != 0;
        // Condition k (0-based) extends a chain of k steps or repeats step
        // k+1 when at least k steps are reached.
        if mode.strict_order && started && !(0..steps).any(|k| has(k) && level >= k) {
            return level;
        }
        // Checked before the row extends anything: a row that ends the search
        // counts for nothing, whichever of its conditions comes first.
        if mode.strict_deduplication && (1..steps).any(|k| has(k) && level > k) {
            return level;
        }
        // Highest step first, so one row extends a chain by one step only:
        // the lower steps it also satisfies are updated after.
        for k in (0..steps).rev().filter(|&k| has(k)) {
            if k == 0 {
                at_now[0] = Some(ts);
                started = true;
                continue;
            }
            let from = if mode.strict_increase {
                before[k - 1]
            } else {
                before[k - 1].max(at_now[k - 1])
            };
            let Some(start) = from else {
                continue;
            };
            if ts <= start.saturating_add(window) {
                at_now[k] = at_now[k].max(Some(start));
                if k + 1 == steps {
                    return steps;
                }
            }
        }
    }
    reached(&before, &at_now)
}

#[cfg(test)]
mod tests;
