//! `CREATE MODEL … OPTIONS (model_type 'logistic_reg', input_label_cols
//! ['churned'], …)`: a binary classifier on the training query's rows.
//!
//! The rows are prepared as for every classifier (`classifier.rs`: held
//! in the engine's pool, split, encoded as k-means encodes — NULL numbers
//! → training mean, z-scored with the training rows' mean and population
//! std; text and booleans one-hot — and sorted canonically) and fitted by
//! Newton's method in `microseg_kernels::logistic`.

use std::collections::BTreeMap;
use std::time::Instant;

use datafusion::dataframe::DataFrame;
use microseg_udfs::model::logistic::{self, LogisticOptions, sigmoid};

use super::classifier::{Rows, prepare};
use super::classifier_options::ClassifierSettings;
use super::usage;
use crate::catalog::StoredModel;
use crate::error::Result;
use crate::statements::OptionValue;

/// What the kernel is asked, from the options.
pub(super) fn fit_options(settings: &ClassifierSettings) -> LogisticOptions {
    LogisticOptions {
        l2: settings.l2,
        max_iterations: settings.max_iterations,
        tolerance: 1e-10,
        threads: std::thread::available_parallelism().map_or(1, |t| t.get()),
    }
}

/// Trains a logistic-regression model.
pub async fn train(
    name: &str,
    version: u32,
    options: &BTreeMap<String, OptionValue>,
    query: &str,
    training: DataFrame,
) -> Result<StoredModel> {
    let started = Instant::now();
    let settings = ClassifierSettings::from_options(name, options)?;
    let mut data = prepare(name, &settings, training, false, None).await?;
    let Rows { x, y, s } = std::mem::take(&mut data.train);
    let d = data.d;
    let fit_options = fit_options(&settings);
    let fit = tokio::task::spawn_blocking(move || logistic::fit(&x, &y, &s, d, &fit_options))
        .await
        .map_err(|e| usage(name, format!("training failed: {e}")))?
        .map_err(|e| usage(name, e))?;
    let offset = data.offset();

    // Metrics on the training and evaluation rows, calibrated probabilities.
    let b = fit.intercept + offset;
    let p: Vec<f64> = (0..data.labels.len())
        .map(|i| {
            sigmoid(
                b + data
                    .row(i)
                    .iter()
                    .zip(&fit.coefficients)
                    .map(|(x, w)| x * w)
                    .sum::<f64>(),
            )
        })
        .collect();
    let mut metrics = data.metrics(name, &p)?;
    metrics.insert("objective".into(), fit.objective);
    metrics.insert("gradient_norm".into(), fit.gradient_norm);
    let mut parameters = BTreeMap::new();
    parameters.insert("intercept".into(), fit.intercept);
    parameters.insert("offset".into(), offset);
    Ok(StoredModel {
        meta: data.meta(
            name,
            version,
            &settings,
            query,
            started,
            (fit.iterations, fit.converged),
            metrics,
            parameters,
        ),
        centroids: fit.coefficients,
        sizes: vec![data.train_count() as u64],
        trees: None,
        recommender: None,
        linkage: None,
    })
}
