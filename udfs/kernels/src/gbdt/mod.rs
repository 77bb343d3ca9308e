//! Gradient-boosted decision trees for binary classification ([`fit`]) and
//! squared-error regression ([`fit_regression`]): LightGBM's recipe, our
//! own code.
//!
//! Each tree fits the gradient gᵢ = sᵢ(pᵢ − yᵢ) and hessian hᵢ = sᵢpᵢ(1 − pᵢ)
//! of the weighted log-loss at the current margins (sᵢ the class weight).
//! Features are binned once ([`bins`], ≤ 255 quantile bins, NaN missing);
//! a node's histogram sums g, h and rows per bin (in f32 blocks added in
//! f64, module `hist`: they only choose splits; node values, covers and gains
//! come from exact f64 sums), and of two children only the smaller is
//! summed, the larger being parent − smaller. A split reorders the leaf's
//! row indices in place (module `partition`). Trees grow
//! leaf-wise (the leaf whose best split gains most splits next) up to
//! `num_leaves` leaves and `max_depth`; a split gains
//! G_L²/(H_L+λ) + G_R²/(H_R+λ) − G²/(H+λ) and needs `min_child_weight`
//! hessian and `min_rows_in_leaf` rows each side; a leaf is worth
//! −η·G/(H+λ). Missing values take the side that gains more when the node
//! saw some (the learned default), else the side with more hessian.
//!
//! Deterministic for a seed whatever the thread count: histograms sum
//! fixed row blocks and add the blocks in order, a stable partition is
//! unique, gradients and bins are per row and per column, row sampling
//! hashes (seed, tree, row), and the caller fixes the row order.

pub mod bins;
mod gradient;
mod grow;
mod hist;
mod partition;
pub mod shap;

use serde::{Deserialize, Serialize};

use crate::logistic::{sigmoid, softplus};
use bins::Edges;

/// What a fit is asked.
#[derive(Debug, Clone, PartialEq)]
pub struct GbdtOptions {
    /// Trees at most.
    pub max_iterations: usize,
    /// η, the shrinkage of every leaf value.
    pub learning_rate: f64,
    /// Leaves per tree at most (≥ 2).
    pub num_leaves: usize,
    /// Depth at most (the root is depth 0); `None`: only `num_leaves` limits.
    pub max_depth: Option<usize>,
    /// Hessian each child needs at least.
    pub min_child_weight: f64,
    /// Rows each child needs at least.
    pub min_rows_in_leaf: usize,
    /// λ of the L2 penalty on leaf values.
    pub l2: f64,
    /// Fraction of the rows each tree sees (1: all).
    pub subsample: f64,
    /// Stop when the evaluation rows' log-loss has not improved for this
    /// many trees, keeping the best count; `None`: grow every tree.
    pub early_stop_rounds: Option<usize>,
    /// Value bins per feature at most (≤ 255).
    pub max_bins: usize,
    /// Seed of the row sampling.
    pub seed: u64,
    /// Threads for the histograms.
    pub threads: usize,
}

impl Default for GbdtOptions {
    /// LightGBM's defaults.
    fn default() -> Self {
        Self {
            max_iterations: 100,
            learning_rate: 0.1,
            num_leaves: 31,
            max_depth: None,
            min_child_weight: 1e-3,
            min_rows_in_leaf: 20,
            l2: 0.0,
            subsample: 1.0,
            early_stop_rounds: None,
            max_bins: 255,
            seed: 42,
            threads: 1,
        }
    }
}

/// A split of an internal node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Split {
    /// The column (encoded dimension) tested.
    pub feature: usize,
    /// x ≤ threshold goes left.
    pub threshold: f64,
    /// Where a missing (NaN) value goes.
    pub default_left: bool,
    /// Child nodes (indices in the tree).
    pub left: usize,
    /// .
    pub right: usize,
    /// Loss reduction of the split.
    pub gain: f64,
}

/// One node; a leaf when `split` is `None`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Node {
    /// The node's margin contribution were it a leaf (η·−G/(H+λ)).
    pub value: f64,
    /// Training rows reaching the node (TreeSHAP's weights).
    pub rows: f64,
    /// Hessian of those rows (XGBoost's "cover").
    pub cover: f64,
    /// The split, for internal nodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split: Option<Split>,
}

/// A tree: node 0 is the root.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tree {
    /// The nodes.
    pub nodes: Vec<Node>,
}

impl Tree {
    /// The leaf `row` falls in.
    pub fn leaf(&self, row: &[f64]) -> usize {
        let mut at = 0;
        while let Some(s) = &self.nodes[at].split {
            at = if go_left(s, row[s.feature]) {
                s.left
            } else {
                s.right
            };
        }
        at
    }

    /// Leaves.
    pub fn leaves(&self) -> usize {
        self.nodes.iter().filter(|n| n.split.is_none()).count()
    }
}

