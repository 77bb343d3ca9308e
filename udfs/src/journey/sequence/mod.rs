//! `sequence_match(pattern, ts, cond1, …)` and `sequence_count(pattern, ts, cond1, …)`.

use std::collections::HashSet;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, BooleanArray, Int64Array};
use datafusion::arrow::datatypes::{DataType, FieldRef};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, Documentation, EmitTo, GroupsAccumulator, Signature, Volatility,
};
use datafusion_macros::user_doc;

use super::{
    Event, EventGroups, EventLog, MAX_CONDITIONS, MICROS_PER_SECOND, cond_param, condition_type,
    timestamp_type,
};
use crate::common::{Param, check_arity};

const MATCH: &str = "sequence_match";
const COUNT: &str = "sequence_count";

#[user_doc(
    doc_section(label = "Journey Functions"),
    description = "Whether the group's events, in time order, contain the pattern, as ClickHouse's \
sequenceMatch. Only rows satisfying at least one condition are events; rows with a NULL ts are \
ignored; NULL conditions are false. Pattern syntax: `(?N)` an event satisfying condN; `.` any one \
event; `.*` any number of events; `(?t<=S)`, `(?t<S)`, `(?t>=S)`, `(?t>S)`, `(?t==S)` between two \
steps: the second step's time minus the first's, in seconds, compared with S (any number of events \
may lie between them). The match may start at any event. Events at the same time are taken in \
order of the lowest-numbered condition they satisfy. Differences from ClickHouse: a time constraint \
must stand between two steps (ClickHouse accepts it anywhere); times are compared to the \
microsecond, not the second. An invalid pattern is a planning error naming its position. \
Returns Boolean.",
    syntax_example = "sequence_match(pattern, ts, cond1 [, cond2, …, cond32])",
    sql_example = r#"```sql
> SELECT c, sequence_match('(?1)(?t<=3600)(?2)', ts, e = 'view', e = 'buy') AS bought_within_hour
  FROM (VALUES ('a', TIMESTAMP '2026-01-01 10:00:00', 'view'), ('a', TIMESTAMP '2026-01-01 10:05:00', 'cart'),
               ('a', TIMESTAMP '2026-01-01 10:30:00', 'buy'), ('b', TIMESTAMP '2026-01-01 10:00:00', 'view'),
               ('b', TIMESTAMP '2026-01-01 12:00:00', 'cart')) AS t(c, ts, e)
  GROUP BY c ORDER BY c;
+---+--------------------+
| c | bought_within_hour |
+---+--------------------+
| a | true               |
| b | false              |
+---+--------------------+
```"#,
    argument(
        name = "pattern",
        description = "Constant text: the pattern, see above."
    ),
    argument(
        name = "ts",
        description = "Event time: a timestamp of any unit, with or without time zone, or a date (midnight)."
    ),
    argument(
        name = "cond1, …, condN",
        description = "1 to 32 boolean conditions, referred to as (?1) … (?N). NULL counts as false."
    )
)]
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct SequenceMatch {
    signature: Signature,
}

#[user_doc(
    doc_section(label = "Journey Functions"),
    description = "The number of non-overlapping matches of the pattern in the group's events, as \
ClickHouse's sequenceCount: the first match is found, then the search resumes after its last event. \
`.*` takes as few events as possible. Pattern syntax, events and ties are as for sequence_match. \
Returns Int64.",
    syntax_example = "sequence_count(pattern, ts, cond1 [, cond2, …, cond32])",
    sql_example = r#"```sql
> SELECT sequence_count('(?1)(?2)', ts, x = 'view', x = 'buy') AS n
  FROM (VALUES (1, 'view'), (2, 'buy'), (3, 'view'), (4, 'view'), (5, 'buy')) AS t(ts, x);
