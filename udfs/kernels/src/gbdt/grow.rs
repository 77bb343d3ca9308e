//! Growing one tree leaf-wise from histograms of binned rows.

use super::bins::{Edges, MISSING};
use super::{GbdtOptions, Node, Split, Tree};

/// Slots per feature in a histogram: 255 value bins and the missing one.
const SLOTS: usize = 256;

/// Sums of gradient, hessian and rows.
type Sums = [f64; 3];

/// Below this many row × feature visits a histogram is built on one thread
/// (spawning costs more than it saves).
const PARALLEL_FROM: usize = 200_000;

/// Each leaf's node and the rows it holds.
pub(super) type LeafRows = Vec<(usize, Vec<u32>)>;

/// The best split found for a leaf.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    feature: usize,
    bin: usize,
    default_left: bool,
    gain: f64,
    left: Sums,
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
    binned: &'a [u8],
    d: usize,
    edges: &'a [Edges],
    options: &'a GbdtOptions,
}

impl<'a> Grower<'a> {
    pub(super) fn new(
        binned: &'a [u8],
        d: usize,
        edges: &'a [Edges],
        options: &'a GbdtOptions,
    ) -> Self {
        Self {
            binned,
            d,
            edges,
            options,
        }
    }

    /// A tree on `rows` (ascending indices) for gradients and hessians
    /// `gh`, and the rows each leaf holds (leaf node, row indices): what
    /// updating the margins needs without walking the tree; `None` when the
    /// root cannot split.
    pub(super) fn grow(&self, gh: &[[f64; 2]], mut rows: Vec<u32>) -> Option<(Tree, LeafRows)> {
        let sums = rows.iter().fold([0.0; 3], |acc, &i| {
            let [g, h] = gh[i as usize];
            [acc[0] + g, acc[1] + h, acc[2] + 1.0]
        });
        let hist = self.histogram(&rows, gh);
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
            // Stable partition: each child keeps ascending row order.
            scratch.clear();
            let mut write = leaf.start;
            for k in leaf.start..leaf.end {
                let i = rows[k];
                let b = self.binned[i as usize * self.d + c.feature];
                let left = if b == MISSING {
                    c.default_left
                } else {
                    usize::from(b) <= c.bin
                };
                if left {
                    rows[write] = i;
                    write += 1;
                } else {
                    scratch.push(i);
                }
            }
            rows[write..leaf.end].copy_from_slice(&scratch);
            let right_sums = [
                leaf.sums[0] - c.left[0],
                leaf.sums[1] - c.left[1],
                leaf.sums[2] - c.left[2],
            ];
            let (l, r) = (nodes.len(), nodes.len() + 1);
            nodes.push(self.node(c.left));
            nodes.push(self.node(right_sums));
            nodes[leaf.node].split = Some(Split {
                feature: c.feature,
                threshold,
                default_left: c.default_left,
                left: l,
                right: r,
                gain: c.gain,
            });
            // The smaller child is summed, the larger is parent − smaller.
            let (left_rows, right_rows) = (leaf.start..write, write..leaf.end);
            let left_smaller = left_rows.len() <= right_rows.len();
            let small = self.histogram(
                &rows[if left_smaller {
                    left_rows.clone()
                } else {
                    right_rows.clone()
                }],
                gh,
            );
            let mut large = leaf.hist;
            for (a, b) in large.iter_mut().zip(&small) {
                for k in 0..3 {
                    a[k] -= b[k];
                }
            }
            let (left_hist, right_hist) = if left_smaller {
                (small, large)
            } else {
                (large, small)
            };
            let depth = leaf.depth + 1;
            for (node, range, sums, hist) in [
                (l, left_rows, c.left, left_hist),
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
        let held = leaves
            .iter()
            .map(|l| (l.node, rows[l.start..l.end].to_vec()))
            .collect();
        Some((Tree { nodes }, held))
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

    fn allowed(&self, s: &Sums) -> bool {
        s[1] >= self.options.min_child_weight && s[2] >= self.options.min_rows_in_leaf as f64
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
                            left: acc,
                        });
                    }
                }
            }
        }
        best
    }

    /// Per feature, per bin: Σg, Σh, rows over `rows`. Features are split
    /// among threads; each bin is summed by one thread in row order, so the
    /// sums are the same bits whatever the thread count.
    fn histogram(&self, rows: &[u32], gh: &[[f64; 2]]) -> Vec<Sums> {
        let d = self.d;
        let mut hist = vec![[0.0; 3]; d * SLOTS];
        let threads = if rows.len() * d < PARALLEL_FROM {
            1
        } else {
            self.options.threads.clamp(1, d)
        };
        let fill = |first: usize, part: &mut [Sums]| {
            let count = part.len() / SLOTS;
            for &i in rows {
                let i = i as usize;
                let [g, h] = gh[i];
                let row = &self.binned[i * d + first..i * d + first + count];
                for (f, &b) in row.iter().enumerate() {
                    let slot = &mut part[f * SLOTS + usize::from(b)];
                    slot[0] += g;
                    slot[1] += h;
                    slot[2] += 1.0;
                }
            }
        };
        if threads == 1 {
            fill(0, &mut hist);
            return hist;
        }
        std::thread::scope(|scope| {
            let mut rest: &mut [Sums] = &mut hist;
            let mut first = 0;
            for t in 0..threads {
                let next = (t + 1) * d / threads;
                let (part, tail) = rest.split_at_mut((next - first) * SLOTS);
                rest = tail;
                let start = first;
                let fill = &fill;
                scope.spawn(move || fill(start, part));
                first = next;
            }
        });
        hist
    }
}
