//! Group ids for one integer key: a table indexed by the key itself while
//! the keys seen span a bounded range, a hash map past it.
//!
//! Customer ids are dense, so `key - base` is a slot and finding a group
//! costs one load; a hash table pays a hash, a probe and a key compare on
//! every row, in a table of the same size.

use std::collections::HashMap;

use datafusion::arrow::buffer::NullBuffer;

/// A slot without a group.
const EMPTY: u32 = u32::MAX;
/// The first table covers this many keys.
const FIRST_SPAN: u64 = 1 << 16;
/// Past this many slots (64 MiB of table) the keys are too sparse for a
/// table: the groups move to a hash map.
pub const MAX_SPAN: u64 = 1 << 24;
/// A table never needs to be refused below this span.
const MIN_MAX_SPAN: u64 = FIRST_SPAN;

/// The group of every key seen, numbered in order of first sight.
#[derive(Debug)]
pub struct KeySlots {
    /// The widest table allowed, at most [`MAX_SPAN`].
    max_span: u64,
    base: i64,
    table: Vec<u32>,
    hashed: Option<HashMap<i64, u32>>,
    /// The key of each group; the null group's entry is unused.
    keys: Vec<i64>,
    null_group: Option<u32>,
}

impl Default for KeySlots {
    fn default() -> Self {
        KeySlots::with_max_span(MAX_SPAN)
    }
}

impl KeySlots {
    /// Slots whose table spans at most `max_span` keys (clamped to
    /// [`FIRST_SPAN`]..=[`MAX_SPAN`]) before the keys are hashed.
    pub fn with_max_span(max_span: u64) -> Self {
        KeySlots {
            max_span: max_span.clamp(MIN_MAX_SPAN, MAX_SPAN),
            base: 0,
            table: Vec::new(),
            hashed: None,
            keys: Vec::new(),
            null_group: None,
        }
    }

    /// Groups so far, the null group included.
    pub fn groups(&self) -> usize {
        self.keys.len()
    }

    /// Bytes held.
    pub fn size(&self) -> usize {
        self.table.capacity() * 4
            + self.keys.capacity() * 8
            + self.hashed.as_ref().map_or(0, |m| m.capacity() * 16)
    }

    /// Whether the keys went to the hash map.
    #[cfg(test)]
    pub fn is_hashed(&self) -> bool {
        self.hashed.is_some()
    }

    /// Appends the group of each key to `out`, making groups for new keys.
    pub fn ids(&mut self, keys: &[i64], valid: Option<&NullBuffer>, out: &mut Vec<usize>) {
        out.reserve(keys.len());
        for (i, &key) in keys.iter().enumerate() {
            if valid.is_some_and(|v| v.is_null(i)) {
                let g = self.null_group();
                out.push(g as usize);
                continue;
            }
            let offset = key.wrapping_sub(self.base) as u64;
            if self.hashed.is_none() && offset < self.table.len() as u64 {
                let slot = &mut self.table[offset as usize];
                if *slot == EMPTY {
                    *slot = self.keys.len() as u32;
                    self.keys.push(key);
                }
                out.push(*slot as usize);
            } else {
                let g = self.outside(key);
                out.push(g as usize);
            }
        }
    }

    fn null_group(&mut self) -> u32 {
        *self.null_group.get_or_insert_with(|| {
            self.keys.push(0);
            (self.keys.len() - 1) as u32
        })
    }

    /// A key outside the table, or any key once hashed.
    fn outside(&mut self, key: i64) -> u32 {
        if self.hashed.is_none() {
            self.widen(key);
        }
        if let Some(map) = &mut self.hashed {
            let next = self.keys.len() as u32;
            let g = *map.entry(key).or_insert(next);
            if g == next {
                self.keys.push(key);
            }
            return g;
        }
        let slot = &mut self.table[key.wrapping_sub(self.base) as usize];
        if *slot == EMPTY {
            *slot = self.keys.len() as u32;
            self.keys.push(key);
        }
        *slot
    }

    /// Grows the table to cover `key` (at least doubling it), or moves the
    /// groups to a hash map when that would pass the widest allowed.
    fn widen(&mut self, key: i64) {
        if self.table.is_empty() {
            // Centred on the first key: later keys may fall on either side.
            let half = (FIRST_SPAN / 2) as i128;
            self.base = (key as i128 - half).max(i64::MIN as i128) as i64;
            self.table = vec![EMPTY; FIRST_SPAN as usize];
            return;
        }
        let (lo, hi) = (
            self.base as i128,
            self.base as i128 + self.table.len() as i128 - 1,
        );
        let (lo, hi) = (lo.min(key as i128), hi.max(key as i128));
        // In i128: the span of the whole i64 range does not fit a u64.
        let span = hi - lo + 1;
        if span > self.max_span as i128 {
            self.move_to_hash_map();
            return;
        }
        let want = span
            .max(self.table.len() as i128 * 2)
            .min(self.max_span as i128);
        // The extra room goes on the side the table grew towards.
        let base = if (key as i128) < self.base as i128 {
            (hi - want + 1).max(i64::MIN as i128)
        } else {
            lo.min(i64::MAX as i128 - want + 1)
        };
        let mut table = vec![EMPTY; want as usize];
        let shift = (self.base as i128 - base) as usize;
        table[shift..shift + self.table.len()].copy_from_slice(&self.table);
        self.table = table;
        self.base = base as i64;
    }

