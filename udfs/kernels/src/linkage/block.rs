//! Blocking: candidate pairs are the union of equality blocks. Each rule
//! groups records whose rule columns are all present and equal (trimmed,
//! case-insensitive); a pair several rules produce is kept once, by the
//! first rule that produces it (the later ones skip it by comparing group
//! ids, so no set of pairs is ever held). Pairs are counted per rule
//! before any is made, so an oversized block is refused, not allocated.

use std::collections::HashMap;

/// The group of every record under every rule (`None`: a key column is NULL).
#[derive(Debug)]
pub struct Blocks {
    groups: Vec<Vec<Option<u32>>>,
    /// Per rule, members of each group, ascending.
    members: Vec<Vec<Vec<u32>>>,
}

/// Bytes one candidate pair takes while held.
pub const PAIR_BYTES: usize = 8;

impl Blocks {
    /// Groups records under each rule; `keys[r]` lists, for rule r, the
    /// normalized text of each of its columns (`[column][record]`).
    pub fn new(keys: &[Vec<&[Option<String>]>], records: usize) -> Blocks {
        let mut groups = Vec::with_capacity(keys.len());
        let mut members = Vec::with_capacity(keys.len());
        for columns in keys {
            let mut index: HashMap<Vec<&str>, u32> = HashMap::new();
            let mut of = Vec::with_capacity(records);
            let mut list: Vec<Vec<u32>> = Vec::new();
            for row in 0..records {
                let key: Option<Vec<&str>> = columns.iter().map(|c| c[row].as_deref()).collect();
                let group = key.map(|key| {
                    let next = index.len() as u32;
                    let g = *index.entry(key).or_insert(next);
                    if g as usize == list.len() {
                        list.push(Vec::new());
                    }
                    list[g as usize].push(row as u32);
                    g
                });
                of.push(group);
            }
            groups.push(of);
            members.push(list);
        }
        Blocks { groups, members }
    }

    /// Pairs each rule's blocks hold (before removing those an earlier rule
    /// produced): within a block, all pairs (`sources` None) or pairs of
    /// records from different sources.
    pub fn counts(&self, sources: Option<&[u32]>) -> Vec<u128> {
        self.members
            .iter()
            .map(|blocks| {
                blocks
                    .iter()
                    .map(|m| {
                        let n = m.len() as u128;
                        match sources {
                            None => n * n.saturating_sub(1) / 2,
                            Some(s) => {
                                let mut per: HashMap<u32, u128> = HashMap::new();
                                for &r in m {
                                    *per.entry(s[r as usize]).or_default() += 1;
                                }
                                (n * n - per.values().map(|c| c * c).sum::<u128>()) / 2
                            }
                        }
                    })
                    .sum()
            })
            .collect()
    }

    /// Whether rule `r` puts records `i` and `j` in one block.
    pub fn same(&self, r: usize, i: u32, j: u32) -> bool {
        matches!((self.groups[r][i as usize], self.groups[r][j as usize]), (Some(a), Some(b)) if a == b)
    }

    /// Bit r set when rule r blocks `i` with `j`.
    pub fn mask(&self, i: u32, j: u32) -> u64 {
        (0..self.groups.len())
            .filter(|&r| self.same(r, i, j))
            .fold(0, |m, r| m | 1 << r)
    }

    /// The distinct candidate pairs, `(i, j)` with `i < j`, sorted; for a
    /// link only pairs whose sources differ.
    pub fn pairs(&self, sources: Option<&[u32]>) -> Vec<(u32, u32)> {
        let mut out = Vec::new();
        for (r, blocks) in self.members.iter().enumerate() {
            for m in blocks {
                for (a, &i) in m.iter().enumerate() {
                    for &j in &m[a + 1..] {
                        if sources.is_some_and(|s| s[i as usize] == s[j as usize]) {
                            continue;
                        }
                        if (0..r).any(|earlier| self.same(earlier, i, j)) {
                            continue;
                        }
                        out.push((i, j));
                    }
                }
            }
        }
        out.sort_unstable();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(values: &[Option<&str>]) -> Vec<Option<String>> {
        values.iter().map(|v| v.map(str::to_string)).collect()
    }

    #[test]
    fn union_of_blocks_without_repeats() {
        let a = col(&[Some("x"), Some("x"), Some("x"), None, Some("y")]);
        let b = col(&[Some("1"), Some("1"), Some("2"), Some("2"), Some("2")]);
        let blocks = Blocks::new(&[vec![&a[..]], vec![&b[..]]], 5);
        // Rule a: {0,1,2} → 3 pairs; rule b: {0,1}, {2,3,4} → 1 + 3.
        assert_eq!(blocks.counts(None), vec![3, 4]);
        // (0,1) is in both; kept once.
        assert_eq!(
            blocks.pairs(None),
            vec![(0, 1), (0, 2), (1, 2), (2, 3), (2, 4), (3, 4)]
        );
        assert_eq!(blocks.mask(0, 1), 0b11);
        assert_eq!(blocks.mask(3, 4), 0b10);
        // Link: sources 0,1,0,1,1: only pairs across them.
        let sources = [0, 1, 0, 1, 1];
        assert_eq!(blocks.counts(Some(&sources)), vec![2, 3]);
        assert_eq!(
            blocks.pairs(Some(&sources)),
            vec![(0, 1), (1, 2), (2, 3), (2, 4)]
        );
        // Two-column rules need both present.
        let both = Blocks::new(&[vec![&a[..], &b[..]]], 5);
        assert_eq!(both.pairs(None), vec![(0, 1)]);
    }
}
