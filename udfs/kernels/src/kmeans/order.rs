//! The canonical row order training starts from: rows sorted by their
//! coordinates, so a fit depends on the multiset of rows only.
//!
//! Rows are sorted by a 64-bit key (two coordinates whose unsigned order
//! is `f32::total_cmp`'s) that sits beside the row index, so comparisons
//! read one contiguous array instead of two rows each; rows whose keys tie
//! are sorted again by the next two coordinates, and so on. The key sort
//! runs on several threads (split by selection, so no merge), and the rows
//! are then moved into place by following the permutation's cycles.

/// Orders rows by their coordinates, left to right, each compared with
/// `f32::total_cmp` (a total order on bit patterns: equal exactly when the
/// rows are bit-identical, so the sorted data is unique for a multiset):
/// the definition the keyed sort is tested against.
#[cfg(test)]
pub(super) fn cmp_rows(a: &[f32], b: &[f32]) -> std::cmp::Ordering {
    a.iter()
        .zip(b)
        .map(|(x, y)| x.total_cmp(y))
        .find(|o| o.is_ne())
        .unwrap_or(std::cmp::Ordering::Equal)
}

/// [`sort_rows_on`] on one thread.
pub fn sort_rows(data: &mut [f32], d: usize) {
    sort_rows_on(data, d, 1);
}

/// Sorts the rows of `data` (n × d) into the canonical order of
/// [`cmp_rows`], in place, on `threads` threads. Extra memory: a key and
/// an index per row (16 bytes) and one row, not a second copy of the data.
pub fn sort_rows_on(data: &mut [f32], d: usize, threads: usize) {
    if d == 0 {
        return;
    }
    if data.len() / d <= u32::MAX as usize {
        sort_rows_with::<u32>(data, d, threads);
    } else {
        sort_rows_with::<u64>(data, d, threads);
    }
}

/// Coordinates `2·level` and `2·level + 1` of `row` (0 past its end) as
/// one number whose unsigned order is that of `f32::total_cmp` on them,
/// left to right.
fn key(row: &[f32], level: usize) -> u64 {
    let ordered = |t: usize| {
        row.get(t).map_or(0, |&x| {
            let b = x.to_bits();
            // Negatives reversed below the positives, as total_cmp.
            if b >> 31 == 1 { !b } else { b | 1 << 31 }
        })
    };
    u64::from(ordered(2 * level)) << 32 | u64::from(ordered(2 * level + 1))
}

fn sort_rows_with<I>(data: &mut [f32], d: usize, threads: usize)
where
    I: Copy + Send + Into<u64> + TryFrom<u64>,
{
    let n = data.len() / d;
    let at = |i: I| -> usize { Into::<u64>::into(i) as usize };
    let index = |i: usize| -> I {
        I::try_from(i as u64)
            .unwrap_or_else(|_| unreachable!("sort_rows_on picks a wide enough index"))
    };
    let mut order: Vec<(u64, I)> = data
        .chunks_exact(d)
        .enumerate()
        .map(|(i, row)| (key(row, 0), index(i)))
        .collect();
    sort_keys(&mut order, threads);
    refine(&mut order, data, d, 1, &at);
    // Only the indices from here: a quarter of the memory, so the walk
    // below, whose every step waits for the index it reads, mostly hits
    // the cache while the rows it moves miss it.
    let mut order: Vec<I> = order.into_iter().map(|e| e.1).collect();
    // Position p receives row order[p]. Each cycle is walked once, holding
    // its first row aside; a visited position is marked by order[p] = p.
    let mut held = vec![0.0f32; d];
    for p in 0..n {
        if at(order[p]) == p {
            continue;
        }
        held.copy_from_slice(&data[p * d..(p + 1) * d]);
        let mut cur = p;
        loop {
            let src = at(order[cur]);
            order[cur] = index(cur);
            if src == p {
                data[cur * d..(cur + 1) * d].copy_from_slice(&held);
                break;
            }
            data.copy_within(src * d..(src + 1) * d, cur * d);
            cur = src;
        }
    }
}

/// Sorts runs of equal keys by the coordinates of `level` onwards.
fn refine<I: Copy>(
    entries: &mut [(u64, I)],
    data: &[f32],
    d: usize,
    level: usize,
    at: &impl Fn(I) -> usize,
) {
    if 2 * level >= d {
        return;
    }
    let mut start = 0;
    while start < entries.len() {
        let first = entries[start].0;
        let end = start
            + entries[start..]
                .iter()
                .position(|e| e.0 != first)
                .unwrap_or(entries.len() - start);
        if end - start > 1 {
            let run = &mut entries[start..end];
            for e in run.iter_mut() {
                let i = at(e.1);
                e.0 = key(&data[i * d..(i + 1) * d], level);
            }
            run.sort_unstable_by_key(|e| e.0);
            refine(run, data, d, level + 1, at);
        }
        start = end;
    }
}

/// Sorts `entries` by key: split into one part per thread by selection
/// (every key of a part ≤ every key of the next), each part sorted on its
/// own thread.
fn sort_keys<I: Send>(entries: &mut [(u64, I)], threads: usize) {
    fn split<'a, I>(entries: &'a mut [(u64, I)], parts: usize, out: &mut Vec<&'a mut [(u64, I)]>) {
        if parts <= 1 || entries.len() < 2 {
            out.push(entries);
            return;
        }
        let mid = entries.len() * (parts / 2) / parts;
        entries.select_nth_unstable_by_key(mid, |e| e.0);
        let (low, high) = entries.split_at_mut(mid);
        split(low, parts / 2, out);
        split(high, parts - parts / 2, out);
    }
    // Below this, a thread costs more than it saves.
    const PARALLEL_FROM: usize = 1 << 16;
    if threads <= 1 || entries.len() < PARALLEL_FROM {
        entries.sort_unstable_by_key(|e| e.0);
        return;
    }
    let mut parts = Vec::with_capacity(threads);
    split(entries, threads, &mut parts);
    std::thread::scope(|scope| {
        for part in parts {
            scope.spawn(move || part.sort_unstable_by_key(|e| e.0));
        }
    });
}