    fn move_to_hash_map(&mut self) {
        let mut map = HashMap::with_capacity(self.keys.len() * 2);
        for &g in &self.table {
            if g != EMPTY {
                map.insert(self.keys[g as usize], g);
            }
        }
        self.table = Vec::new();
        self.hashed = Some(map);
    }

    /// Every group once, in ascending key order, the null group last.
    #[cfg(test)]
    pub fn in_key_order(&self) -> Vec<u32> {
        let mut order: Vec<u32> = match &self.hashed {
            None => self.table.iter().copied().filter(|&g| g != EMPTY).collect(),
            Some(map) => {
                let mut pairs: Vec<(i64, u32)> = map.iter().map(|(&k, &g)| (k, g)).collect();
                pairs.sort_unstable();
                pairs.into_iter().map(|(_, g)| g).collect()
            }
        };
        order.extend(self.null_group);
        order
    }

    /// The key of each group, `None` for the null group.
    pub fn key(&self, group: u32) -> Option<i64> {
        (self.null_group != Some(group)).then(|| self.keys[group as usize])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Groups by a `HashMap` in order of first sight: the definition.
    fn reference(keys: &[Option<i64>]) -> Vec<usize> {
        let mut seen: HashMap<Option<i64>, usize> = HashMap::new();
        keys.iter()
            .map(|k| {
                let n = seen.len();
                *seen.entry(*k).or_insert(n)
            })
            .collect()
    }

    fn run(keys: &[Option<i64>], batch: usize) -> (KeySlots, Vec<usize>) {
        let mut slots = KeySlots::default();
        let mut out = Vec::new();
        for chunk in keys.chunks(batch) {
            let values: Vec<i64> = chunk.iter().map(|k| k.unwrap_or(7)).collect();
            let valid: Vec<bool> = chunk.iter().map(Option::is_some).collect();
            slots.ids(&values, Some(&NullBuffer::from(valid)), &mut out);
        }
        (slots, out)
    }

    fn check(keys: &[Option<i64>], hashed: bool) {
        for batch in [1, 3, 1000] {
            let (slots, ids) = run(keys, batch);
            assert_eq!(ids, reference(keys), "batch {batch}");
            assert_eq!(slots.is_hashed(), hashed, "batch {batch}");
            let mut expected: Vec<Option<i64>> = keys.to_vec();
            expected.sort_by_key(|k| (k.is_none(), *k));
            expected.dedup();
            let got: Vec<Option<i64>> = slots
                .in_key_order()
                .into_iter()
                .map(|g| slots.key(g))
                .collect();
            assert_eq!(got, expected, "batch {batch}");
        }
    }

    #[test]
    fn dense_ids_in_any_order_grow_the_table_both_ways() {
        // A permutation of 0..200k: the table starts around the first key
        // and must grow below and above it.
        let keys: Vec<Option<i64>> = (0..200_000i64)
            .map(|i| Some((i * 7919) % 200_000))
            .collect();
        let mut twice = keys.clone();
        twice.extend(keys.iter().rev());
        check(&twice, false);
    }

    #[test]
    fn nulls_make_one_group() {
        check(&[None, Some(5), None, Some(-3), Some(5), None], false);
    }

    #[test]
    fn keys_near_the_ends_of_i64() {
        check(
            &[Some(i64::MAX), Some(i64::MAX - 9), Some(i64::MAX - 70_000)],
            false,
        );
        check(
            &[Some(i64::MIN), Some(i64::MIN + 9), Some(i64::MIN + 70_000)],
            false,
        );
        check(&[Some(i64::MIN), Some(i64::MAX), Some(0)], true);
    }

    #[test]
    fn a_narrower_limit_hashes_sooner() {
        let keys: Vec<Option<i64>> = (0..300_000).map(|i| Some(i * 5)).collect();
        let mut slots = KeySlots::with_max_span(1 << 20);
        let values: Vec<i64> = keys.iter().map(|k| k.unwrap()).collect();
        let mut out = Vec::new();
        slots.ids(&values, None, &mut out);
        assert!(slots.is_hashed());
        assert_eq!(out, reference(&keys));
        assert!(!KeySlots::with_max_span(1 << 20).is_hashed());
    }

    #[test]
    fn sparse_keys_move_to_a_hash_map_midway() {
        let mut keys: Vec<Option<i64>> = (0..1000).map(Some).collect();
        keys.push(Some(MAX_SPAN as i64 + 5));
        keys.extend((0..1000).map(|i| Some(i * 1_000_003 - 77)));
        check(&keys, true);
        // A span that fits stays a table.
        check(&[Some(10), Some(10 + MAX_SPAN as i64 / 2), Some(11)], false);
    }
}
