//! Tests of `clv_periods` against a per-group reference.

use super::entries::{Entry, sort_by_group};
use super::*;

fn args(periods: &[Option<i64>], amounts: &[Option<f64>]) -> Vec<ArrayRef> {
    vec![
        Arc::new(Int64Array::from(periods.to_vec())),
        Arc::new(Float64Array::from(amounts.to_vec())),
    ]
}

/// (periods, first, last, first_amount, total_amount) of row `i`.
type Row = (i64, Option<i64>, Option<i64>, Option<f64>, Option<f64>);

fn rows(array: &ArrayRef) -> Vec<Row> {
    let s = array.as_struct();
    let i64s = |c: usize| s.column(c).as_primitive::<Int64Type>().clone();
    let f64s = |c: usize| s.column(c).as_primitive::<Float64Type>().clone();
    let (n, f, l, fa, t) = (i64s(0), i64s(1), i64s(2), f64s(3), f64s(4));
    (0..s.len())
        .map(|i| {
            (
                n.value(i),
                f.is_valid(i).then(|| f.value(i)),
                l.is_valid(i).then(|| l.value(i)),
                value(&fa, i),
                value(&t, i),
            )
        })
        .collect()
}

/// The definition, one group at a time, written without the flat list.
fn reference(entries: &[(usize, Option<i64>, Option<f64>)], groups: usize) -> Vec<Row> {
    (0..groups)
        .map(|g| {
            let own: Vec<(i64, Option<f64>)> = entries
                .iter()
                .filter(|e| e.0 == g)
                .filter_map(|e| e.1.map(|p| (p, e.2)))
                .collect();
            let mut distinct: Vec<i64> = own.iter().map(|e| e.0).collect();
            distinct.sort();
            distinct.dedup();
            let first = distinct.first().copied();
            let sum = |items: Vec<Option<f64>>| {
                let present: Vec<f64> = items.into_iter().flatten().collect();
                (!present.is_empty()).then(|| present.iter().sum())
            };
            (
                distinct.len() as i64,
                first,
                distinct.last().copied(),
                sum(own
                    .iter()
                    .filter(|e| Some(e.0) == first)
                    .map(|e| e.1)
                    .collect()),
                sum(own.iter().map(|e| e.1).collect()),
            )
        })
        .collect()
}

fn entries() -> Vec<(usize, Option<i64>, Option<f64>)> {
    entries_spread(|_, p| p)
}

/// 400 rows over 7 groups with periods `period(row, p)` for p in -2..=6,
/// NULL periods and amounts among them, and two groups of NULLs.
fn entries_spread(period: impl Fn(usize, i64) -> i64) -> Vec<(usize, Option<i64>, Option<f64>)> {
    let mut out = Vec::new();
    let mut x = 12345u64;
    for i in 0..400 {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let g = (x >> 33) as usize % 7;
        let p = ((x >> 20) % 9) as i64 - 2;
        let period = (!(x >> 40).is_multiple_of(13)).then_some(period(i, p));
        let amount = (!(x >> 44).is_multiple_of(11)).then_some(((x >> 50) % 100) as f64);
        out.push((g, period, amount));
    }
    // A group whose only rows have a NULL period, one with NULL amounts only.
    out.push((7, None, Some(3.0)));
    out.push((8, Some(4), None));
    out
}

/// The entries as the aggregate's arguments and group indices.
fn columns(entries: &[(usize, Option<i64>, Option<f64>)]) -> (Vec<ArrayRef>, Vec<usize>) {
    let periods: Vec<_> = entries.iter().map(|e| e.1).collect();
    let amounts: Vec<_> = entries.iter().map(|e| e.2).collect();
    let groups: Vec<usize> = entries.iter().map(|e| e.0).collect();
    (args(&periods, &amounts), groups)
}

