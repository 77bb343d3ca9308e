//! The deterministic identity graph: union-find over shared key values,
//! keys applied by priority, with per-key limits on distinct values per
//! profile, blocked values and a component size guard; then stable profile
//! ids. Pure computation: the caller reads the sources and stores the result.

use std::collections::HashMap;

/// The records and their key values. Records must be sorted by (source,
/// record key): that order decides ties, so results do not depend on how
/// the sources were read.
pub struct Input<'a> {
    /// Number of records.
    pub records: usize,
    /// Per match key: each record's value (`None`: NULL or blocked).
    pub values: Vec<Vec<Option<&'a str>>>,
    /// Per match key: at most this many distinct values per profile.
    pub limits: Vec<Option<u64>>,
    /// Match keys in the order they are applied.
    pub order: Vec<usize>,
    /// Components never grow past this.
    pub max_size: Option<u64>,
}

/// Per record: its component's representative, size, the keys it was
/// linked by (a bit per key) and whether its component hit the size guard.
pub struct Components {
    /// Component representative (a record index) per record.
    pub root: Vec<u32>,
    /// Size of the record's component.
    pub size: Vec<u32>,
    /// Bit k set: the record shares key k's value with another record it was merged with.
    pub matched_by: Vec<u64>,
    /// The component was kept from growing past the size guard.
    pub flagged: Vec<bool>,
    /// Per match key: merges made, dropped by a limit, dropped by the size guard.
    pub merges: Vec<[u64; 3]>,
}

struct Dsu {
    parent: Vec<u32>,
    size: Vec<u32>,
    /// Per limited key: the distinct value ids held by a root's component.
    held: Vec<Vec<Vec<u32>>>,
    flagged: Vec<bool>,
}

impl Dsu {
    fn find(&mut self, mut x: u32) -> u32 {
        while self.parent[x as usize] != x {
            let p = self.parent[x as usize];
            self.parent[x as usize] = self.parent[p as usize];
            x = p;
        }
        x
    }
}

fn union_sorted(a: &[u32], b: &[u32]) -> Vec<u32> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        let next = match (a.get(i), b.get(j)) {
            (Some(&x), Some(&y)) if x == y => {
                i += 1;
                j += 1;
                x
            }
            (Some(&x), Some(&y)) if x < y => {
                i += 1;
                x
            }
            (Some(_), Some(&y)) | (None, Some(&y)) => {
                j += 1;
                y
            }
            (Some(&x), None) => {
                i += 1;
                x
            }
            (None, None) => unreachable!("loop condition"),
        };
        out.push(next);
    }
    out
}

/// Builds the components.
pub fn components(input: &Input<'_>) -> Components {
    let n = input.records;
    let keys = input.values.len();
    // Value ids per key, for the limit check (sorted sets of small ids).
    let limited: Vec<usize> = (0..keys).filter(|&k| input.limits[k].is_some()).collect();
    let mut ids: Vec<Vec<Option<u32>>> = Vec::with_capacity(limited.len());
    for &k in &limited {
        let mut interned: HashMap<&str, u32> = HashMap::new();
        ids.push(
            input.values[k]
                .iter()
                .map(|v| {
                    v.map(|s| {
                        let next = interned.len() as u32;
                        *interned.entry(s).or_insert(next)
                    })
                })
                .collect(),
        );
    }
    let mut dsu = Dsu {
        parent: (0..n as u32).collect(),
        size: vec![1; n],
        held: ids
            .iter()
            .map(|col| col.iter().map(|v| v.iter().copied().collect()).collect())
            .collect(),
        flagged: vec![false; n],
    };
    let mut matched_by = vec![0u64; n];
    let mut merges = vec![[0u64; 3]; keys];

    for &k in &input.order {
        // Groups of records sharing a value, in value order.
        let mut groups: HashMap<&str, Vec<u32>> = HashMap::new();
        for (i, v) in input.values[k].iter().enumerate() {
            if let Some(v) = v {
                groups.entry(v).or_default().push(i as u32);
            }
        }
        let mut groups: Vec<(&str, Vec<u32>)> =
            groups.into_iter().filter(|g| g.1.len() > 1).collect();
        groups.sort_unstable_by(|a, b| a.0.cmp(b.0));
        for (_, members) in groups {
            let anchor = members[0];
            for &x in &members[1..] {
                let (ra, rb) = (dsu.find(anchor), dsu.find(x));
                if ra == rb {
                    matched_by[anchor as usize] |= 1 << k;
                    matched_by[x as usize] |= 1 << k;
                    continue;
                }
                let size = dsu.size[ra as usize] + dsu.size[rb as usize];
                if input.max_size.is_some_and(|m| size as u64 > m) {
                    dsu.flagged[ra as usize] = true;
                    dsu.flagged[rb as usize] = true;
                    merges[k][2] += 1;
                    continue;
                }
                let mut joined = Vec::with_capacity(limited.len());
                let mut over = false;
                for (slot, &lk) in limited.iter().enumerate() {
                    let u =
                        union_sorted(&dsu.held[slot][ra as usize], &dsu.held[slot][rb as usize]);
                    if u.len() as u64 > input.limits[lk].unwrap_or(u64::MAX) {
                        over = true;
                        break;
                    }
                    joined.push(u);
                }
                if over {
                    merges[k][1] += 1;
                    continue;
                }
                // The larger component's root survives (ties: the earlier record).
                let (root, child) = if dsu.size[rb as usize] > dsu.size[ra as usize]
                    || (dsu.size[rb as usize] == dsu.size[ra as usize] && rb < ra)
                {
                    (rb, ra)
                } else {
                    (ra, rb)
                };
                dsu.parent[child as usize] = root;
                dsu.size[root as usize] = size;
                let flagged = dsu.flagged[child as usize];
                dsu.flagged[root as usize] |= flagged;
                for (slot, u) in joined.into_iter().enumerate() {
                    dsu.held[slot][root as usize] = u;
                    dsu.held[slot][child as usize] = Vec::new();
                }
                matched_by[anchor as usize] |= 1 << k;
                matched_by[x as usize] |= 1 << k;
                merges[k][0] += 1;
            }
        }
    }
    let root: Vec<u32> = (0..n as u32).map(|i| dsu.find(i)).collect();
    let size = root.iter().map(|&r| dsu.size[r as usize]).collect();
    let flagged = root.iter().map(|&r| dsu.flagged[r as usize]).collect();
    Components {
        root,
        size,
        matched_by,
        flagged,
        merges,
    }
}

