//! `CREATE MODEL … OPTIONS (model_type 'boosted_tree_classifier',
//! input_label_cols ['churned'], …)`: gradient-boosted trees on the
//! training query's rows.
//!
//! The rows are prepared as for every classifier (`classifier.rs`), with
//! numbers kept raw and NULL kept missing (each split learns where missing
//! values go) and text and booleans one-hot; the trees are fitted by
//! `microseg_kernels::gbdt` (LightGBM's recipe), early-stopped on the
//! evaluation rows when there are some.

use std::collections::BTreeMap;
use std::time::Instant;

use datafusion::dataframe::DataFrame;
use microseg_udfs::model::gbdt::{self, GbdtOptions, shap};
use microseg_udfs::model::logistic::sigmoid;

use super::classifier::{Rows, prepare};
use super::classifier_options::{ClassifierSettings, EARLY_STOP_ROUNDS, TreeSettings};
use super::usage;
use crate::catalog::StoredModel;
use crate::error::Result;
use crate::statements::OptionValue;

/// Bytes a row × dimension costs while fitting: its bin (1), beside the
/// prepared f64 copies counted when the rows were read.
const BIN_BYTES: usize = 1;

/// What the kernel is asked, from the options.
pub(super) fn fit_options(settings: &ClassifierSettings, trees: &TreeSettings) -> GbdtOptions {
    GbdtOptions {
        max_iterations: settings.max_iterations as usize,
        learning_rate: trees.learning_rate,
        num_leaves: trees.num_leaves,
        max_depth: trees.max_depth,
        min_child_weight: trees.min_child_weight,
        min_rows_in_leaf: trees.min_rows_in_leaf,
        l2: settings.l2,
        subsample: trees.subsample,
        early_stop_rounds: trees.early_stop.then_some(EARLY_STOP_ROUNDS),
        max_bins: 255,
        seed: settings.seed,
        threads: std::thread::available_parallelism().map_or(1, |t| t.get()),
    }
}

/// Bytes the trees' fit holds for `n` rows of `d` dimensions: bins,
/// gradients (16 bytes), margins (8), row indices (4) and the histograms
/// of up to num_leaves leaves.
pub(super) fn fit_bytes(n: usize, d: usize, trees: &TreeSettings) -> usize {
    n * (d * BIN_BYTES + 28) + trees.num_leaves * d * 256 * 24
}

/// Trains a boosted-tree classifier.
pub async fn train(
    name: &str,
    version: u32,
    options: &BTreeMap<String, OptionValue>,
    query: &str,
    training: DataFrame,
) -> Result<StoredModel> {
    let started = Instant::now();
    let settings = ClassifierSettings::from_options(name, options)?;
    let Some(trees) = settings.trees.clone() else {
        return Err(usage(name, "not a boosted-tree model"));
    };
    let mut data = prepare(name, &settings, training, true, None).await?;
    let n = data.labels.len();
    data.reservation.try_grow(fit_bytes(n, data.d, &trees))?;
    let Rows { x, y, s } = std::mem::take(&mut data.train);
    let Rows { x: ex, y: ey, .. } = std::mem::take(&mut data.evaluation);
    let d = data.d;
    let fit_options = fit_options(&settings, &trees);
    let fit = tokio::task::spawn_blocking(move || {
        let eval = (!ey.is_empty()).then_some((ex.as_slice(), ey.as_slice()));
        gbdt::fit(&x, &y, &s, d, eval, &fit_options)
    })
    .await
    .map_err(|e| usage(name, format!("training failed: {e}")))?
    .map_err(|e| usage(name, e))?;
    let offset = data.offset();
    let ensemble = fit.ensemble;
    let p: Vec<f64> = (0..n)
        .map(|i| sigmoid(ensemble.margin(data.row(i)) + offset))
        .collect();
    let mut metrics = data.metrics(name, &p)?;
    metrics.insert("trees".into(), ensemble.trees.len() as f64);
    metrics.insert("trees_grown".into(), fit.grown as f64);
    metrics.insert(
        "leaves".into(),
        ensemble.trees.iter().map(gbdt::Tree::leaves).sum::<usize>() as f64,
    );
    let mut parameters = BTreeMap::new();
    parameters.insert("base_margin".into(), ensemble.base);
    parameters.insert("offset".into(), offset);
    parameters.insert(
        "expected_value".into(),
        shap::expected_value(&ensemble) + offset,
    );
    let converged = fit.grown < settings.max_iterations as usize;
    let mut meta = data.meta(
        name,
        version,
        &settings,
        query,
        started,
        (ensemble.trees.len() as u32, converged),
        metrics,
        parameters,
    );
    // No centroids: the trees are the parameters.
    meta.k = 0;
    Ok(StoredModel {
        meta,
        centroids: Vec::new(),
        sizes: Vec::new(),
        trees: Some(ensemble),
        recommender: None,
        linkage: None,
    })
}
