//! Growing one tree leaf-wise from histograms of binned rows.

use std::ops::Range;

use super::bins::{Edges, MISSING};
use super::hist::{self, SLOTS, Sums};
use super::partition;
use super::{GbdtOptions, Node, Split, Tree};

/// Each leaf's node and its rows' range in [`Grown::rows`].
pub(super) type LeafRanges = Vec<(usize, Range<usize>)>;

/// A grown tree, the rows it saw in leaf order and each leaf's share:
/// what updating the margins needs without walking the tree.
pub(super) struct Grown {
    pub tree: Tree,
    pub rows: Vec<u32>,
    pub leaves: LeafRanges,
}

/// The best split found for a leaf.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    feature: usize,
    bin: usize,
    default_left: bool,
    gain: f64,
}

/// A leaf that may split: its rows are `rows[start..end]`.
struct Leaf {
    node: usize,
    start: usize,
    end: usize,
    depth: usize,
    sums: Sums,
    hist: Vec<Sums>,
    best: Option<Candidate>,
}

/// The binned training rows and the options, shared by every tree.
pub(super) struct Grower<'a> {
    /// Row-major bins (d a row), for histograms: a row's bins share a line.
    binned: &'a [u8],
    /// Column-major bins (n a column), for partitions: one feature's bins
    /// of nearby rows share a line.
    columns: &'a [u8],
    d: usize,
    edges: &'a [Edges],
    options: &'a GbdtOptions,
}

impl<'a> Grower<'a> {
    pub(super) fn new(
        binned: &'a [u8],
        columns: &'a [u8],
        d: usize,
        edges: &'a [Edges],
        options: &'a GbdtOptions,
    ) -> Self {
        Self {
            binned,
            columns,
            d,
            edges,
            options,
        }
    }

    fn histogram(&self, rows: &[u32], gh: &[[f64; 2]]) -> (Vec<Sums>, [f64; 2]) {
        hist::build(self.binned, self.d, rows, gh, self.options.threads)
    }

    /// A tree on `rows` (ascending indices) for gradients and hessians
    /// `gh`; `None` when the root cannot split. Histograms choose the
    /// splits; node values, covers and gains come from the exact f64 sums.
    pub(super) fn grow(&self, gh: &[[f64; 2]], mut rows: Vec<u32>) -> Option<Grown> {
        let (hist, [g, h]) = self.histogram(&rows, gh);
        let sums = [g, h, rows.len() as f64];
        let best = self.best_split(&hist, sums, 0);
        best?;
        let mut nodes = vec![self.node(sums)];
        let mut leaves = vec![Leaf {
            node: 0,
            start: 0,
            end: rows.len(),
            depth: 0,
            sums,
            hist,
            best,
        }];
        let mut scratch: Vec<u32> = Vec::new();
        while leaves.len() < self.options.num_leaves {
            // The leaf gaining most; ties go to the earlier node.
            let Some(at) = (0..leaves.len())
                .filter(|&i| leaves[i].best.is_some())
                .max_by(|&a, &b| {
                    let (ga, gb) = (leaves[a].best.unwrap().gain, leaves[b].best.unwrap().gain);
                    ga.total_cmp(&gb).then(leaves[b].node.cmp(&leaves[a].node))
                })
            else {
                break;
            };
            let leaf = leaves.swap_remove(at);
            let c = leaf.best.expect("filtered on best");
            let threshold = self.edges[c.feature].uppers[c.bin].min(f64::MAX);
            let mut goes_left = [false; SLOTS];
            for (b, left) in goes_left.iter_mut().enumerate() {
                *left = if b == usize::from(MISSING) {
                    c.default_left
                } else {
                    b <= c.bin
                };
            }
            let n = self.columns.len() / self.d;
            let column = &self.columns[c.feature * n..(c.feature + 1) * n];
            let write = leaf.start
                + partition::stable(
                    &mut rows[leaf.start..leaf.end],
                    column,
                    &goes_left,
                    &mut scratch,
                    self.options.threads,
                );
            let (left_rows, right_rows) = (leaf.start..write, write..leaf.end);
            // The smaller child is summed, the larger is parent − smaller.
            let left_smaller = left_rows.len() <= right_rows.len();
            let (small, [g, h]) = self.histogram(
                &rows[if left_smaller {
                    left_rows.clone()
                } else {
                    right_rows.clone()
                }],
                gh,
            );
            let small_sums = [
                g,
                h,
                if left_smaller {
                    left_rows.len()
                } else {
                    right_rows.len()
                } as f64,
            ];
            let large_sums = [
                leaf.sums[0] - g,
                leaf.sums[1] - h,
                leaf.sums[2] - small_sums[2],
            ];
            let mut large = leaf.hist;
            for (a, b) in large.iter_mut().zip(&small) {
                for k in 0..3 {
                    a[k] -= b[k];
                }
            }
            let (left_hist, right_hist, left_sums, right_sums) = if left_smaller {
                (small, large, small_sums, large_sums)
            } else {
                (large, small, large_sums, small_sums)
            };
            let (l, r) = (nodes.len(), nodes.len() + 1);
            nodes.push(self.node(left_sums));
            nodes.push(self.node(right_sums));
            nodes[leaf.node].split = Some(Split {
                feature: c.feature,
                threshold,
                default_left: c.default_left,
                left: l,
                right: r,
                gain: self.score(&left_sums) + self.score(&right_sums) - self.score(&leaf.sums),
            });
            let depth = leaf.depth + 1;
            for (node, range, sums, hist) in [
                (l, left_rows, left_sums, left_hist),
                (r, right_rows, right_sums, right_hist),
            ] {
                let best = self.best_split(&hist, sums, depth);
                leaves.push(Leaf {
                    node,
                    start: range.start,
                    end: range.end,
                    depth,
                    sums,
                    hist,
                    best,
                });
            }
        }
        let leaves = leaves.iter().map(|l| (l.node, l.start..l.end)).collect();
        Some(Grown {
            tree: Tree { nodes },
            rows,
            leaves,
        })
    }

