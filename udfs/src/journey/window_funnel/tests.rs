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
    let longest_before = |row: usize| (1..=steps).rev().find(|&l| ends_by[l] < row).unwrap_or(0);
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
