//! Splitting a leaf's rows between its children in place.

use super::hist::{AHEAD, prefetch};

/// Below this many rows a partition runs on one thread.
const PARALLEL_FROM: usize = 1 << 16;

/// Reorders `rows` so the rows whose bin in `column` goes left (by
/// `goes_left`) come first, each side keeping its order; returns how many
/// go left. Branch-free: which side a row takes is data, not a jump. A
/// stable partition is unique, so splitting the work among threads cannot
/// change the result.
pub(super) fn stable(
    rows: &mut [u32],
    column: &[u8],
    goes_left: &[bool; 256],
    scratch: &mut Vec<u32>,
    threads: usize,
) -> usize {
    let threads = if rows.len() < PARALLEL_FROM {
        1
    } else {
        threads.max(1)
    };
    scratch.resize(rows.len(), 0);
    if threads == 1 {
        let left = chunk(rows, column, goes_left, scratch);
        let right = rows.len() - left;
        rows[left..].copy_from_slice(&scratch[..right]);
        return left;
    }
    // Each thread partitions a chunk: its left part in place, its right
    // part into the chunk's share of `scratch`. The left parts then move
    // down in order (never onto a later chunk's), the right parts after.
    let size = rows.len().div_ceil(threads);
    let lefts: Vec<usize> = std::thread::scope(|scope| {
        let mut parts = rows.chunks_mut(size).zip(scratch.chunks_mut(size));
        let (first, first_spare) = parts.next().expect("rows to partition");
        let handles: Vec<_> = parts
            .map(|(part, spare)| scope.spawn(move || chunk(part, column, goes_left, spare)))
            .collect();
        let mut lefts = vec![chunk(first, column, goes_left, first_spare)];
        lefts.extend(
            handles
                .into_iter()
                .map(|h| h.join().expect("partition thread")),
        );
        lefts
    });
    let total: usize = lefts.iter().sum();
    let mut left_at = 0;
    for (c, &left) in lefts.iter().enumerate() {
        rows.copy_within(c * size..c * size + left, left_at);
        left_at += left;
    }
    let mut right_at = total;
    for (c, &left) in lefts.iter().enumerate() {
        let right = (rows.len() - c * size).min(size) - left;
        rows[right_at..right_at + right].copy_from_slice(&scratch[c * size..c * size + right]);
        right_at += right;
    }
    total
}

/// One thread's stable partition of `rows`: the left part in place, the
/// right part at the start of `spare` (at least as long); returns how many
/// go left.
fn chunk(rows: &mut [u32], column: &[u8], goes_left: &[bool; 256], spare: &mut [u32]) -> usize {
    let (mut left, mut right) = (0, 0);
    for k in 0..rows.len() {
        if let Some(&ahead) = rows.get(k + 4 * AHEAD) {
            prefetch(column.as_ptr().wrapping_add(ahead as usize).cast());
        }
        let i = rows[k];
        let go = usize::from(goes_left[usize::from(column[i as usize])]);
        // left ≤ k: the slot written was read already.
        rows[left] = i;
        spare[right] = i;
        left += go;
        right += 1 - go;
    }
    left
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_row_once_each_side_in_order_whatever_the_threads() {
        let n = 3 * PARALLEL_FROM + 11;
        let column: Vec<u8> = (0..n).map(|i| ((i * 7919) % 251) as u8).collect();
        let mut goes_left = [false; 256];
        for (b, left) in goes_left.iter_mut().enumerate() {
            *left = b % 3 == 0 || b > 200;
        }
        // A leaf's rows: ascending, with gaps.
        let rows: Vec<u32> = (0..n as u32).filter(|i| i % 4 != 2).collect();
        let want: Vec<u32> = rows
            .iter()
            .filter(|&&i| goes_left[usize::from(column[i as usize])])
            .chain(
                rows.iter()
                    .filter(|&&i| !goes_left[usize::from(column[i as usize])]),
            )
            .copied()
            .collect();
        let lefts = want
            .iter()
            .take_while(|&&i| goes_left[usize::from(column[i as usize])])
            .count();
        for threads in [1, 2, 3, 5] {
            let mut got = rows.clone();
            let mut scratch = Vec::new();
            let left = stable(&mut got, &column, &goes_left, &mut scratch, threads);
            assert_eq!((left, &got), (lefts, &want), "{threads} threads");
        }
        let mut all = [true; 256];
        let mut got = rows.clone();
        assert_eq!(
            stable(&mut got, &column, &all, &mut Vec::new(), 2),
            rows.len()
        );
        all = [false; 256];
        assert_eq!(stable(&mut got, &column, &all, &mut Vec::new(), 2), 0);
        assert_eq!(got, rows);
    }
}
