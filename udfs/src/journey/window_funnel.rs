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
mod tests {
    use super::*;
    use crate::journey::sort_events;
    use datafusion::arrow::array::{AsArray, TimestampMicrosecondArray};
    use datafusion::arrow::datatypes::Int32Type;

    const HOUR: i64 = 3_600_000_000;
    const PLAIN: FunnelMode = FunnelMode {
        strict_order: false,
        strict_deduplication: false,
        strict_increase: false,
    };

    /// Events given as (hour, step) with step 0 meaning "no condition".
    fn level(events: &[(i64, u32)], steps: usize, window_hours: i64, mode: FunnelMode) -> usize {
        let mut events: Vec<Event> = events
            .iter()
            .map(|&(h, step)| (h * HOUR, if step == 0 { 0 } else { 1 << (step - 1) }))
            .collect();
        sort_events(&mut events);
        funnel_level(&events, steps, window_hours * HOUR, mode)
    }

    #[test]
    fn plain_funnel() {
        assert_eq!(level(&[], 3, 1, PLAIN), 0);
        assert_eq!(level(&[(0, 2), (1, 3)], 3, 5, PLAIN), 0);
        assert_eq!(level(&[(0, 1)], 3, 5, PLAIN), 1);
        assert_eq!(level(&[(0, 1), (1, 2), (2, 3)], 3, 5, PLAIN), 3);
        // Out of window: step 3 at hour 6 is more than 5 after step 1 at 0.
        assert_eq!(level(&[(0, 1), (1, 2), (6, 3)], 3, 5, PLAIN), 2);
        // The window end is inclusive.
        assert_eq!(level(&[(0, 1), (1, 2), (5, 3)], 3, 5, PLAIN), 3);
        // A later step-1 restarts the window: 10 -> 11 -> 14.
        assert_eq!(
            level(&[(0, 1), (1, 2), (10, 1), (11, 2), (14, 3)], 3, 5, PLAIN),
            3
        );
        // Other events in between don't matter without strict_order.
        assert_eq!(
            level(&[(0, 1), (1, 0), (2, 3), (3, 2), (4, 3)], 3, 5, PLAIN),
            3
        );
        // Input order doesn't matter: the events are sorted.
        assert_eq!(level(&[(2, 3), (0, 1), (1, 2)], 3, 5, PLAIN), 3);
    }

    #[test]
    fn one_row_advances_one_step() {
        // One row satisfying every condition is only step 1.
        let events = [(0, 0b111)];
        assert_eq!(funnel_level(&events, 3, HOUR, PLAIN), 1);
        // Two such rows: steps 1 and 2.
        let events = [(0, 0b111), (1, 0b111)];
        assert_eq!(funnel_level(&events, 3, 5 * HOUR, PLAIN), 2);
    }

    #[test]
    fn strict_order_stops_at_intervening_events() {
        let mode = FunnelMode {
            strict_order: true,
            ..PLAIN
        };
        // A -> B -> D -> C: D is not a step, the search stops at 2.
        assert_eq!(level(&[(0, 1), (1, 2), (2, 0), (3, 3)], 3, 5, mode), 2);
        assert_eq!(level(&[(0, 1), (1, 2), (2, 0), (3, 3)], 3, 5, PLAIN), 3);
        // A -> C -> B -> C: C out of order stops at 1.
        assert_eq!(level(&[(0, 1), (1, 3), (2, 2), (3, 3)], 3, 5, mode), 1);
        // Unrelated events before the first step don't count.
        assert_eq!(
            level(&[(0, 0), (1, 3), (2, 1), (3, 2), (4, 3)], 3, 5, mode),
            3
        );
        // Repeating a reached step is allowed.
        assert_eq!(level(&[(0, 1), (1, 2), (2, 2), (3, 3)], 3, 5, mode), 3);
    }

