use super::*;
use crate::journey::sort_events;
use datafusion::arrow::array::{AsArray, StringArray, TimestampMicrosecondArray};
use datafusion::arrow::datatypes::Int64Type;

const S: i64 = MICROS_PER_SECOND;

/// Events as (second, condition number) with one condition each.
fn events(list: &[(i64, u32)]) -> Vec<Event> {
    let mut out: Vec<Event> = list.iter().map(|&(t, c)| (t * S, 1 << (c - 1))).collect();
    sort_events(&mut out);
    out
}

fn pattern(text: &str) -> Pattern {
    Pattern::parse(text, 3).unwrap()
}

#[test]
fn adjacent_steps_and_wildcards() {
    let e = events(&[(1, 1), (2, 3), (3, 2)]);
    assert!(!pattern("(?1)(?2)").matches(&e));
    assert!(pattern("(?1).(?2)").matches(&e));
    assert!(pattern("(?1).*(?2)").matches(&e));
    assert!(pattern("(?3)(?2)").matches(&e));
    assert!(!pattern("(?1)..(?2)").matches(&e));
    assert!(pattern(".(?3)").matches(&e));
    assert!(!pattern("..(?3)").matches(&e));
    assert!(pattern("(?3).").matches(&e));
    assert!(!pattern("(?2).").matches(&e));
    assert!(pattern(".*(?2).*").matches(&e));
    assert!(!pattern("(?1)").matches(&[]));
}

#[test]
fn time_constraints_compare_neighbouring_steps() {
    let e = events(&[(0, 1), (100, 3), (3600, 2)]);
    assert!(pattern("(?1)(?t<=3600)(?2)").matches(&e));
    assert!(!pattern("(?1)(?t<3600)(?2)").matches(&e));
    assert!(pattern("(?1)(?t==3600)(?2)").matches(&e));
    assert!(pattern("(?1)(?t>3599)(?2)").matches(&e));
    assert!(!pattern("(?1)(?t>=3601)(?2)").matches(&e));
    assert!(pattern("(?1)(?t>10)(?t<200)(?3)").matches(&e));
    assert!(!pattern("(?1)(?t>100)(?3)").matches(&e));
}

#[test]
fn counts_do_not_overlap() {
    let e = events(&[(1, 1), (2, 2), (3, 1), (4, 1), (5, 2)]);
    assert_eq!(pattern("(?1)(?2)").count(&e), 2);
    assert_eq!(pattern("(?1).*(?2)").count(&e), 2);
    assert_eq!(pattern("(?1)").count(&e), 3);
    assert_eq!(pattern("(?1)(?1)").count(&e), 1);
    assert_eq!(pattern("(?2)(?1)").count(&e), 1);
    assert_eq!(pattern("(?3)").count(&e), 0);
}

#[test]
fn backtracking_finds_later_candidates() {
    // The first (?2) after (?1) is too early; a later one fits.
    let e = events(&[(0, 1), (5, 2), (50, 2), (60, 3)]);
    assert!(pattern("(?1)(?t>10)(?2)(?3)").matches(&e));
    assert!(!pattern("(?1)(?t>100)(?2)").matches(&e));
}

#[test]
fn invalid_patterns_name_the_position() {
    let err = |text: &str| Pattern::parse(text, 2).unwrap_err();
    assert!(err("(?1)(?3)").contains("condition 3 at position 5, but there are 2"));
    assert!(err("(?0)").contains("condition 0 at position 1"));
    assert!(err("(?1)x").contains("unexpected 'x' at position 5"));
    assert!(err("(?1)(?t=5)(?2)").contains("position 5"));
    assert!(err("(?1)(?t<=abc)(?2)").contains("whole number of seconds at position 5"));
    assert!(err("(?t<5)(?1)").contains("before the first step at position 1"));
    assert!(err("(?1)(?t<5)").contains("after the last step at position 5"));
    assert!(err("(?1").contains("unclosed '(?' at position 1"));
    assert!(err(".*").contains("no step"));
    assert!(err("(?a)").contains("position 1"));
}

fn batch(rows: &[(i64, u32)]) -> Vec<ArrayRef> {
    let n = rows.len();
    let mut out: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(vec!["(?1)(?2)"; n])),
        Arc::new(TimestampMicrosecondArray::from_iter_values(
            rows.iter().map(|r| r.0 * S),
        )),
    ];
    for c in 1..=3 {
        out.push(Arc::new(BooleanArray::from_iter(
            rows.iter().map(|r| Some(r.1 == c)),
        )));
    }
    out
}

#[test]
fn merged_partial_states_equal_one_pass() {
    let mut seed = 5u64;
    let mut next = || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        seed >> 33
    };
    for case in 0..100 {
        let rows: Vec<(i64, u32)> = (0..next() % 30)
            .map(|_| ((next() % 15) as i64, (next() % 4) as u32))
            .collect();
        let texts = [
            "(?1)(?2)",
            "(?1).*(?t<=3)(?2)",
            "(?2).(?3)",
            "(?1)(?t>2)(?1)",
        ];
        let new = || SequenceAccumulator {
            pattern: pattern(texts[case % 4]),
            conditions: 3,
            count: true,
            log: EventLog::default(),
        };
        let mut whole = new();
        whole.update_batch(&batch(&rows)).unwrap();
        let mut merged = new();
        for part in rows.chunks(4) {
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
        assert_eq!(
            merged.evaluate().unwrap(),
            whole.evaluate().unwrap(),
            "{rows:?}"
        );
    }
}
#[test]
fn groups_accumulator_agrees_with_one_accumulator_per_group() {
    let rows: Vec<(usize, (i64, u32))> = (0..300u64)
        .map(|i| {
            let h = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40;
            (
                (h % 5) as usize,
                (((h >> 3) % 40) as i64, ((h >> 9) % 4) as u32),
            )
        })
        .collect();
    let text = "(?1).*(?t<=5)(?2)";
    let new_groups = || SequenceGroupsAccumulator {
        pattern: pattern(text),
        conditions: 3,
        count: true,
        groups: EventGroups::default(),
    };
    let mut merged = new_groups();
    for half in rows.chunks(150) {
        let mut partial = new_groups();
        let groups: Vec<usize> = half.iter().map(|r| r.0).collect();
        let data: Vec<_> = half.iter().map(|r| r.1).collect();
        partial
            .update_batch(&batch(&data), &groups, None, 5)
            .unwrap();
        let state = partial.state(EmitTo::All).unwrap();
        merged.merge_batch(&state, &[0, 1, 2, 3, 4], 5).unwrap();
    }
    let got = merged.evaluate(EmitTo::All).unwrap();
    let mut nonzero = 0;
    for group in 0..5 {
        let mut one = SequenceAccumulator {
            pattern: pattern(text),
            conditions: 3,
            count: true,
            log: EventLog::default(),
        };
        let data: Vec<_> = rows.iter().filter(|r| r.0 == group).map(|r| r.1).collect();
        one.update_batch(&batch(&data)).unwrap();
        let want = got.as_primitive::<Int64Type>().value(group);
        nonzero += usize::from(want > 0);
        assert_eq!(one.evaluate().unwrap(), ScalarValue::Int64(Some(want)));
    }
    assert!(nonzero > 0);
}
