//! Metrics of a binary classifier's scores against the true labels, with
//! scikit-learn's definitions (so they can be checked against
//! `sklearn.metrics` on the same predictions). Ties in score are one
//! threshold: every curve moves through a tie group at once, so the result
//! does not depend on the rows' order.

/// The metrics `model_evaluate` reports for a classifier.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BinaryMetrics {
    /// Rows scored.
    pub rows: u64,
    /// Positive rows.
    pub positives: u64,
    /// Area under the ROC curve (trapezoids through tie groups); NaN with
    /// one class only.
    pub roc_auc: f64,
    /// Average precision Σₖ (Rₖ − Rₖ₋₁) · Pₖ over the distinct thresholds
    /// (no interpolation), scikit-learn's `average_precision_score`.
    pub pr_auc: f64,
    /// Mean −[y ln p + (1 − y) ln(1 − p)], p clipped to [ε, 1 − ε] with
    /// ε = f64::EPSILON, as scikit-learn does.
    pub log_loss: f64,
    /// Mean (p − y)².
    pub brier: f64,
    /// At the threshold (positive when p ≥ threshold): (TP + TN) / n.
    pub accuracy: f64,
    /// TP / (TP + FP); 0 when nothing is predicted positive (scikit-learn's
    /// `zero_division=0`).
    pub precision: f64,
    /// TP / (TP + FN).
    pub recall: f64,
    /// 2PR / (P + R); 0 when both are 0.
    pub f1: f64,
}

/// One point of the ROC curve per distinct score, highest first.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RocPoint {
    /// Rows with score ≥ threshold are predicted positive.
    pub threshold: f64,
    /// True positives at the threshold.
    pub true_positives: u64,
    /// False positives at the threshold.
    pub false_positives: u64,
    /// TP / positives.
    pub tpr: f64,
    /// FP / negatives.
    pub fpr: f64,
    /// TP / (TP + FP).
    pub precision: f64,
}

/// One decile of a gains table.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GainsRow {
    /// 1 (highest scores) … 10.
    pub decile: u32,
    /// Rows in the decile.
    pub rows: u64,
    /// Positives in the decile.
    pub positives: u64,
    /// Lowest score in the decile.
    pub min_score: f64,
    /// Highest score in the decile.
    pub max_score: f64,
    /// Positive rate in the decile ÷ the overall positive rate.
    pub lift: f64,
    /// Rows in deciles 1..=this one.
    pub cumulative_rows: u64,
    /// Share of all positives in deciles 1..=this one.
    pub cumulative_capture: f64,
    /// Cumulative positive rate ÷ the overall positive rate.
    pub cumulative_lift: f64,
}

/// Indices of `scores` by descending score (NaN refused by the caller).
fn descending(scores: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_unstable_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    order
}

/// Cumulative (TP, FP) after each tie group, with the group's score.
fn tie_groups(scores: &[f64], labels: &[bool]) -> Vec<(f64, u64, u64)> {
    let order = descending(scores);
    let mut out: Vec<(f64, u64, u64)> = Vec::new();
    let (mut tp, mut fp) = (0u64, 0u64);
    for (k, &i) in order.iter().enumerate() {
        if labels[i] {
            tp += 1;
        } else {
            fp += 1;
        }
        let last = k + 1 == order.len() || scores[order[k + 1]] != scores[i];
        if last {
            out.push((scores[i], tp, fp));
        }
    }
    out
}

/// Checks the inputs: equal lengths, scores finite.
fn check(scores: &[f64], labels: &[bool]) -> Result<(), String> {
    if scores.len() != labels.len() {
        return Err(format!(
            "{} scores and {} labels",
            scores.len(),
            labels.len()
        ));
    }
    if let Some(s) = scores.iter().find(|s| !s.is_finite()) {
        return Err(format!("a score is {s}: scores must be finite"));
    }
    Ok(())
}

/// Every metric of [`BinaryMetrics`]; `threshold` applies to the
/// confusion-matrix ones. Probabilities are expected in [0, 1] for the
/// log-loss and Brier score.
pub fn binary_metrics(
    scores: &[f64],
    labels: &[bool],
    threshold: f64,
) -> Result<BinaryMetrics, String> {
    check(scores, labels)?;
    let n = scores.len();
    let positives = labels.iter().filter(|y| **y).count() as u64;
    let negatives = n as u64 - positives;
    let groups = tie_groups(scores, labels);
    let (mut auc, mut ap) = (0.0, 0.0);
    let (mut prev_tp, mut prev_fp) = (0u64, 0u64);
    for &(_, tp, fp) in &groups {
        // Trapezoid in (FP, TP) counts, normalised at the end.
        auc += (fp - prev_fp) as f64 * (tp + prev_tp) as f64 / 2.0;
        if positives > 0 {
            ap += (tp - prev_tp) as f64 / positives as f64 * (tp as f64 / (tp + fp) as f64);
        }
        (prev_tp, prev_fp) = (tp, fp);
    }
    let roc_auc = if positives == 0 || negatives == 0 {
        f64::NAN
    } else {
        auc / (positives as f64 * negatives as f64)
    };
    let pr_auc = if positives == 0 { f64::NAN } else { ap };
    let eps = f64::EPSILON;
    let (mut log_loss, mut brier) = (0.0, 0.0);
    let (mut tp, mut fp, mut tn) = (0u64, 0u64, 0u64);
    for (&p, &y) in scores.iter().zip(labels) {
        let q = p.clamp(eps, 1.0 - eps);
        let t = if y { 1.0 } else { 0.0 };
        log_loss -= if y { q.ln() } else { (1.0 - q).ln() };
        brier += (p - t) * (p - t);
        match (p >= threshold, y) {
            (true, true) => tp += 1,
            (true, false) => fp += 1,
            (false, false) => tn += 1,
            (false, true) => {}
        }
    }
    let nf = n as f64;
    let ratio = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    let precision = ratio(tp, tp + fp);
    let recall = ratio(tp, positives);
    Ok(BinaryMetrics {
        rows: n as u64,
        positives,
        roc_auc,
        pr_auc,
        log_loss: log_loss / nf,
        brier: brier / nf,
        accuracy: ratio(tp + tn, n as u64),
        precision,
        recall,
        f1: if precision + recall == 0.0 {
            0.0
        } else {
            2.0 * precision * recall / (precision + recall)
        },
    })
}