/// The entries whose `keep` is true.
fn kept(
    entries: &[(usize, Option<i64>, Option<f64>)],
    keep: &[bool],
) -> Vec<(usize, Option<i64>, Option<f64>)> {
    entries
        .iter()
        .zip(keep)
        .filter(|(_, k)| **k)
        .map(|(e, _)| *e)
        .collect()
}

fn update(acc: &mut ClvPeriodsGroups, part: &[(usize, Option<i64>, Option<f64>)]) {
    let (values, groups) = columns(part);
    acc.update_batch(&values, &groups, None, 9).unwrap();
}

type Rows = Vec<(usize, Option<i64>, Option<f64>)>;

/// Data sets, and whether their periods fit the bits' widest range.
fn data_sets() -> Vec<(&'static str, Rows, bool)> {
    vec![
        ("narrow", entries(), true),
        // Up to +750, down to -600, then up to +1000: the range grows both
        // ways, to 1,609 periods (26 words).
        (
            "growing both ways",
            entries_spread(|i, p| {
                let i = i as i64;
                match i {
                    0..150 => p + 5 * i,
                    150..300 => p - 4 * (i - 150),
                    _ => p + 10 * (i - 300),
                }
            }),
            true,
        ),
        // Millions of periods apart from row 250 on: the records move to
        // the flat list midway.
        (
            "wide",
            entries_spread(|i, p| {
                if i < 250 {
                    p
                } else {
                    p + 1_000_000 * (i % 3) as i64
                }
            }),
            false,
        ),
        (
            "extremes",
            entries_spread(|i, p| match i % 50 {
                7 => i64::MAX - 6 + p.min(6),
                8 => i64::MIN + 2 + p,
                _ => p,
            }),
            false,
        ),
    ]
}

/// Each way an aggregation can hold its groups, made empty.
type Make = fn() -> ClvPeriodsGroups;

