//! Estimating the Fellegi–Sunter parameters. u (level probabilities among
//! non-matches) comes from random record pairs, which are almost all
//! non-matches; m (among matches) and the match share λ come from
//! expectation–maximisation over the blocked pairs with u held fixed, as
//! Splink does. Pairs are first reduced to their distinct level patterns
//! with counts, and patterns are visited in sorted order, so the estimates
//! do not depend on the order of the pairs.

use std::collections::HashMap;

use super::spec::NULL_LEVEL;

/// One distinct comparison vector, how many pairs have it, and which
/// blocking rules produced those pairs (bit r: rule r).
#[derive(Debug, Clone, PartialEq)]
pub struct Pattern {
    /// Level per comparison.
    pub levels: Vec<i8>,
    /// Pairs with these levels and this mask.
    pub count: u64,
    /// Rules whose blocks hold these pairs.
    pub mask: u64,
}

/// Distinct patterns of `(levels, mask)` rows, sorted.
pub fn patterns(rows: impl IntoIterator<Item = (Vec<i8>, u64)>) -> Vec<Pattern> {
    let mut counts: HashMap<(Vec<i8>, u64), u64> = HashMap::new();
    for key in rows {
        *counts.entry(key).or_default() += 1;
    }
    let mut out: Vec<Pattern> = counts
        .into_iter()
        .map(|((levels, mask), count)| Pattern {
            levels,
            count,
            mask,
        })
        .collect();
    out.sort_unstable_by(|a, b| (&a.levels, a.mask).cmp(&(&b.levels, b.mask)));
    out
}

/// Level probabilities from counts: each level's share of the non-NULL
/// pairs, a level never seen counted as half a pair (so no Bayes factor is
/// infinite or zero).
pub fn proportions(counts: &[Vec<u64>]) -> Vec<Vec<f64>> {
    counts
        .iter()
        .map(|c| {
            let seen = |x: u64| if x == 0 { 0.5 } else { x as f64 };
            let total: f64 = c.iter().map(|&x| seen(x)).sum();
            c.iter().map(|&x| seen(x) / total).collect()
        })
        .collect()
}

/// Starting m: 0.9 on the exact level, the rest shared by the others.
pub fn initial_m(levels: &[usize]) -> Vec<Vec<f64>> {
    levels
        .iter()
        .map(|&l| {
            (0..l)
                .map(|i| {
                    if i + 1 == l {
                        0.9
                    } else {
                        0.1 / (l - 1) as f64
                    }
                })
                .collect()
        })
        .collect()
}

/// EM's result.
#[derive(Debug, Clone, PartialEq)]
pub struct Fit {
    /// m per comparison and level.
    pub m: Vec<Vec<f64>>,
    /// Share of matches among the pairs trained on.
    pub lambda: f64,
    /// Iterations run.
    pub iterations: u32,
    /// Whether the largest change fell below the tolerance.
    pub converged: bool,
}

/// The probability each pattern is a match, given m, u and λ; comparisons
/// with `fixed[k]` (and NULL levels) do not count.
fn posterior(p: &Pattern, m: &[Vec<f64>], u: &[Vec<f64>], fixed: &[bool], lambda: f64) -> f64 {
    let mut log_bf = 0.0;
    for (k, &l) in p.levels.iter().enumerate() {
        if l == NULL_LEVEL || fixed[k] {
            continue;
        }
        let l = l as usize;
        log_bf += (m[k][l].max(1e-300)).ln() - (u[k][l].max(1e-300)).ln();
    }
    let prior = (lambda / (1.0 - lambda)).ln();
    1.0 / (1.0 + (-(prior + log_bf)).exp())
}