/// The ROC curve: one point per distinct score, highest first (the
/// origin, "nothing positive", is left out).
pub fn roc_curve(scores: &[f64], labels: &[bool]) -> Result<Vec<RocPoint>, String> {
    check(scores, labels)?;
    let positives = labels.iter().filter(|y| **y).count() as u64;
    let negatives = labels.len() as u64 - positives;
    let ratio = |a: u64, b: u64| {
        if b == 0 {
            f64::NAN
        } else {
            a as f64 / b as f64
        }
    };
    Ok(tie_groups(scores, labels)
        .into_iter()
        .map(|(threshold, tp, fp)| RocPoint {
            threshold,
            true_positives: tp,
            false_positives: fp,
            tpr: ratio(tp, positives),
            fpr: ratio(fp, negatives),
            precision: ratio(tp, tp + fp),
        })
        .collect())
}

/// Deciles by descending score: a row's decile is 1 + ⌊10 · r / n⌋ with r
/// the number of rows scoring strictly higher, so tied rows share a decile
/// (deciles may then be uneven or empty; empty ones are left out).
pub fn gains(scores: &[f64], labels: &[bool]) -> Result<Vec<GainsRow>, String> {
    check(scores, labels)?;
    let n = scores.len();
    let order = descending(scores);
    let total_pos = labels.iter().filter(|y| **y).count() as f64;
    let base = total_pos / n as f64;
    let mut deciles: Vec<(u64, u64, f64, f64)> = vec![(0, 0, f64::INFINITY, f64::NEG_INFINITY); 10];
    let mut higher = 0;
    for (k, &i) in order.iter().enumerate() {
        if k > 0 && scores[order[k - 1]] != scores[i] {
            higher = k;
        }
        let d = (10 * higher / n).min(9);
        let slot = &mut deciles[d];
        slot.0 += 1;
        slot.1 += u64::from(labels[i]);
        slot.2 = slot.2.min(scores[i]);
        slot.3 = slot.3.max(scores[i]);
    }
    let (mut cum_rows, mut cum_pos) = (0u64, 0u64);
    let mut out = Vec::new();
    for (d, &(rows, positives, min_score, max_score)) in deciles.iter().enumerate() {
        if rows == 0 {
            continue;
        }
        cum_rows += rows;
        cum_pos += positives;
        out.push(GainsRow {
            decile: d as u32 + 1,
            rows,
            positives,
            min_score,
            max_score,
            lift: positives as f64 / rows as f64 / base,
            cumulative_rows: cum_rows,
            cumulative_capture: cum_pos as f64 / total_pos,
            cumulative_lift: cum_pos as f64 / cum_rows as f64 / base,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worked_example() {
        // scikit-learn's docstring example: roc_auc 0.75, AP 0.8333….
        let scores = [0.1, 0.4, 0.35, 0.8];
        let labels = [false, false, true, true];
        let m = binary_metrics(&scores, &labels, 0.5).unwrap();
        assert!((m.roc_auc - 0.75).abs() < 1e-15);
        assert!((m.pr_auc - 0.833_333_333_333_333_4).abs() < 1e-15);
        // At 0.5 only 0.8 is positive: TP 1, FP 0, FN 1, TN 2.
        assert_eq!((m.accuracy, m.precision, m.recall), (0.75, 1.0, 0.5));
        assert!((m.f1 - 2.0 / 3.0).abs() < 1e-15);
        let brier = (0.01 + 0.16 + 0.65 * 0.65 + 0.04) / 4.0;
        assert!((m.brier - brier).abs() < 1e-15);
    }

    #[test]
    fn ties_count_half() {
        // One positive and one negative tied: AUC 0.5, whatever the order.
        let a = binary_metrics(&[0.5, 0.5], &[true, false], 0.5).unwrap();
        let b = binary_metrics(&[0.5, 0.5], &[false, true], 0.5).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.roc_auc, 0.5);
        assert!(
            binary_metrics(&[0.5, 0.2], &[true, true], 0.5)
                .unwrap()
                .roc_auc
                .is_nan()
        );
        assert!(binary_metrics(&[f64::NAN], &[true], 0.5).is_err());
    }

    #[test]
    fn gains_capture_everything_at_the_end() {
        let scores: Vec<f64> = (0..100).map(|i| i as f64 / 100.0).collect();
        let labels: Vec<bool> = (0..100).map(|i| i >= 80).collect();
        let g = gains(&scores, &labels).unwrap();
        assert_eq!(g.len(), 10);
        assert_eq!(g[0].positives, 10);
        assert!((g[0].lift - 5.0).abs() < 1e-12);
        assert!((g[1].cumulative_capture - 1.0).abs() < 1e-12);
        assert!((g[9].cumulative_lift - 1.0).abs() < 1e-12);
        let roc = roc_curve(&scores, &labels).unwrap();
        assert_eq!(roc.len(), 100);
        assert_eq!(roc.last().unwrap().tpr, 1.0);
    }
}