/// Profile ids that survive rebuilds. Each component takes the previous
/// profile id most of its records had (ties: the smaller id); when two
/// components claim the same id (a split), the one holding more of its
/// records keeps it (ties: the one whose first record comes first) and
/// the other takes its next best or a new id. Merged profiles keep the
/// id of the larger part; new ids count up from the largest id ever
/// given, in the order of each component's first record.
pub fn profile_ids(root: &[u32], previous: &[Option<i64>], next_id: i64) -> Vec<i64> {
    let n = root.len();
    // Components in order of their first record.
    let mut first: HashMap<u32, usize> = HashMap::new();
    let mut order: Vec<u32> = Vec::new();
    for (i, &r) in root.iter().enumerate() {
        first.entry(r).or_insert_with(|| {
            order.push(r);
            i
        });
    }
    // Previous ids held per component, with counts, best first.
    let mut votes: HashMap<u32, HashMap<i64, u32>> = HashMap::new();
    for i in 0..n {
        if let Some(p) = previous[i] {
            *votes.entry(root[i]).or_default().entry(p).or_default() += 1;
        }
    }
    let mut claims: Vec<(u32, i64, u32)> = Vec::new(); // (count, id, component)
    for (&c, v) in &votes {
        for (&id, &count) in v {
            claims.push((count, id, c));
        }
    }
    // Strongest claims first; ties by smaller id, then earlier component.
    claims.sort_unstable_by(|a, b| {
        b.0.cmp(&a.0)
            .then(a.1.cmp(&b.1))
            .then(first[&a.2].cmp(&first[&b.2]))
    });
    let mut given: HashMap<u32, i64> = HashMap::new();
    let mut taken = std::collections::HashSet::new();
    for (_, id, c) in claims {
        if !given.contains_key(&c) && !taken.contains(&id) {
            given.insert(c, id);
            taken.insert(id);
        }
    }
    let mut next = next_id;
    for &c in &order {
        given.entry(c).or_insert_with(|| {
            next += 1;
            next - 1
        });
    }
    root.iter().map(|r| given[r]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(
        values: Vec<Vec<Option<&str>>>,
        limits: Vec<Option<u64>>,
        max: Option<u64>,
    ) -> Components {
        let keys = values.len();
        components(&Input {
            records: values[0].len(),
            values,
            limits,
            order: (0..keys).collect(),
            max_size: max,
        })
    }

    #[test]
    fn shared_values_link_transitively() {
        // 0-1 by email, 1-2 by phone; 3 alone.
        let c = build(
            vec![
                vec![Some("a"), Some("a"), Some("b"), Some("c")],
                vec![None, Some("p"), Some("p"), None],
            ],
            vec![None, None],
            None,
        );
        assert_eq!(c.root[0], c.root[2]);
        assert_ne!(c.root[0], c.root[3]);
        assert_eq!(c.size, [3, 3, 3, 1]);
        assert_eq!(c.matched_by, [1, 3, 2, 0]);
        assert_eq!(c.merges, [[1, 0, 0], [1, 0, 0]]);
    }

    #[test]
    fn a_limit_refuses_the_merge_that_exceeds_it() {
        // Records 0,1 share phone p; 2 shares phone p too but would bring a
        // third e-mail into a profile limited to two.
        let c = build(
            vec![
                vec![Some("a"), Some("b"), Some("c")],
                vec![Some("p"), Some("p"), Some("p")],
            ],
            vec![Some(2), None],
            None,
        );
        assert_eq!(c.root[0], c.root[1]);
        assert_ne!(c.root[0], c.root[2]);
        assert_eq!(c.merges[1], [1, 1, 0]);
    }

    #[test]
    fn the_size_guard_flags_instead_of_merging() {
        let c = build(vec![vec![Some("x"); 5]], vec![None], Some(3));
        assert_eq!(c.size[0], 3);
        assert!(c.flagged.iter().all(|&f| f));
        assert_eq!(c.merges[0], [2, 0, 2]);
    }

    #[test]
    fn profile_ids_survive_growth_merges_and_splits() {
        // Before: records 0,1 → profile 7; 2 → profile 9; 3 new.
        let previous = [Some(7), Some(7), Some(9), None];
        // Same grouping: ids kept; the new record gets a new id.
        assert_eq!(profile_ids(&[0, 0, 2, 3], &previous, 10), [7, 7, 9, 10]);
        // All merged: the larger part's id (7) survives.
        assert_eq!(profile_ids(&[0, 0, 0, 0], &previous, 10), [7, 7, 7, 7]);
        // Profile 7 split: the part with more of its records... tie, so the
        // part with the earlier first record keeps it.
        assert_eq!(profile_ids(&[0, 1, 2, 1], &previous, 10), [7, 10, 9, 10]);
    }
}
