//! Uplift metrics: how well a score ranks rows by the effect of a
//! treatment, from rows (score, outcome y ∈ {0, 1}, treated t ∈ {0, 1}) of
//! a randomised experiment. scikit-uplift's definitions (Radcliffe 2007;
//! Devriendt et al. 2020):
//!
//! Rows are sorted by descending score; at each distinct score (the end of
//! a run of ties) with N rows taken, Nₜ/N꜀ of them treated/control and
//! Yₜ/Y꜀ their positives,
//!
//! - the Qini curve is Q(N) = Yₜ − Y꜀ · Nₜ/N꜀ (0 when N꜀ = 0),
//! - the uplift curve is U(N) = (Yₜ/Nₜ − Y꜀/N꜀) · N (a ratio with a zero
//!   denominator is 0),
//!
//! each starting at (0, 0); an area is the trapezoidal rule over N. The
//! random ranking's area is the triangle to the curve's end, N·C(N)/2; the
//! perfect ranking sorts by y·t − y·(1 − t) for Qini (scikit-uplift's
//! `negative_effect=True`) and by 2·[y = t] + (y if the control
//! responders outnumber the treated non-responders, else t) for uplift.
//! The Qini coefficient and the AUUC are (area − random) ÷ (perfect −
//! random).
//!
//! uplift@k: of the ⌊n·k⌋ top-scored rows, the treated positive rate minus
//! the control one. Rows tied with the cut count in proportion (the part
//! of the tied run inside the cut), so the value does not depend on row
//! order; without ties at the cut it is scikit-uplift's
//! `uplift_at_k(strategy='overall')`.

/// The fractions of rows uplift@k reports.
pub const AT: [f64; 3] = [0.1, 0.2, 0.3];

/// What one ranking scores.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UpliftScores {
    /// Area under the Qini curve.
    pub qini_area: f64,
    /// (area − random) ÷ (perfect − random).
    pub qini_coefficient: f64,
    /// Area under the uplift curve.
    pub uplift_area: f64,
    /// Normalised area under the uplift curve.
    pub auuc: f64,
    /// uplift@10%, 20%, 30% (NaN when an arm is absent from the top rows).
    pub at: [f64; 3],
}

/// The model's ranking beside the random and perfect ones.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UpliftReport {
    /// Rows.
    pub rows: usize,
    /// Treated rows.
    pub treated: usize,
    /// The scores' ranking.
    pub model: UpliftScores,
    /// The expected values of a random ranking.
    pub random: UpliftScores,
    /// The best possible ranking (knowing every outcome).
    pub perfect: UpliftScores,
}

#[derive(Clone, Copy)]
enum Curve {
    Qini,
    Uplift,
}

/// Cumulative counts at the end of each run of tied scores, after (0, 0):
/// (N, Nₜ, Yₜ, Y꜀).
fn runs(order: &[usize], score: &[f64], y: &[bool], t: &[bool]) -> Vec<[f64; 4]> {
    let mut out = vec![[0.0; 4]];
    let mut acc = [0.0; 4];
    for (k, &i) in order.iter().enumerate() {
        acc[0] += 1.0;
        if t[i] {
            acc[1] += 1.0;
            acc[2] += f64::from(u8::from(y[i]));
        } else {
            acc[3] += f64::from(u8::from(y[i]));
        }
        if order.get(k + 1).is_none_or(|&j| score[j] != score[i]) {
            out.push(acc);
        }
    }
    out
}

fn value(curve: Curve, [n, nt, yt, yc]: [f64; 4]) -> f64 {
    let nc = n - nt;
    let ratio = |a: f64, b: f64| if b == 0.0 { 0.0 } else { a / b };
    match curve {
        Curve::Qini => yt - yc * ratio(nt, nc),
        Curve::Uplift => (ratio(yt, nt) - ratio(yc, nc)) * n,
    }
}

/// Rows by descending score.
fn descending(score: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..score.len()).collect();
    order.sort_by(|&a, &b| score[b].total_cmp(&score[a]));
    order
}

/// (area, random area) of `curve` for the ranking by `score`.
fn areas(curve: Curve, score: &[f64], y: &[bool], t: &[bool]) -> (f64, f64) {
    let points = runs(&descending(score), score, y, t);
    let mut area = 0.0;
    for w in points.windows(2) {
        area += (w[1][0] - w[0][0]) * (value(curve, w[0]) + value(curve, w[1])) / 2.0;
    }
    let last = points[points.len() - 1];
    (area, last[0] * value(curve, last) / 2.0)
}

/// uplift@k for the ranking by `score`, ties at the cut counted in
/// proportion.
pub fn uplift_at(score: &[f64], y: &[bool], t: &[bool], k: f64) -> f64 {
    let n = score.len();
    let cut = (n as f64 * k).floor() as usize;
    let order = descending(score);
    // Weighted (Nₜ, Yₜ, N꜀, Y꜀) of the rows inside the cut.
    let mut acc = [0.0; 4];
    let mut start = 0;
    while start < cut {
        let mut end = start + 1;
        while end < n && score[order[end]] == score[order[start]] {
            end += 1;
        }
        let share = if end <= cut {
            1.0
        } else {
            (cut - start) as f64 / (end - start) as f64
        };
        for &i in &order[start..end] {
            let (count, positive) = if t[i] { (0, 1) } else { (2, 3) };
            acc[count] += share;
            acc[positive] += share * f64::from(u8::from(y[i]));
        }
        start = end;
    }
    if acc[0] == 0.0 || acc[2] == 0.0 {
        return f64::NAN;
    }
    acc[1] / acc[0] - acc[3] / acc[2]
}