    fn node(&self, sums: Sums) -> Node {
        Node {
            value: -self.options.learning_rate * sums[0] / (sums[1] + self.options.l2),
            rows: sums[2],
            cover: sums[1],
            split: None,
        }
    }

    /// G²/(H+λ): the loss reduction a leaf's optimal value achieves.
    fn score(&self, s: &Sums) -> f64 {
        s[0] * s[0] / (s[1] + self.options.l2)
    }

    /// Whether a child with sums `s` may be: never empty, as f32 rounding
    /// in the histograms could otherwise show an empty side a sliver of gain.
    fn allowed(&self, s: &Sums) -> bool {
        s[1] >= self.options.min_child_weight && s[2] >= self.options.min_rows_in_leaf.max(1) as f64
    }

    /// The best split of a leaf at `depth` with histogram `hist` and
    /// totals `sums`, if any gains.
    fn best_split(&self, hist: &[Sums], sums: Sums, depth: usize) -> Option<Candidate> {
        if self.options.max_depth.is_some_and(|m| depth >= m)
            || sums[2] < 2.0 * self.options.min_rows_in_leaf as f64
        {
            return None;
        }
        let parent = self.score(&sums);
        let mut best: Option<Candidate> = None;
        for (feature, edges) in self.edges.iter().enumerate() {
            let h = &hist[feature * SLOTS..(feature + 1) * SLOTS];
            let missing = h[usize::from(MISSING)];
            let directions: &[bool] = if missing[2] > 0.0 {
                &[false, true]
            } else {
                &[false]
            };
            for &default_left in directions {
                let mut acc = if default_left { missing } else { [0.0; 3] };
                for (bin, slot) in h[..edges.len()].iter().enumerate() {
                    for k in 0..3 {
                        acc[k] += slot[k];
                    }
                    let right = [sums[0] - acc[0], sums[1] - acc[1], sums[2] - acc[2]];
                    if !self.allowed(&acc) || !self.allowed(&right) {
                        continue;
                    }
                    let gain = self.score(&acc) + self.score(&right) - parent;
                    if gain > 0.0 && best.is_none_or(|b| gain > b.gain) {
                        best = Some(Candidate {
                            feature,
                            bin,
                            // Without missing values here, missing values
                            // later follow the heavier side.
                            default_left: if missing[2] > 0.0 {
                                default_left
                            } else {
                                acc[1] >= right[1]
                            },
                            gain,
                        });
                    }
                }
            }
        }
        best
    }
}