/// EM over `patterns` with u fixed: re-estimates m for every comparison not
/// `fixed`, and λ. Stops when no parameter moves more than `tolerance`.
pub fn em(
    patterns: &[&Pattern],
    u: &[Vec<f64>],
    m: Vec<Vec<f64>>,
    fixed: &[bool],
    lambda: f64,
    max_iterations: u32,
    tolerance: f64,
) -> Fit {
    let mut m = m;
    let mut lambda = lambda;
    for iteration in 1..=max_iterations {
        let mut matched: Vec<Vec<f64>> = m.iter().map(|l| vec![0.0; l.len()]).collect();
        let (mut total, mut expected) = (0.0, 0.0);
        for p in patterns {
            let w = posterior(p, &m, u, fixed, lambda);
            let c = p.count as f64;
            total += c;
            expected += c * w;
            for (k, &l) in p.levels.iter().enumerate() {
                if l != NULL_LEVEL {
                    matched[k][l as usize] += c * w;
                }
            }
        }
        let mut change: f64 = 0.0;
        for (k, levels) in matched.iter().enumerate() {
            if fixed[k] {
                continue;
            }
            let sum: f64 = levels.iter().sum();
            if sum <= 0.0 {
                continue;
            }
            for (l, &x) in levels.iter().enumerate() {
                let new = x / sum;
                change = change.max((new - m[k][l]).abs());
                m[k][l] = new;
            }
        }
        let new_lambda = (expected / total.max(1.0)).clamp(1e-9, 1.0 - 1e-9);
        change = change.max((new_lambda - lambda).abs());
        lambda = new_lambda;
        if change < tolerance {
            return Fit {
                m,
                lambda,
                iterations: iteration,
                converged: true,
            };
        }
    }
    Fit {
        m,
        lambda,
        iterations: max_iterations,
        converged: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kmeans::Rng;

    /// A mixture with known parameters: pairs are matches with probability
    /// λ, each comparison's level drawn independently from m or u. EM with
    /// the true u must recover m and λ to sampling precision.
    #[test]
    fn em_recovers_a_known_mixture() {
        let m_true = [
            vec![0.05, 0.15, 0.8],
            vec![0.1, 0.9],
            vec![0.02, 0.08, 0.2, 0.7],
        ];
        let u_true = [
            vec![0.9, 0.08, 0.02],
            vec![0.7, 0.3],
            vec![0.85, 0.1, 0.04, 0.01],
        ];
        let lambda_true = 0.2;
        let mut rng = Rng::new(7);
        let draw = |rng: &mut Rng, p: &[f64]| {
            let x = rng.next_f64();
            let mut acc = 0.0;
            for (i, &q) in p.iter().enumerate() {
                acc += q;
                if x < acc {
                    return i as i8;
                }
            }
            p.len() as i8 - 1
        };
        let rows: Vec<(Vec<i8>, u64)> = (0..200_000)
            .map(|_| {
                let is_match = rng.next_f64() < lambda_true;
                let levels = (0..3)
                    .map(|k| {
                        // A few NULLs, which carry no information.
                        if rng.next_f64() < 0.05 {
                            NULL_LEVEL
                        } else if is_match {
                            draw(&mut rng, &m_true[k])
                        } else {
                            draw(&mut rng, &u_true[k])
                        }
                    })
                    .collect();
                (levels, 1)
            })
            .collect();
        let pats = patterns(rows);
        assert_eq!(pats.iter().map(|p| p.count).sum::<u64>(), 200_000);
        let refs: Vec<&Pattern> = pats.iter().collect();
        let fit = em(
            &refs,
            &u_true,
            initial_m(&[3, 2, 4]),
            &[false; 3],
            0.5,
            500,
            1e-9,
        );
        assert!(fit.converged);
        assert!((fit.lambda - lambda_true).abs() < 0.01, "{}", fit.lambda);
        for (k, levels) in m_true.iter().enumerate() {
            for (l, &m) in levels.iter().enumerate() {
                assert!(
                    (fit.m[k][l] - m).abs() < 0.02,
                    "m[{k}][{l}] {} vs {m}",
                    fit.m[k][l]
                );
            }
        }
        // A fixed comparison keeps its starting m.
        let fixed = em(
            &refs,
            &u_true,
            initial_m(&[3, 2, 4]),
            &[false, true, false],
            0.5,
            500,
            1e-9,
        );
        assert_eq!(fixed.m[1], vec![0.1, 0.9]);
    }

    #[test]
    fn proportions_floor_unseen_levels() {
        let p = proportions(&[vec![3, 0, 1]]);
        assert_eq!(p[0], vec![3.0 / 4.5, 0.5 / 4.5, 1.0 / 4.5]);
    }
}