fn accumulators() -> [(&'static str, Make); 2] {
    [
        ("bits first", ClvPeriodsGroups::default),
        ("flat list", || {
            ClvPeriodsGroups::Entries(EntryGroups::default())
        }),
    ]
}

/// Runs `case` on every data set with every accumulator, and checks that
/// an accumulator starting with bits kept them exactly when the periods fit.
fn for_each_case(case: impl Fn(&Rows, Make) -> (ClvPeriodsGroups, Vec<Row>, Vec<Row>)) {
    for (data, rows_, fits) in data_sets() {
        for (how, make) in accumulators() {
            let (acc, got, want) = case(&rows_, make);
            assert_eq!(got, want, "{data}, {how}");
            if how == "bits first" {
                assert_eq!(
                    matches!(acc, ClvPeriodsGroups::Bits(_)),
                    fits,
                    "{data}: bits kept"
                );
            }
        }
    }
}

#[test]
fn groups_match_the_definition() {
    for_each_case(|entries, make| {
        let mut acc = make();
        for part in entries.chunks(37) {
            update(&mut acc, part);
        }
        let got = rows(&acc.evaluate(EmitTo::All).unwrap());
        (acc, got, reference(entries, 9))
    });
}

#[test]
fn merged_partial_states_match_the_definition() {
    for_each_case(|entries, make| {
        // Two partial aggregations over alternating slices, merged into one.
        let (mut a, mut b) = (make(), make());
        for (i, part) in entries.chunks(29).enumerate() {
            update(if i % 2 == 0 { &mut a } else { &mut b }, part);
        }
        let mut merged = make();
        for partial in [&mut a, &mut b] {
            let state = partial.state(EmitTo::All).unwrap();
            merged
                .merge_batch(&state, &(0..9).collect::<Vec<_>>(), 9)
                .unwrap();
        }
        let got = rows(&merged.evaluate(EmitTo::All).unwrap());
        (merged, got, reference(entries, 9))
    });
}

#[test]
fn emitting_the_first_groups_keeps_the_rest() {
    for_each_case(|entries, make| {
        let mut acc = make();
        let (head, tail) = entries.split_at(entries.len() / 2);
        update(&mut acc, head);
        let mut got = rows(&acc.evaluate(EmitTo::First(4)).unwrap());
        // The rest are renumbered from 0 and can still grow.
        let tail: Rows = tail
            .iter()
            .filter(|e| e.0 >= 4)
            .map(|&(g, p, a)| (g - 4, p, a))
            .collect();
        let (values, groups) = columns(&tail);
        acc.update_batch(&values, &groups, None, 5).unwrap();
        got.extend(rows(&acc.evaluate(EmitTo::All).unwrap()));
        let kept: Rows = entries
            .iter()
            .enumerate()
            .filter(|(i, e)| *i < head.len() || e.0 >= 4)
            .map(|(_, e)| *e)
            .collect();
        (acc, got, reference(&kept, 9))
    });
}

#[test]
fn rows_converted_to_states_merge_to_the_definition() {
    for_each_case(|entries, make| {
        let (values, groups) = columns(entries);
        let keep: Vec<bool> = (0..entries.len()).map(|i| i % 4 != 1).collect();
        let mut acc = make();
        let state = acc
            .convert_to_state(&values, Some(&BooleanArray::from(keep.clone())))
            .unwrap();
        acc.merge_batch(&state, &groups, 9).unwrap();
        let got = rows(&acc.evaluate(EmitTo::All).unwrap());
        (acc, got, reference(&kept(entries, &keep), 9))
    });
}

#[test]
fn a_filter_leaves_rows_out() {
    for_each_case(|entries, make| {
        let (values, groups) = columns(entries);
        let keep: Vec<bool> = (0..entries.len()).map(|i| i % 3 != 0).collect();
        let mut acc = make();
        acc.update_batch(&values, &groups, Some(&BooleanArray::from(keep.clone())), 9)
            .unwrap();
        let got = rows(&acc.evaluate(EmitTo::All).unwrap());
        (acc, got, reference(&kept(entries, &keep), 9))
    });
}

#[test]
fn sorting_by_group_is_a_stable_sort() {
    for groups in [1usize, 2, 2048, 2049, 300_000, 5_000_000] {
        let mut x = groups as u64;
        let entries: Vec<Entry> = (0..20_000)
            .map(|i| {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
                Entry {
                    group: ((x >> 20) % groups as u64) as u32,
                    period: i,
                    amount: 0.0,
                }
            })
            .collect();
        let mut want = entries.clone();
        want.sort_by_key(|e| e.group);
        let got = sort_by_group(entries, groups);
        let pairs = |v: &[Entry]| v.iter().map(|e| (e.group, e.period)).collect::<Vec<_>>();
        assert_eq!(pairs(&got), pairs(&want), "{groups} groups");
    }
}

#[test]
fn one_group_accumulator_matches_the_definition() {
    let entries: Vec<_> = entries().into_iter().filter(|e| e.0 == 3).collect();
    let periods: Vec<_> = entries.iter().map(|e| e.1).collect();
    let amounts: Vec<_> = entries.iter().map(|e| e.2).collect();
    let (half_p, rest_p) = periods.split_at(periods.len() / 2);
    let (half_a, rest_a) = amounts.split_at(amounts.len() / 2);
    let mut a = ClvPeriodsAccumulator::default();
    a.update_batch(&args(half_p, half_a)).unwrap();
    let mut b = ClvPeriodsAccumulator::default();
    b.update_batch(&args(rest_p, rest_a)).unwrap();
    let state: Vec<ArrayRef> = b
        .state()
        .unwrap()
        .iter()
        .map(|s| s.to_array().unwrap())
        .collect();
    a.merge_batch(&state).unwrap();
    let got = rows(&a.evaluate().unwrap().to_array().unwrap());
    let want: Vec<_> = entries.iter().map(|e| (0, e.1, e.2)).collect();
    assert_eq!(got, reference(&want, 1));
}