    #[test]
    fn strict_deduplication_stops_at_repeats() {
        let mode = FunnelMode {
            strict_deduplication: true,
            ..PLAIN
        };
        assert_eq!(level(&[(0, 1), (1, 2), (2, 2), (3, 3)], 3, 5, mode), 2);
        assert_eq!(level(&[(0, 1), (1, 2), (2, 2), (3, 3)], 3, 5, PLAIN), 3);
        // A repeated step 1 just restarts.
        assert_eq!(level(&[(0, 1), (1, 1), (2, 2), (3, 3)], 3, 5, mode), 3);
        // A row that repeats step 2 ends the search even if it is also step 3
        // (ClickHouse takes its conditions as separate events, lowest first).
        let events = [(0, 0b001), (HOUR, 0b010), (2 * HOUR, 0b110)];
        assert_eq!(funnel_level(&events, 3, 5 * HOUR, mode), 2);
        assert_eq!(funnel_level(&events, 3, 5 * HOUR, PLAIN), 3);
    }

    #[test]
    fn strict_increase_needs_later_times() {
        let mode = FunnelMode {
            strict_increase: true,
            ..PLAIN
        };
        assert_eq!(level(&[(0, 1), (0, 2), (1, 3)], 3, 5, mode), 1);
        assert_eq!(level(&[(0, 1), (0, 2), (1, 3)], 3, 5, PLAIN), 3);
        assert_eq!(level(&[(0, 1), (0, 2), (1, 2), (1, 3)], 3, 5, mode), 2);
        assert_eq!(level(&[(0, 1), (0, 2), (1, 2), (2, 3)], 3, 5, mode), 3);
    }