/// Scores `score` against outcomes `y` and treatments `t`, beside the
/// random and perfect rankings. Errors when there are no rows or one arm
/// is empty.
pub fn report(score: &[f64], y: &[bool], t: &[bool]) -> Result<UpliftReport, String> {
    let n = score.len();
    if y.len() != n || t.len() != n {
        return Err(format!(
            "{n} scores, {} outcomes and {} treatments",
            y.len(),
            t.len()
        ));
    }
    let treated = t.iter().filter(|v| **v).count();
    if n == 0 || treated == 0 || treated == n {
        return Err(format!(
            "uplift needs treated and control rows: {treated} of {n} rows are treated"
        ));
    }
    if score.iter().any(|s| !s.is_finite()) {
        return Err("a score is NaN or infinite".into());
    }
    let perfect_qini: Vec<f64> = y
        .iter()
        .zip(t)
        .map(|(&y, &t)| match (y, t) {
            (true, true) => 1.0,
            (true, false) => -1.0,
            _ => 0.0,
        })
        .collect();
    let control_responders = y.iter().zip(t).filter(|(y, t)| **y && !**t).count();
    let treated_non_responders = y.iter().zip(t).filter(|(y, t)| !**y && **t).count();
    let by_outcome = control_responders > treated_non_responders;
    let perfect_uplift: Vec<f64> = y
        .iter()
        .zip(t)
        .map(|(&y, &t)| {
            2.0 * f64::from(u8::from(y == t)) + f64::from(u8::from(if by_outcome { y } else { t }))
        })
        .collect();
    let (qini, qini_random) = areas(Curve::Qini, score, y, t);
    let (qini_perfect, _) = areas(Curve::Qini, &perfect_qini, y, t);
    let (lift, lift_random) = areas(Curve::Uplift, score, y, t);
    let (lift_perfect, _) = areas(Curve::Uplift, &perfect_uplift, y, t);
    let normalise = |a: f64, random: f64, perfect: f64| (a - random) / (perfect - random);
    let at = |s: &[f64]| AT.map(|k| uplift_at(s, y, t, k));
    // A random ranking's expected top-k rows have the whole sample's rates.
    let overall = uplift_at(&vec![0.0; n], y, t, 1.0);
    Ok(UpliftReport {
        rows: n,
        treated,
        model: UpliftScores {
            qini_area: qini,
            qini_coefficient: normalise(qini, qini_random, qini_perfect),
            uplift_area: lift,
            auuc: normalise(lift, lift_random, lift_perfect),
            at: at(score),
        },
        random: UpliftScores {
            qini_area: qini_random,
            qini_coefficient: 0.0,
            uplift_area: lift_random,
            auuc: 0.0,
            at: [overall; 3],
        },
        perfect: UpliftScores {
            qini_area: qini_perfect,
            qini_coefficient: 1.0,
            uplift_area: lift_perfect,
            auuc: 1.0,
            at: at(&perfect_uplift),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A worked example by hand: four rows, scores 4 > 3 > 2 > 1 with
    /// (y, t) = (1, 1), (0, 0), (1, 0), (0, 1).
    #[test]
    fn four_rows_by_hand() {
        let score = [4.0, 3.0, 2.0, 1.0];
        let y = [true, false, true, false];
        let t = [true, false, false, true];
        // Qini points: N=1: 1 − 0 = 1; N=2: 1 − 0·1/1 = 1; N=3: 1 − 1·1/2
        // = 0.5; N=4: 1 − 1·2/2 = 0. Area = 0.5 + 1 + 0.75 + 0.25 = 2.5.
        let r = report(&score, &y, &t).unwrap();
        assert!((r.model.qini_area - 2.5).abs() < 1e-12, "{r:?}");
        assert_eq!(r.random.qini_area, 0.0);
        // Uplift points: N=1: (1 − 0)·1 = 1; N=2: (1 − 0)·2 = 2;
        // N=3: (1 − 1/2)·3 = 1.5; N=4: (1/2 − 1/2)·4 = 0. Area = 0.5 + 1.5
        // + 1.75 + 0.75 = 4.5.
        assert!((r.model.uplift_area - 4.5).abs() < 1e-12, "{r:?}");
        // uplift@50% would be 1 − 0; the 30% cut holds ⌊1.2⌋ = 1 treated
        // row and no control: undefined.
        assert!(r.model.at[2].is_nan());
        assert!((uplift_at(&score, &y, &t, 0.5) - 1.0).abs() < 1e-12);
    }

    /// Ties at the cut count in proportion: two tied rows, one treated
    /// positive and one control negative, half inside the cut.
    #[test]
    fn ties_at_the_cut_count_in_proportion() {
        let score = [2.0, 1.0, 1.0, 0.0];
        let y = [false, true, false, true];
        let t = [false, true, false, true];
        // Cut 2: row 0 (control, 0) and half of rows 1 (treated, 1) and 2
        // (control, 0): treated rate 1, control rate 0 / 1.5.
        assert!((uplift_at(&score, &y, &t, 0.5) - 1.0).abs() < 1e-12);
        // The tied rows in the other order: the same value.
        let (mut y2, mut t2) = (y, t);
        y2.swap(1, 2);
        t2.swap(1, 2);
        assert_eq!(
            uplift_at(&score, &y, &t, 0.5),
            uplift_at(&score, &y2, &t2, 0.5)
        );
    }

    #[test]
    fn one_arm_is_an_error() {
        let err = report(&[1.0, 2.0], &[true, false], &[true, true]).unwrap_err();
        assert!(err.contains("treated and control"), "{err}");
    }
}
