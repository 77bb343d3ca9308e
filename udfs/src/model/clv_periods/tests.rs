//! Tests of `clv_periods` against a per-group reference.

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
    let mut out = Vec::new();
    let mut x = 12345u64;
    for _ in 0..400 {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let g = (x >> 33) as usize % 7;
        let p = ((x >> 20) % 9) as i64 - 2;
        let period = (!(x >> 40).is_multiple_of(13)).then_some(p);
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

#[test]
fn groups_match_the_definition() {
    let entries = entries();
    let mut acc = ClvPeriodsGroups::default();
    for part in entries.chunks(37) {
        update(&mut acc, part);
    }
    assert_eq!(
        rows(&acc.evaluate(EmitTo::All).unwrap()),
        reference(&entries, 9)
    );
}

#[test]
fn merged_partial_states_match_the_definition() {
    let entries = entries();
    // Two partial aggregations over alternating slices, merged into one.
    let (mut a, mut b) = (ClvPeriodsGroups::default(), ClvPeriodsGroups::default());
    for (i, part) in entries.chunks(29).enumerate() {
        update(if i % 2 == 0 { &mut a } else { &mut b }, part);
    }
    let mut merged = ClvPeriodsGroups::default();
    for partial in [&mut a, &mut b] {
        let state = partial.state(EmitTo::All).unwrap();
        merged
            .merge_batch(&state, &(0..9).collect::<Vec<_>>(), 9)
            .unwrap();
    }
    assert_eq!(
        rows(&merged.evaluate(EmitTo::All).unwrap()),
        reference(&entries, 9)
    );
}

#[test]
fn emitting_the_first_groups_keeps_the_rest() {
    let entries = entries();
    let mut acc = ClvPeriodsGroups::default();
    update(&mut acc, &entries);
    let mut got = rows(&acc.evaluate(EmitTo::First(4)).unwrap());
    // The rest are renumbered from 0 and can still grow.
    got.extend(rows(&acc.evaluate(EmitTo::All).unwrap()));
    assert_eq!(got, reference(&entries, 9));
}

#[test]
fn rows_converted_to_states_merge_to_the_definition() {
    let entries = entries();
    let (values, groups) = columns(&entries);
    let keep: Vec<bool> = (0..entries.len()).map(|i| i % 4 != 1).collect();
    let mut acc = ClvPeriodsGroups::default();
    let state = acc
        .convert_to_state(&values, Some(&BooleanArray::from(keep.clone())))
        .unwrap();
    acc.merge_batch(&state, &groups, 9).unwrap();
    assert_eq!(
        rows(&acc.evaluate(EmitTo::All).unwrap()),
        reference(&kept(&entries, &keep), 9)
    );
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
fn a_filter_leaves_rows_out() {
    let entries = entries();
    let (values, groups) = columns(&entries);
    let keep: Vec<bool> = (0..entries.len()).map(|i| i % 3 != 0).collect();
    let mut acc = ClvPeriodsGroups::default();
    acc.update_batch(&values, &groups, Some(&BooleanArray::from(keep.clone())), 9)
        .unwrap();
    assert_eq!(
        rows(&acc.evaluate(EmitTo::All).unwrap()),
        reference(&kept(&entries, &keep), 9)
    );
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