/// Whether `x` goes left at `s`.
pub fn go_left(s: &Split, x: f64) -> bool {
    if x.is_nan() {
        s.default_left
    } else {
        x <= s.threshold
    }
}

/// A fitted ensemble: margin = base + Σ trees' leaf values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ensemble {
    /// The starting margin: the log-odds of the weighted base rate.
    pub base: f64,
    /// The trees, in boosting order.
    pub trees: Vec<Tree>,
}

impl Ensemble {
    /// The raw margin (log-odds) of one row (`row[j]` is dimension j; NaN
    /// is missing).
    pub fn margin(&self, row: &[f64]) -> f64 {
        self.base
            + self
                .trees
                .iter()
                .map(|t| t.nodes[t.leaf(row)].value)
                .sum::<f64>()
    }

    /// Per dimension (of `dims`): how many splits test it, their total
    /// gain and their total cover.
    pub fn importance(&self, dims: usize) -> Vec<(usize, f64, f64)> {
        let mut out = vec![(0, 0.0, 0.0); dims];
        for tree in &self.trees {
            for node in &tree.nodes {
                if let Some(s) = &node.split
                    && let Some(slot) = out.get_mut(s.feature)
                {
                    slot.0 += 1;
                    slot.1 += s.gain;
                    slot.2 += node.cover;
                }
            }
        }
        out
    }
}

/// A fit and how it went.
#[derive(Debug, Clone, PartialEq)]
pub struct GbdtFit {
    /// The model.
    pub ensemble: Ensemble,
    /// Trees grown before early stopping cut back to the best count.
    pub grown: usize,
    /// Mean (unweighted) log-loss of the evaluation rows after each kept
    /// tree, when there were evaluation rows.
    pub eval_loss: Vec<f64>,
}

/// Fits an ensemble on `x` (row-major n × d, NaN missing), labels `y` and
/// row weights `s`; `eval` (row-major, with labels) scores early stopping.
pub fn fit(
    x: &[f64],
    y: &[bool],
    s: &[f64],
    d: usize,
    eval: Option<(&[f64], &[bool])>,
    options: &GbdtOptions,
) -> Result<GbdtFit, String> {
    let targets = |y: &[bool]| -> Vec<f64> { y.iter().map(|&l| f64::from(u8::from(l))).collect() };
    let eval_targets = eval.map(|(_, ey)| targets(ey));
    let eval = eval
        .zip(eval_targets.as_deref())
        .map(|((ex, _), et)| (ex, et));
    boost(Loss::Logistic, x, &targets(y), s, d, eval, options)
}

/// Fits a regression ensemble (squared error: gᵢ = sᵢ(mᵢ − tᵢ), hᵢ = sᵢ,
/// leaves −η·G/(H+λ), the base the weighted mean) to targets `t`; `eval`
/// early-stops on its mean squared error. The X-learner's second stage.
pub fn fit_regression(
    x: &[f64],
    t: &[f64],
    s: &[f64],
    d: usize,
    eval: Option<(&[f64], &[f64])>,
    options: &GbdtOptions,
) -> Result<GbdtFit, String> {
    if t.iter().any(|v| !v.is_finite()) {
        return Err("regression targets must be finite".into());
    }
    boost(Loss::Squared, x, t, s, d, eval, options)
}

/// What the trees minimise.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Loss {
    /// Weighted log-loss of labels 0/1 at margins (log-odds).
    Logistic,
    /// Weighted squared error.
    Squared,
}

impl Loss {
    /// (gradient, hessian) of one row at margin `m`, target `t`, weight `w`.
    fn gh(self, m: f64, t: f64, w: f64) -> [f64; 2] {
        match self {
            Loss::Logistic => {
                let p = sigmoid(m);
                [w * (p - t), w * p * (1.0 - p)]
            }
            Loss::Squared => [w * (m - t), w],
        }
    }

    /// An unweighted row's loss, for early stopping.
    fn loss(self, m: f64, t: f64) -> f64 {
        match self {
            Loss::Logistic => softplus(m) - t * m,
            Loss::Squared => (m - t) * (m - t),
        }
    }
}