+---+
| n |
+---+
| 2 |
+---+
```"#,
    argument(
        name = "pattern",
        description = "Constant text: the pattern, see sequence_match."
    ),
    argument(
        name = "ts",
        description = "Event time: a timestamp of any unit, with or without time zone, or a date (midnight)."
    ),
    argument(
        name = "cond1, …, condN",
        description = "1 to 32 boolean conditions, referred to as (?1) … (?N). NULL counts as false."
    )
)]
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct SequenceCount {
    signature: Signature,
}

impl SequenceMatch {
    /// The `sequence_match` aggregate function.
    pub fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl Default for SequenceMatch {
    fn default() -> Self {
        Self::new()
    }
}

impl SequenceCount {
    /// The `sequence_count` aggregate function.
    pub fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl Default for SequenceCount {
    fn default() -> Self {
        Self::new()
    }
}

fn coerce(func: &'static str, arg_types: &[DataType]) -> Result<Vec<DataType>> {
    check_arity(func, arg_types.len(), 3..=MAX_CONDITIONS + 2)?;
    let pattern = match &arg_types[0] {
        t @ (DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View) => t.clone(),
        other => {
            return Err(Param::new(func, 0, "pattern")
                .error(format_args!("must be a text pattern, got {other}")));
        }
    };
    let mut types = vec![
        pattern,
        timestamp_type(Param::new(func, 1, "ts"), &arg_types[1])?,
    ];
    for (number, t) in arg_types[2..].iter().enumerate() {
        types.push(condition_type(cond_param(func, 2 + number, number), t)?);
    }
    Ok(types)
}

/// The parsed pattern and condition count of a physical call.
fn settings(func: &'static str, args: &AccumulatorArgs) -> Result<(Pattern, usize)> {
    let param = Param::new(func, 0, "pattern");
    let conditions = args.exprs.len() - 2;
    let text = param
        .literal(args.exprs)?
        .and_then(|v| v.try_as_str().flatten())
        .ok_or_else(|| param.error("must not be NULL"))?;
    let pattern = Pattern::parse(text, conditions).map_err(|why| param.error(why))?;
    Ok((pattern, conditions))
}

fn accumulator(
    func: &'static str,
    args: AccumulatorArgs,
    count: bool,
) -> Result<Box<dyn Accumulator>> {
    let (pattern, conditions) = settings(func, &args)?;
    Ok(Box::new(SequenceAccumulator {
        pattern,
        conditions,
        count,
        log: EventLog::default(),
    }))
}

fn groups_accumulator(
    func: &'static str,
    args: AccumulatorArgs,
    count: bool,
) -> Result<Box<dyn GroupsAccumulator>> {
    let (pattern, conditions) = settings(func, &args)?;
    Ok(Box::new(SequenceGroupsAccumulator {
        pattern,
        conditions,
        count,
        groups: EventGroups::default(),
    }))
}

impl AggregateUDFImpl for SequenceMatch {
    fn name(&self) -> &str {
        MATCH
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        coerce(MATCH, arg_types)
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Boolean)
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        accumulator(MATCH, args, false)
    }

    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }

    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        groups_accumulator(MATCH, args, false)
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(EventLog::state_fields(args.name))
    }

    fn default_value(&self, _data_type: &DataType) -> Result<ScalarValue> {
        Ok(ScalarValue::Boolean(Some(false)))
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}

impl AggregateUDFImpl for SequenceCount {
    fn name(&self) -> &str {
        COUNT
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        coerce(COUNT, arg_types)
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int64)
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        accumulator(COUNT, args, true)
    }

    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }

    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        groups_accumulator(COUNT, args, true)
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(EventLog::state_fields(args.name))
    }

    fn default_value(&self, _data_type: &DataType) -> Result<ScalarValue> {
        Ok(ScalarValue::Int64(Some(0)))
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}

#[derive(Debug)]
struct SequenceAccumulator {
    pattern: Pattern,
    conditions: usize,
    count: bool,
    log: EventLog,
}

impl Accumulator for SequenceAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.log
            .add_rows(&values[1], &values[2..2 + self.conditions], false)
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let events = self.log.sorted();
        Ok(if self.count {
            ScalarValue::Int64(Some(self.pattern.count(events) as i64))
        } else {
            ScalarValue::Boolean(Some(self.pattern.matches(events)))
        })
    }

    fn size(&self) -> usize {
        self.log.size() + std::mem::size_of_val(&self.pattern)
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(self.log.state())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        self.log.merge(states)
    }
}

#[derive(Debug)]
struct SequenceGroupsAccumulator {
    pattern: Pattern,
    conditions: usize,
    count: bool,
    groups: EventGroups,
}

impl GroupsAccumulator for SequenceGroupsAccumulator {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.groups.add_rows(
            &values[1],
            &values[2..2 + self.conditions],
            group_indices,
            opt_filter,
            total_num_groups,
        )
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let groups = self.groups.take_sorted(emit_to);
        Ok(if self.count {
            Arc::new(Int64Array::from_iter_values(
                groups
                    .iter()
                    .map(|events| self.pattern.count(events) as i64),
            ))
        } else {
            Arc::new(BooleanArray::from_iter(
                groups
                    .iter()
                    .map(|events| Some(self.pattern.matches(events))),
            ))
        })
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
        self.groups
            .rows_as_state(&values[1], &values[2..2 + self.conditions], opt_filter)
    }

    fn size(&self) -> usize {
        self.groups.size() + std::mem::size_of_val(&self.pattern)
    }
}

/// A comparison of a time constraint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmp {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
}

impl Cmp {
    fn holds(self, gap: i64, limit: i64) -> bool {
        match self {
            Cmp::Lt => gap < limit,
            Cmp::Le => gap <= limit,
            Cmp::Gt => gap > limit,
            Cmp::Ge => gap >= limit,
            Cmp::Eq => gap == limit,
        }
    }

    /// Whether the constraint can never hold again once it fails: gaps only
    /// grow as later events are tried.
    fn is_upper_bound(self) -> bool {
        matches!(self, Cmp::Lt | Cmp::Le | Cmp::Eq)
    }
}

/// One `(?N)` of a pattern with what stands between it and the step before.
#[derive(Debug, Clone, PartialEq)]
struct Step {
    /// The condition's bit.
    bit: u32,
    /// Events that must lie between this step and the previous one (`.`s);
    /// for the first step, events before it.
    skip: usize,
    /// Whether more events may lie between (`.*` or a time constraint).
    unbounded: bool,
    /// (comparison, microseconds) on the time since the previous step.
    constraints: Vec<(Cmp, i64)>,
}

/// A parsed ClickHouse-style sequence pattern.
#[derive(Debug, Clone, PartialEq)]
pub struct Pattern {
    steps: Vec<Step>,
    /// `.`s after the last step: events that must follow it.
    trailing: usize,
}

impl Pattern {
    /// Parses `text` for `conditions` conditions; the error says what is
    /// wrong and at which 1-based character position.
    pub fn parse(text: &str, conditions: usize) -> std::result::Result<Self, String> {
        let chars: Vec<char> = text.chars().collect();
        let mut steps: Vec<Step> = Vec::new();
        let mut skip = 0;
        let mut unbounded = false;
        let mut constraints = Vec::new();
        let mut pending_time: Option<usize> = None;
        let mut i = 0;
        while i < chars.len() {
            let position = i + 1;
            let rest: String = chars[i..].iter().collect();
            if chars[i].is_whitespace() {
                i += 1;
            } else if rest.starts_with(".*") {
                unbounded = true;
                i += 2;
            } else if chars[i] == '.' {
                skip += 1;
                i += 1;
            } else if rest.starts_with("(?t") {
                let body_end = rest
                    .find(')')
                    .ok_or_else(|| format!("has an unclosed '(?t' at position {position}"))?;
                let body = &rest[3..body_end];
                let (cmp, number) = [
                    ("<=", Cmp::Le),
                    (">=", Cmp::Ge),
                    ("==", Cmp::Eq),
                    ("<", Cmp::Lt),
                    (">", Cmp::Gt),
                ]
                .iter()
                .find_map(|(op, cmp)| body.strip_prefix(op).map(|n| (*cmp, n)))
                .ok_or_else(|| {
                    format!(
                        "has a time constraint without <, <=, >, >= or == at position {position}: '(?t{body})'"
                    )
                })?;
                let seconds: i64 = number.trim().parse().map_err(|_| {
                    format!(
                        "has a time constraint without a whole number of seconds at position {position}: '(?t{body})'"
                    )
                })?;
                if steps.is_empty() {
                    return Err(format!(
                        "has a time constraint before the first step at position {position}: it must stand between two steps"
                    ));
                }
                let micros = seconds
                    .checked_mul(MICROS_PER_SECOND)
                    .ok_or_else(|| format!("has too large a time at position {position}"))?;
                constraints.push((cmp, micros));
                unbounded = true;
                pending_time.get_or_insert(position);
                i += body_end + 1;
            } else if rest.starts_with("(?") {
                let body_end = rest
                    .find(')')
                    .ok_or_else(|| format!("has an unclosed '(?' at position {position}"))?;
                let body = &rest[2..body_end];
                let number: usize = body
                    .parse()
                    .map_err(|_| format!("has '(?{body})' at position {position}, expected (?N) with N a condition number"))?;
                if number == 0 || number > conditions {
                    return Err(format!(
                        "refers to condition {number} at position {position}, but there are {conditions} conditions"
                    ));
                }
                steps.push(Step {
                    bit: number as u32 - 1,
                    skip,
                    unbounded,
                    constraints: std::mem::take(&mut constraints),
                });
                skip = 0;
                unbounded = false;
                pending_time = None;
                i += body_end + 1;
            } else {
                return Err(format!(
                    "has an unexpected '{}' at position {position}",
                    chars[i]
                ));
            }
        }
        if let Some(position) = pending_time {
            return Err(format!(
                "has a time constraint after the last step at position {position}: it must stand between two steps"
            ));
        }
        if steps.is_empty() {
            return Err("has no step: it needs at least one (?N)".to_string());
        }
        Ok(Self {
            steps,
            trailing: skip,
        })
    }

    /// Whether the pattern occurs in `events` (sorted).
    pub fn matches(&self, events: &[Event]) -> bool {
        self.find(events, 0, &mut HashSet::new()).is_some()
    }

    /// The number of non-overlapping occurrences in `events` (sorted).
    pub fn count(&self, events: &[Event]) -> usize {
        // Whether the steps from k on can follow step k-1 at an event depends
        // on nothing before it, so dead ends stay dead across searches.
        let mut dead = HashSet::new();
        let mut from = 0;
        let mut count = 0;
        while let Some(end) = self.find(events, from, &mut dead) {
            count += 1;
            from = end + 1;
        }
        count
    }

    /// The last event of the first match starting at or after `from`.
    fn find(
        &self,
        events: &[Event],
        from: usize,
        dead: &mut HashSet<(usize, usize)>,
    ) -> Option<usize> {
        let first = &self.steps[0];
        (from + first.skip..events.len())
            .filter(|&at| events[at].1 & (1 << first.bit) != 0)
            .find_map(|at| self.follow(events, 1, at, dead))
    }

    /// The last event of a match of steps `k..` after step k-1 at `previous`.
    fn follow(
        &self,
        events: &[Event],
        k: usize,
        previous: usize,
        dead: &mut HashSet<(usize, usize)>,
    ) -> Option<usize> {
        let Some(step) = self.steps.get(k) else {
            let end = previous + self.trailing;
            return (end < events.len()).then_some(end);
        };
        if dead.contains(&(k, previous)) {
            return None;
        }
        let lo = previous + 1 + step.skip;
        let hi = if step.unbounded {
            events.len()
        } else {
            (lo + 1).min(events.len())
        };
        let since = events[previous].0;
        for at in lo..hi {
            let gap = events[at].0.saturating_sub(since);
            if step
                .constraints
                .iter()
                .any(|&(cmp, limit)| cmp.is_upper_bound() && gap > limit)
            {
                break;
            }
            let fits = events[at].1 & (1 << step.bit) != 0
                && step
                    .constraints
                    .iter()
                    .all(|&(cmp, limit)| cmp.holds(gap, limit));
            if fits && let Some(end) = self.follow(events, k + 1, at, dead) {
                return Some(end);
            }
        }
        dead.insert((k, previous));
        None
    }
}

#[cfg(test)]
mod tests;