    #[test]
    fn modes_parse() {
        let p = Param::new(NAME, 4, "mode");
        let text = |s: &str| ScalarValue::Utf8(Some(s.to_string()));
        assert_eq!(
            FunnelMode::parse(p, Some(&text("Strict_Order, strict_increase"))).unwrap(),
            FunnelMode {
                strict_order: true,
                strict_increase: true,
                ..PLAIN
            }
        );
        let err = FunnelMode::parse(p, Some(&text("strict")))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("window_funnel: argument 5 (mode) must be 'strict_order'"),
            "{err}"
        );
        assert!(FunnelMode::parse(p, Some(&ScalarValue::Utf8(None))).is_err());
    }

    /// SplitMix64: deterministic test data without a `rand` dependency.
    fn next(state: &mut u64) -> u64 {
        *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = *state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn batch(rows: &[(i64, [bool; 3])]) -> Vec<ArrayRef> {
        let ts = TimestampMicrosecondArray::from_iter_values(rows.iter().map(|r| r.0));
        let mut out: Vec<ArrayRef> = vec![
            Arc::new(
                ScalarValue::Int64(Some(0))
                    .to_array_of_size(rows.len())
                    .unwrap(),
            ),
            Arc::new(ts),
        ];
        for c in 0..3 {
            out.push(Arc::new(BooleanArray::from_iter(
                rows.iter().map(|r| Some(r.1[c])),
            )));
        }
        out
    }

    #[test]
    fn merged_partial_states_equal_one_pass() {
        let mut seed = 11;
        for case in 0..200 {
            let rows: Vec<(i64, [bool; 3])> = (0..next(&mut seed) % 40)
                .map(|_| {
                    let ts = (next(&mut seed) % 20) as i64 * HOUR;
                    let step = next(&mut seed) % 4;
                    (ts, [step == 1, step == 2, step == 3])
                })
                .collect();
            let modes = [
                PLAIN,
                FunnelMode {
                    strict_order: true,
                    ..PLAIN
                },
                FunnelMode {
                    strict_deduplication: true,
                    ..PLAIN
                },
                FunnelMode {
                    strict_increase: true,
                    ..PLAIN
                },
            ];
            let mode = modes[case % 4];
            let settings = FunnelSettings {
                window: 3 * HOUR,
                conditions: 3,
                mode,
            };
            let new = || FunnelAccumulator {
                settings,
                log: EventLog::default(),
            };
            let mut whole = new();
            whole.update_batch(&batch(&rows)).unwrap();
            let mut merged = new();
            for part in rows.chunks(7) {
                let mut partial = new();
                partial.update_batch(&batch(part)).unwrap();
                let state: Vec<ArrayRef> = partial
                    .state()
                    .unwrap()
                    .iter()
                    .map(|s| s.to_array().unwrap())
                    .collect();
                merged.merge_batch(&state).unwrap();
            }
            // Reversed input order must not change the answer either.
            let mut reversed = new();
            let back: Vec<_> = rows.iter().rev().copied().collect();
            reversed.update_batch(&batch(&back)).unwrap();
            let want = whole.evaluate().unwrap();
            assert_eq!(merged.evaluate().unwrap(), want, "{rows:?} {mode:?}");
            assert_eq!(reversed.evaluate().unwrap(), want, "{rows:?} {mode:?}");
        }
    }
    #[test]
    fn groups_accumulator_agrees_with_one_accumulator_per_group() {
        let mut seed = 23;
        let rows: Vec<(usize, (i64, [bool; 3]))> = (0..500)
            .map(|_| {
                let group = (next(&mut seed) % 9) as usize;
                let ts = (next(&mut seed) % 30) as i64 * HOUR;
                let step = next(&mut seed) % 4;
                (group, (ts, [step == 1, step == 2, step == 3]))
            })
            .collect();
        for mode in [
            PLAIN,
            FunnelMode {
                strict_order: true,
                ..PLAIN
            },
            FunnelMode {
                strict_deduplication: true,
                strict_increase: true,
                ..PLAIN
            },
        ] {
            let settings = FunnelSettings {
                window: 4 * HOUR,
                conditions: 3,
                mode,
            };
            let new_groups = || FunnelGroupsAccumulator {
                settings,
                groups: EventGroups {
                    keep_unmatched: mode.strict_order,
                    ..Default::default()
                },
            };
            // Two partial accumulators over halves of the rows, merged into a
            // final one in a different group numbering (reversed).
            let mut last = new_groups();
            for half in rows.chunks(250) {
                let mut partial = new_groups();
                let groups: Vec<usize> = half.iter().map(|r| r.0).collect();
                let data: Vec<_> = half.iter().map(|r| r.1).collect();
                partial
                    .update_batch(&batch(&data), &groups, None, 9)
                    .unwrap();
                let state = partial.state(EmitTo::All).unwrap();
                let renumbered: Vec<usize> = (0..9).map(|g| 8 - g).collect();
                last.merge_batch(&state, &renumbered, 9).unwrap();
            }
            let got = last.evaluate(EmitTo::All).unwrap();
            let got = got.as_primitive::<Int32Type>();
            for group in 0..9 {
                let mut one = FunnelAccumulator {
                    settings,
                    log: EventLog::default(),
                };
                let data: Vec<_> = rows.iter().filter(|r| r.0 == group).map(|r| r.1).collect();
                one.update_batch(&batch(&data)).unwrap();
                assert_eq!(
                    one.evaluate().unwrap(),
                    ScalarValue::Int32(Some(got.value(8 - group))),
                    "group {group} {mode:?}"
                );
            }
        }
    }

    /// The funnel definition read literally, for sorted `events`: a chain
    /// is a list of distinct rows in event order whose j-th row satisfies
    /// cond j, all within `window` of the first (and, with strict_increase,
    /// each strictly later than the one before). Every chain is enumerated.
    /// The search ends at the first row that a mode rejects, judged by the
    /// chains of the rows before it, and the answer is the longest chain of
    /// the rows before that point.
    fn brute_force_level(events: &[Event], steps: usize, window: i64, mode: FunnelMode) -> usize {
        let has = |row: usize, step: usize| events[row].1 & (1 << step) != 0;
        // ends_by[len]: the earliest row at which some chain of `len` steps ends.
        let mut ends_by = vec![usize::MAX; steps + 1];
        fn extend(
            chain: &mut Vec<usize>,
            events: &[Event],
            steps: usize,
            window: i64,
            mode: FunnelMode,
            ends_by: &mut [usize],
        ) {
            let len = chain.len();
            let last = chain[len - 1];
            ends_by[len] = ends_by[len].min(last);
            if len == steps {
                return;
            }
            let start = events[chain[0]].0;
            for next in last + 1..events.len() {
                let (ts, mask) = events[next];
                if mask & (1 << len) == 0 || ts > start + window {
                    continue;
                }
                if mode.strict_increase && ts <= events[last].0 {
                    continue;
                }
                chain.push(next);
                extend(chain, events, steps, window, mode, ends_by);
                chain.pop();
            }
        }
        for first in (0..events.len()).filter(|&row| has(row, 0)) {
            extend(&mut vec![first], events, steps, window, mode, &mut ends_by);
        }
        // The longest chain among the rows before `row`.
        let longest_before =
            |row: usize| (1..=steps).rev().find(|&l| ends_by[l] < row).unwrap_or(0);
        for row in 0..events.len() {
            let reached = longest_before(row);
            let started = (0..row).any(|r| has(r, 0));
            let conditions: Vec<usize> = (0..steps).filter(|&k| has(row, k)).collect();
            // Condition k (0-based) extends a chain of k steps or repeats step k+1.
            let usable = conditions.iter().any(|&k| k == 0 || reached >= k);
            if mode.strict_order && started && !usable {
                return reached;
            }
            let repeats = conditions.iter().any(|&k| k > 0 && reached > k);
            if mode.strict_deduplication && repeats {
                return reached;
            }
        }
        longest_before(events.len())
    }

    #[test]
    fn brute_force_reads_the_definition() {
        // Hand-checked cases for the reference itself.
        let hours = |events: &[(i64, u32)]| -> Vec<Event> {
            let mut e: Vec<Event> = events.iter().map(|&(h, m)| (h * HOUR, m)).collect();
            sort_events(&mut e);
            e
        };
        let increase = FunnelMode {
            strict_increase: true,
            ..PLAIN
        };
        let e = hours(&[(0, 1), (1, 2), (6, 4)]);
        assert_eq!(brute_force_level(&e, 3, 5 * HOUR, PLAIN), 2);
        assert_eq!(brute_force_level(&e, 3, 6 * HOUR, PLAIN), 3);
        let e = hours(&[(0, 1), (0, 2), (1, 4)]);
        assert_eq!(brute_force_level(&e, 3, 5 * HOUR, PLAIN), 3);
        assert_eq!(brute_force_level(&e, 3, 5 * HOUR, increase), 1);
        let dedup = FunnelMode {
            strict_deduplication: true,
            ..PLAIN
        };
        let e = hours(&[(0, 1), (1, 2), (2, 2), (3, 4)]);
        assert_eq!(brute_force_level(&e, 3, 5 * HOUR, dedup), 2);
        let order = FunnelMode {
            strict_order: true,
            ..PLAIN
        };
        let e = hours(&[(0, 1), (1, 2), (2, 0), (3, 4)]);
        assert_eq!(brute_force_level(&e, 3, 5 * HOUR, order), 2);
    }

    /// An older chain can be the one to extend under strict_increase: the
    /// newest chain to reach step 2 did so at the very instant of step 3.
    #[test]
    fn strict_increase_keeps_an_older_chain_that_ended_earlier() {
        let mode = FunnelMode {
            strict_increase: true,
            ..PLAIN
        };
        // 0 -> 1 -> 3 is a funnel; 2 -> 3 -> 3 is not.
        let events = [(0, 1), (1, 2), (2, 1), (3, 2), (3, 3)];
        assert_eq!(level(&events, 3, 10, mode), 3);
        // Without strict_increase the newer chain 2 -> 3 -> 3 is fine too.
        assert_eq!(level(&events, 3, 10, PLAIN), 3);
        // The older chain still needs its own window: 0 + 2 < 3.
        assert_eq!(level(&events, 3, 2, mode), 2);
    }

    /// The one-pass state machine against the brute force on random event
    /// logs: few distinct times (many ties), rows satisfying several or no
    /// conditions, shuffled input, windows from 0 (inclusive edges) upwards,
    /// every combination of modes.
    #[test]
    fn state_machine_agrees_with_brute_force() {
        let mut seed = 0xF00D;
        let mut tally = vec![0usize; 5];
        for case in 0..20_000 {
            let steps = 1 + (next(&mut seed) % 4) as usize;
            let len = (next(&mut seed) % 13) as usize;
            let times = 1 + next(&mut seed) % 8;
            let mut events: Vec<Event> = (0..len)
                .map(|_| {
                    let ts = (next(&mut seed) % times) as i64 * HOUR;
                    let mask = match next(&mut seed) % 10 {
                        // No condition.
                        0 => 0,
                        // Any combination of conditions.
                        1 | 2 => (next(&mut seed) % (1 << steps)) as u32,
                        // One condition, the common case.
                        _ => 1 << (next(&mut seed) % steps as u64),
                    };
                    (ts, mask)
                })
                .collect();
            let window = (next(&mut seed) % 5) as i64 * HOUR;
            let mode = FunnelMode {
                strict_order: case & 1 != 0,
                strict_deduplication: case & 2 != 0,
                strict_increase: case & 4 != 0,
            };
            // The accumulator sorts for itself; it sees the rows unsorted.
            let unsorted = events.clone();
            sort_events(&mut events);
            let want = brute_force_level(&events, steps, window, mode);
            tally[want] += 1;
            let got = funnel_level(&events, steps, window, mode);
            assert_eq!(
                got, want,
                "case {case}: steps {steps}, window {window}, {mode:?}, {events:?}"
            );
            if steps == 3 && unsorted.iter().all(|e| e.1 < 8) {
                let rows: Vec<(i64, [bool; 3])> = unsorted
                    .iter()
                    .map(|&(ts, m)| (ts, [m & 1 != 0, m & 2 != 0, m & 4 != 0]))
                    .collect();
                let mut acc = FunnelAccumulator {
                    settings: FunnelSettings {
                        window,
                        conditions: 3,
                        mode,
                    },
                    log: EventLog::default(),
                };
                acc.update_batch(&batch(&rows)).unwrap();
                assert_eq!(
                    acc.evaluate().unwrap(),
                    ScalarValue::Int32(Some(want as i32)),
                    "case {case}: accumulator, window {window}, {mode:?}, {rows:?}"
                );
            }
        }
        // Every level occurs often enough to mean something.
        assert!(tally.iter().all(|&n| n > 100), "{tally:?}");
    }

    #[test]
    fn groups_filter_and_partial_emit() {
        let settings = FunnelSettings {
            window: HOUR,
            conditions: 3,
            mode: PLAIN,
        };
        let mut acc = FunnelGroupsAccumulator {
            settings,
            groups: EventGroups::default(),
        };
        let data = [
            (0, [true, false, false]),
            (1, [false, true, false]),
            (0, [true, false, false]),
        ];
        // The second row is filtered out, so group 0 has only step 1.
        let filter = BooleanArray::from(vec![Some(true), None, Some(true)]);
        acc.update_batch(&batch(&data), &[0, 0, 1], Some(&filter), 2)
            .unwrap();
        let first = acc.evaluate(EmitTo::First(1)).unwrap();
        assert_eq!(first.as_primitive::<Int32Type>().values(), &[1]);
        let rest = acc.evaluate(EmitTo::All).unwrap();
        assert_eq!(rest.as_primitive::<Int32Type>().values(), &[1]);

        // Rows turned straight into states (partial aggregation skipped)
        // merge to the same answer; the filtered row stays out.
        let state = acc.convert_to_state(&batch(&data), Some(&filter)).unwrap();
        let mut merged = FunnelGroupsAccumulator {
            settings,
            groups: EventGroups::default(),
        };
        merged.merge_batch(&state, &[0, 0, 1], 2).unwrap();
        let levels = merged.evaluate(EmitTo::All).unwrap();
        assert_eq!(levels.as_primitive::<Int32Type>().values(), &[1, 1]);
        let unfiltered = acc.convert_to_state(&batch(&data), None).unwrap();
        let mut merged = FunnelGroupsAccumulator {
            settings,
            groups: EventGroups::default(),
        };
        merged.merge_batch(&unfiltered, &[0, 0, 1], 2).unwrap();
        let levels = merged.evaluate(EmitTo::All).unwrap();
        assert_eq!(levels.as_primitive::<Int32Type>().values(), &[2, 1]);
    }
}