fn boost(
    loss: Loss,
    x: &[f64],
    y: &[f64],
    s: &[f64],
    d: usize,
    eval: Option<(&[f64], &[f64])>,
    options: &GbdtOptions,
) -> Result<GbdtFit, String> {
    let n = y.len();
    if d == 0 || n == 0 || x.len() != n * d || s.len() != n {
        return Err("no rows or no features to fit".into());
    }
    if options.num_leaves < 2 {
        return Err("num_leaves must be at least 2".into());
    }
    let threads = options.threads.max(1);
    let (edges, columns) = bins::bin_columns(x, d, options.max_bins, threads);
    let binned = bins::transpose(&columns, d, threads);
    let bin_rows = |x: &[f64]| -> Vec<u8> {
        x.chunks_exact(d)
            .flat_map(|row| row.iter().zip(&edges).map(|(v, e)| e.bin(*v)))
            .collect()
    };
    let (sw, sp) = y
        .iter()
        .zip(s)
        .fold((0.0, 0.0), |(w, p), (&t, &s)| (w + s, p + s * t));
    let base = match loss {
        Loss::Logistic if sp <= 0.0 || sp >= sw => {
            return Err("the training rows hold a single class".into());
        }
        Loss::Logistic => (sp / (sw - sp)).ln(),
        Loss::Squared if sw <= 0.0 => return Err("the row weights sum to zero".into()),
        Loss::Squared => sp / sw,
    };
    let mut margins = vec![base; n];
    let eval_binned = eval.map(|(ex, ey)| (bin_rows(ex), ey));
    let mut eval_margins = eval.map_or(Vec::new(), |(_, ey)| vec![base; ey.len()]);
    let mut trees: Vec<Tree> = Vec::new();
    let mut eval_loss = Vec::new();
    let mut best = (f64::INFINITY, 0);
    let mut gh = vec![[0.0; 2]; n];
    let grower = grow::Grower::new(&binned, &columns, d, &edges, options);
    for t in 0..options.max_iterations {
        // Each row's pair alone: the same bits whatever the threads.
        let size = n.div_ceil(threads);
        std::thread::scope(|scope| {
            for (c, part) in gh.chunks_mut(size).enumerate() {
                let margins = &margins;
                scope.spawn(move || {
                    let rows = c * size..c * size + part.len();
                    if loss == Loss::Logistic {
                        let (m, t, s) = (&margins[rows.clone()], &y[rows.clone()], &s[rows]);
                        gradient::logistic(m, t, s, part);
                    } else {
                        for (k, slot) in part.iter_mut().enumerate() {
                            let i = rows.start + k;
                            *slot = loss.gh(margins[i], y[i], s[i]);
                        }
                    }
                });
            }
        });
        let rows: Vec<u32> = if options.subsample < 1.0 {
            let cut = options.subsample * 2f64.powi(64);
            (0..n as u32)
                .filter(|&i| {
                    let h = mix(
                        mix(options.seed ^ (t as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15))
                            ^ u64::from(i),
                    );
                    (h as f64) < cut
                })
                .collect()
        } else {
            (0..n as u32).collect()
        };
        let sampled = rows.len() < n;
        let Some(grow::Grown { tree, rows, leaves }) = grower.grow(&gh, rows) else {
            break;
        };
        // The rows the tree saw sit in its leaves; the others (sampled
        // out) walk it.
        let mut seen = vec![!sampled; if sampled { n } else { 0 }];
        for (node, range) in leaves {
            let value = tree.nodes[node].value;
            for &i in &rows[range] {
                margins[i as usize] += value;
                if sampled {
                    seen[i as usize] = true;
                }
            }
        }
        for (i, _) in seen.iter().enumerate().filter(|(_, s)| !**s) {
            margins[i] += tree.nodes[binned_leaf(&tree, &binned[i * d..(i + 1) * d], &edges)].value;
        }
        if let (Some((eb, ey)), true) = (&eval_binned, !eval_margins.is_empty()) {
            for (i, m) in eval_margins.iter_mut().enumerate() {
                *m += tree.nodes[binned_leaf(&tree, &eb[i * d..(i + 1) * d], &edges)].value;
            }
            let loss = eval_margins
                .iter()
                .zip(ey.iter())
                .map(|(&m, &t)| loss.loss(m, t))
                .sum::<f64>()
                / ey.len() as f64;
            eval_loss.push(loss);
            if loss < best.0 {
                best = (loss, t + 1);
            }
        }
        trees.push(tree);
        if let Some(rounds) = options.early_stop_rounds
            && !eval_loss.is_empty()
            && trees.len() >= best.1 + rounds
        {
            break;
        }
    }
    let grown = trees.len();
    if options.early_stop_rounds.is_some() && best.1 > 0 {
        trees.truncate(best.1);
        eval_loss.truncate(best.1);
    }
    Ok(GbdtFit {
        ensemble: Ensemble { base, trees },
        grown,
        eval_loss,
    })
}

/// The leaf of a binned row: the same as [`Tree::leaf`] on its values, as
/// every threshold is a bin edge.
fn binned_leaf(tree: &Tree, row: &[u8], edges: &[Edges]) -> usize {
    let mut at = 0;
    while let Some(s) = &tree.nodes[at].split {
        let b = row[s.feature];
        let left = if b == bins::MISSING {
            s.default_left
        } else {
            // The last bin's edge is +∞; a threshold there is f64::MAX.
            edges[s.feature].uppers[usize::from(b)].min(f64::MAX) <= s.threshold
        };
        at = if left { s.left } else { s.right };
    }
    at
}

/// splitmix64's finalizer.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests;
