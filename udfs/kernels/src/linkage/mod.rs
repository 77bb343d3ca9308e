//! Probabilistic record linkage (Fellegi–Sunter), as Splink users know it.
//!
//! Records are compared only within blocks (equal values of a blocking
//! rule's columns). Each comparison puts a pair on a level (exact … else,
//! or NULL); a level's Bayes factor is m/u, where m is the probability of
//! that level among matching pairs and u among non-matching ones. A pair's
//! match weight is log2 of the prior odds plus the sum of log2 Bayes
//! factors (NULL levels add nothing), and its match probability is
//! 2^w / (1 + 2^w).
//!
//! u is measured on random record pairs (seeded); m by EM over the blocked
//! pairs, once per blocking rule with the rule's own columns left out
//! (inside its blocks they agree by construction), averaged over the rules
//! that trained it; λ, the share of matches among the candidate pairs, by
//! EM with m and u fixed, or, given deterministic rules, from the pairs they
//! match divided by their assumed recall (Splink's prior). The prior of the match weight is that λ, so
//! probabilities are of a candidate pair being a match. Term-frequency
//! adjustment (for names): an exact agreement on a common value counts for
//! less, the exact level's u replaced by the value's frequency.
//!
//! Records are sorted by their unique id first, so every result depends on
//! the records and the seed, never on the order rows arrived in.

pub mod block;
pub mod compare;
pub mod em;
pub mod spec;

use std::collections::HashMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::kmeans::Rng;
use block::Blocks;
use compare::{Prepared, level};
pub use spec::{Comparison, Method, NULL_LEVEL, parse_blocking_rule};

/// Most blocking rules (one bit each in a pair's rule mask).
pub const MAX_RULES: usize = 64;

/// A usage error, naming what is wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkageError(pub String);

impl fmt::Display for LinkageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for LinkageError {}

/// Deduplicate one table, or link records across sources.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkType {
    /// Any two records may match.
    Dedupe,
    /// Only records of different sources are compared.
    Link,
}

/// What training needs besides the records.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Dedupe or link.
    pub link_type: LinkType,
    /// The comparisons, in order.
    pub comparisons: Vec<Comparison>,
    /// Blocking rules: each a list of columns that must be equal.
    pub blocking: Vec<Vec<String>>,
    /// Most candidate pairs blocking may produce.
    pub max_pairs: u64,
    /// Random pairs drawn to estimate u.
    pub u_samples: u64,
    /// Seed of those draws.
    pub seed: u64,
    /// EM iterations at most (per blocking rule).
    pub max_iterations: u32,
    /// EM stops when no parameter moves more than this.
    pub tolerance: f64,
    /// Deterministic rules (each a list of compared columns): when given,
    /// λ is not fitted but taken from the candidate pairs that agree
    /// exactly on every column of some rule, divided by `recall`.
    pub deterministic: Vec<Vec<String>>,
    /// The share of all matches the deterministic rules are assumed to find.
    pub recall: f64,
    /// Most records `cluster_links` puts in one cluster.
    pub max_cluster_size: u64,
}

/// A cluster of one person's records from a handful of sources is small;
/// one bigger than this has been chained through shared or junk values.
pub const DEFAULT_MAX_CLUSTER_SIZE: u64 = 50;

fn default_max_cluster_size() -> u64 {
    DEFAULT_MAX_CLUSTER_SIZE
}

/// The records to link, sorted by unique id.
#[derive(Debug, Clone)]
pub struct Records {
    ids: Vec<String>,
    sources: Option<Vec<u32>>,
    source_names: Vec<String>,
    columns: Vec<String>,
    values: Vec<Vec<Option<String>>>,
}

impl Records {
    /// Records from their ids, sources (for a link) and named columns
    /// (`values[row]`); refuses no rows, duplicate ids and a link with one
    /// source.
    pub fn new(
        ids: Vec<String>,
        sources: Option<Vec<String>>,
        columns: Vec<(String, Vec<Option<String>>)>,
    ) -> Result<Records, LinkageError> {
        if ids.is_empty() {
            return Err(LinkageError("there are no records to link".into()));
        }
        let mut order: Vec<usize> = (0..ids.len()).collect();
        order.sort_unstable_by(|&a, &b| ids[a].cmp(&ids[b]));
        for w in order.windows(2) {
            if ids[w[0]] == ids[w[1]] {
                return Err(LinkageError(format!(
                    "unique id {:?} appears more than once",
                    ids[w[0]]
                )));
            }
        }
        let permute = |v: &[Option<String>]| -> Vec<Option<String>> {
            order.iter().map(|&i| v[i].clone()).collect()
        };
        let (sources, source_names) = match sources {
            None => (None, Vec::new()),
            Some(s) => {
                let mut names: Vec<String> = s.clone();
                names.sort();
                names.dedup();
                if names.len() < 2 {
                    return Err(LinkageError(format!(
                        "a link needs records from at least two sources; every record is from {:?}",
                        names.first().cloned().unwrap_or_default()
                    )));
                }
                let index: HashMap<&str, u32> = names
                    .iter()
                    .enumerate()
                    .map(|(i, n)| (n.as_str(), i as u32))
                    .collect();
                (
                    Some(order.iter().map(|&i| index[s[i].as_str()]).collect()),
                    names,
                )
            }
        };
        let ids = order.iter().map(|&i| ids[i].clone()).collect();
        let (columns, values) = columns
            .into_iter()
            .map(|(name, v)| (name, permute(&v)))
            .unzip();
        Ok(Records {
            ids,
            sources,
            source_names,
            columns,
            values,
        })
    }

    /// Records.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether there are none (never, once made).
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Pairs a linkage could compare: all pairs when deduplicating, pairs
    /// from different sources when linking.
    pub fn possible_pairs(&self) -> u64 {
        let n = self.ids.len() as u64;
        let all = n * n.saturating_sub(1) / 2;
        match &self.sources {
            None => all,
            Some(of) => {
                let mut per = vec![0u64; self.source_names.len().max(1)];
                for &s in of {
                    per[s as usize] += 1;
                }
                all - per
                    .iter()
                    .map(|&c| c * c.saturating_sub(1) / 2)
                    .sum::<u64>()
            }
        }
    }

    /// Record `i`'s unique id.
    pub fn id(&self, i: u32) -> &str {
        &self.ids[i as usize]
    }

    /// The source names of a link, sorted (empty for a dedupe).
    pub fn source_names(&self) -> &[String] {
        &self.source_names
    }

    fn column(&self, name: &str, what: &str) -> Result<&[Option<String>], LinkageError> {
        match self
            .columns
            .iter()
            .position(|c| c.eq_ignore_ascii_case(name))
        {
            Some(i) => Ok(&self.values[i]),
            None => Err(LinkageError(format!(
                "{what} names column {name}, which the records do not have (columns: {})",
                self.columns.join(", ")
            ))),
        }
    }
}

/// Records prepared for comparing, with their blocks counted.
#[derive(Debug)]
pub struct Candidates<'a> {
    records: &'a Records,
    comparisons: Vec<Comparison>,
    prepared: Vec<Prepared>,
    blocks: Blocks,
    /// Pairs each rule's blocks hold.
    pub per_rule: Vec<u128>,
}

impl<'a> Candidates<'a> {
    /// Prepares `records` for `comparisons` and counts the pairs `blocking`
    /// makes, refusing more than `max_pairs` before any pair is made.
    pub fn new(
        records: &'a Records,
        comparisons: &[Comparison],
        blocking: &[Vec<String>],
        max_pairs: u64,
    ) -> Result<Candidates<'a>, LinkageError> {
        if comparisons.is_empty() {
            return Err(LinkageError(
                "comparisons is empty: give at least one".into(),
            ));
        }
        if blocking.is_empty() || blocking.len() > MAX_RULES {
            return Err(LinkageError(format!(
                "blocking_rules needs 1 to {MAX_RULES} rules, got {}",
                blocking.len()
            )));
        }
        let mut prepared = Vec::with_capacity(comparisons.len());
        for c in comparisons {
            let values = records.column(&c.column, &format!("comparison '{}'", c.to_text()))?;
            prepared.push(Prepared::new(c, values));
        }
        let normalized: HashMap<String, Vec<Option<String>>> = blocking
            .iter()
            .flatten()
            .map(|name| {
                let values = records.column(name, &format!("blocking rule '{}'", name))?;
                Ok((name.to_lowercase(), compare::normalize(values)))
            })
            .collect::<Result<_, LinkageError>>()?;
        let keys: Vec<Vec<&[Option<String>]>> = blocking
            .iter()
            .map(|rule| {
                rule.iter()
                    .map(|c| normalized[&c.to_lowercase()].as_slice())
                    .collect()
            })
            .collect();
        let blocks = Blocks::new(&keys, records.len());
        let per_rule = blocks.counts(records.sources.as_deref());
        let total: u128 = per_rule.iter().sum();
        if total > u128::from(max_pairs) {
            let each: Vec<String> = blocking
                .iter()
                .zip(&per_rule)
                .map(|(rule, n)| format!("'{}': {n}", rule.join(", ")))
                .collect();
            return Err(LinkageError(format!(
                "blocking would make {total} candidate pairs, more than max_pairs {max_pairs} ({}); use narrower blocking rules or raise max_pairs",
                each.join(", ")
            )));
        }
        Ok(Candidates {
            records,
            comparisons: comparisons.to_vec(),
            prepared,
            blocks,
            per_rule,
        })
    }

    /// At most this many pairs (pairs several rules share counted once each).
    pub fn upper_bound(&self) -> u64 {
        self.per_rule.iter().sum::<u128>() as u64
    }

    /// The distinct candidate pairs, sorted; for a link, the left record is
    /// from the source that sorts first.
    pub fn pairs(&self) -> Vec<(u32, u32)> {
        let mut pairs = self.blocks.pairs(self.records.sources.as_deref());
        if let Some(s) = &self.records.sources {
            for p in &mut pairs {
                if s[p.0 as usize] > s[p.1 as usize] {
                    *p = (p.1, p.0);
                }
            }
            pairs.sort_unstable();
        }
        pairs
    }

    /// The comparison levels of records `i` and `j`.
    pub fn levels(&self, i: u32, j: u32) -> Vec<i8> {
        self.comparisons
            .iter()
            .zip(&self.prepared)
            .map(|(c, p)| level(c, p, i as usize, j as usize))
            .collect()
    }

    /// Level counts over `samples` random pairs (of different sources, for a
    /// link), from `seed`.
    fn random_counts(&self, samples: u64, seed: u64) -> Vec<Vec<u64>> {
        let n = self.records.len();
        let mut counts: Vec<Vec<u64>> = self
            .comparisons
            .iter()
            .map(|c| vec![0; c.levels()])
            .collect();
        if n < 2 {
            return counts;
        }
        let mut rng = Rng::new(seed);
        let sources = self.records.sources.as_deref();
        let mut drawn = 0;
        let mut attempts = 0u64;
        while drawn < samples && attempts < samples.saturating_mul(100) {
            attempts += 1;
            let i = rng.below(n);
            let mut j = rng.below(n - 1);
            if j >= i {
                j += 1;
            }
            if sources.is_some_and(|s| s[i] == s[j]) {
                continue;
            }
            drawn += 1;
            for (k, l) in self.levels(i as u32, j as u32).into_iter().enumerate() {
                if l != NULL_LEVEL {
                    counts[k][l as usize] += 1;
                }
            }
        }
        counts
    }
}

/// A trained linkage model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinkageModel {
    /// Dedupe or link.
    pub link_type: LinkType,
    /// The comparisons.
    pub comparisons: Vec<Comparison>,
    /// The blocking rules.
    pub blocking: Vec<Vec<String>>,
    /// Most candidate pairs.
    pub max_pairs: u64,
    /// m per comparison and level (0 = else … exact).
    pub m: Vec<Vec<f64>>,
    /// u per comparison and level.
    pub u: Vec<Vec<f64>>,
    /// Whether EM trained each comparison's m (false: every rule blocks on
    /// its column, so m stayed at its starting value).
    pub trained: Vec<bool>,
    /// The share of matches among candidate pairs.
    pub lambda: f64,
    /// The probability that two records drawn at random match: the prior
    /// odds of a score. u is measured on random pairs, so a Bayes factor
    /// turns random-pair odds into posterior odds; λ (the share among
    /// candidate pairs) in its place over-counts the blocking's evidence
    /// and, on large inputs, lets a shared name alone pass every threshold.
    /// `None` in models stored before it existed (scored with λ as then).
    #[serde(default)]
    pub prior: Option<f64>,
    /// Most records in one cluster (models stored before it: the default).
    #[serde(default = "default_max_cluster_size")]
    pub max_cluster_size: u64,
    /// Candidate pairs trained on.
    pub pairs: u64,
    /// Random pairs measured for u.
    pub u_samples: u64,
    /// EM iterations, summed over the rules.
    pub iterations: u32,
    /// Whether every EM run met its tolerance.
    pub converged: bool,
}

/// Trains on `pairs` (from `candidates.pairs()`).
pub fn train(
    candidates: &Candidates<'_>,
    pairs: &[(u32, u32)],
    settings: &Settings,
) -> Result<LinkageModel, LinkageError> {
    if pairs.is_empty() {
        return Err(LinkageError(
            "blocking finds no candidate pairs: no two records share the values of any blocking rule".into(),
        ));
    }
    let comparisons = &candidates.comparisons;
    let levels: Vec<usize> = comparisons.iter().map(Comparison::levels).collect();
    let possible = candidates.records.possible_pairs();
    let samples = settings.u_samples.min(possible.max(1));
    let u = em::proportions(&candidates.random_counts(samples, settings.seed));
    let patterns = em::patterns(
        pairs
            .iter()
            .map(|&(i, j)| (candidates.levels(i, j), candidates.blocks.mask(i, j))),
    );
    let mut sums: Vec<Vec<f64>> = levels.iter().map(|&l| vec![0.0; l]).collect();
    let mut trained_by = vec![0u32; comparisons.len()];
    let (mut iterations, mut converged) = (0, true);
    for (r, rule) in settings.blocking.iter().enumerate() {
        let fixed: Vec<bool> = comparisons
            .iter()
            .map(|c| rule.iter().any(|col| col.eq_ignore_ascii_case(&c.column)))
            .collect();
        let mine: Vec<&em::Pattern> = patterns.iter().filter(|p| p.mask & (1 << r) != 0).collect();
        if mine.is_empty() || fixed.iter().all(|&f| f) {
            continue;
        }
        let fit = em::em(
            &mine,
            &u,
            em::initial_m(&levels),
            &fixed,
            0.1,
            settings.max_iterations,
            settings.tolerance,
        );
        iterations += fit.iterations;
        converged &= fit.converged;
        for (k, f) in fixed.iter().enumerate() {
            if !f {
                trained_by[k] += 1;
                for (s, m) in sums[k].iter_mut().zip(&fit.m[k]) {
                    *s += m;
                }
            }
        }
    }
    let start = em::initial_m(&levels);
    let m: Vec<Vec<f64>> = sums
        .into_iter()
        .zip(&trained_by)
        .zip(start)
        .map(|((s, &t), start)| {
            if t == 0 {
                start
            } else {
                s.into_iter().map(|x| x / f64::from(t)).collect()
            }
        })
        .collect();
    let lambda = if settings.deterministic.is_empty() {
        let all: Vec<&em::Pattern> = patterns.iter().collect();
        lambda_em(&all, &m, &u, settings.max_iterations, settings.tolerance)
    } else {
        deterministic_lambda(&patterns, comparisons, settings)?
    };
    // Blocking is taken to hold every match (as Splink assumes), so the
    // matches among candidates are all the matches there are.
    let prior = (lambda * pairs.len() as f64 / possible.max(1) as f64).clamp(1e-15, 1.0 - 1e-9);
    Ok(LinkageModel {
        link_type: settings.link_type,
        comparisons: comparisons.clone(),
        blocking: settings.blocking.clone(),
        max_pairs: settings.max_pairs,
        m,
        u,
        trained: trained_by.iter().map(|&t| t > 0).collect(),
        lambda,
        prior: Some(prior),
        max_cluster_size: settings.max_cluster_size,
        pairs: pairs.len() as u64,
        u_samples: samples,
        iterations,
        converged,
    })
}

/// λ from deterministic rules, as Splink estimates its prior: the
/// candidate pairs that agree at the exact level on every column of some
/// rule are taken as matches the rules find, `recall` of all matches.
/// Fitting λ by EM instead can follow a mass of candidate pairs that share
/// a common name and little else to λ → 1 on large inputs.
fn deterministic_lambda(
    patterns: &[em::Pattern],
    comparisons: &[Comparison],
    settings: &Settings,
) -> Result<f64, LinkageError> {
    if !(settings.recall > 0.0 && settings.recall <= 1.0) {
        return Err(LinkageError(format!(
            "deterministic_recall must be in (0, 1], got {}",
            settings.recall
        )));
    }
    let rules = settings
        .deterministic
        .iter()
        .map(|rule| {
            rule.iter()
                .map(|column| {
                    comparisons
                        .iter()
                        .position(|c| c.column.eq_ignore_ascii_case(column))
                        .ok_or_else(|| {
                            LinkageError(format!(
                                "deterministic rule '{}' names {column}, which no comparison compares",
                                rule.join(", ")
                            ))
                        })
                })
                .collect::<Result<Vec<usize>, LinkageError>>()
        })
        .collect::<Result<Vec<_>, LinkageError>>()?;
    let exact =
        |p: &em::Pattern, k: usize| p.levels[k] as i64 == comparisons[k].levels() as i64 - 1;
    let total: u64 = patterns.iter().map(|p| p.count).sum();
    let found: u64 = patterns
        .iter()
        .filter(|p| rules.iter().any(|rule| rule.iter().all(|&k| exact(p, k))))
        .map(|p| p.count)
        .sum();
    if found == 0 {
        return Err(LinkageError(format!(
            "the deterministic rules match none of the {total} candidate pairs"
        )));
    }
    Ok((found as f64 / settings.recall / total as f64).clamp(1e-9, 1.0 - 1e-9))
}

/// λ by EM with m and u fixed.
fn lambda_em(
    patterns: &[&em::Pattern],
    m: &[Vec<f64>],
    u: &[Vec<f64>],
    max_iterations: u32,
    tolerance: f64,
) -> f64 {
    let log_bf: Vec<f64> = patterns
        .iter()
        .map(|p| log2_bayes_factor(&p.levels, m, u) * std::f64::consts::LN_2)
        .collect();
    let total: f64 = patterns.iter().map(|p| p.count as f64).sum();
    let mut lambda: f64 = 0.1;
    for _ in 0..max_iterations.max(1) * 4 {
        let prior = (lambda / (1.0 - lambda)).ln();
        let expected: f64 = patterns
            .iter()
            .zip(&log_bf)
            .map(|(p, b)| p.count as f64 / (1.0 + (-(prior + b)).exp()))
            .sum();
        let new = (expected / total).clamp(1e-9, 1.0 - 1e-9);
        let done = (new - lambda).abs() < tolerance;
        lambda = new;
        if done {
            break;
        }
    }
    lambda
}

/// Σ log2(m/u) over non-NULL levels.
fn log2_bayes_factor(levels: &[i8], m: &[Vec<f64>], u: &[Vec<f64>]) -> f64 {
    levels
        .iter()
        .enumerate()
        .filter(|(_, l)| **l != NULL_LEVEL)
        .map(|(k, &l)| (m[k][l as usize].max(1e-300) / u[k][l as usize].max(1e-300)).log2())
        .sum()
}

/// One scored pair.
#[derive(Debug, Clone, PartialEq)]
pub struct Link {
    /// Left record (index into the records).
    pub left: u32,
    /// Right record.
    pub right: u32,
    /// log2 of the posterior odds.
    pub weight: f64,
    /// 2^w / (1 + 2^w).
    pub probability: f64,
    /// Level per comparison.
    pub levels: Vec<i8>,
}

/// Probability from a match weight.
pub fn probability(weight: f64) -> f64 {
    1.0 / (1.0 + (-weight).exp2())
}

impl LinkageModel {
    /// Scores `pairs` of `candidates` (made with this model's comparisons),
    /// keeping those with probability ≥ `threshold`. Term frequencies are
    /// those of the scored records.
    pub fn score(
        &self,
        candidates: &Candidates<'_>,
        pairs: &[(u32, u32)],
        threshold: f64,
    ) -> Vec<Link> {
        let prior = self.prior.unwrap_or(self.lambda);
        let prior = (prior / (1.0 - prior)).log2();
        let frequencies: Vec<Option<HashMap<&str, f64>>> = self
            .comparisons
            .iter()
            .zip(&candidates.prepared)
            .map(|(c, p)| c.term_frequency.then(|| term_frequencies(&p.text)))
            .collect();
        let mut out = Vec::new();
        for &(i, j) in pairs {
            let levels = candidates.levels(i, j);
            let mut weight = prior + log2_bayes_factor(&levels, &self.m, &self.u);
            for (k, &l) in levels.iter().enumerate() {
                let top = self.m[k].len() as i8 - 1;
                if let (Some(tf), true) = (&frequencies[k], l == top) {
                    let value = candidates.prepared[k].text[i as usize]
                        .as_deref()
                        .unwrap_or("");
                    if let Some(&f) = tf.get(value) {
                        weight += (self.u[k][l as usize] / f).log2();
                    }
                }
            }
            let p = probability(weight);
            if p >= threshold {
                out.push(Link {
                    left: i,
                    right: j,
                    weight,
                    probability: p,
                    levels,
                });
            }
        }
        out
    }
}

/// Each value's share of the non-NULL values.
fn term_frequencies(values: &[Option<String>]) -> HashMap<&str, f64> {
    let mut counts: HashMap<&str, f64> = HashMap::new();
    let mut total = 0.0;
    for v in values.iter().flatten() {
        *counts.entry(v.as_str()).or_default() += 1.0;
        total += 1.0;
    }
    for c in counts.values_mut() {
        *c /= total;
    }
    counts
}

/// Connected components of `n` records over `links`: each record's
/// component, numbered by its smallest record index.
pub fn clusters(n: usize, links: &[(u32, u32)]) -> Vec<u32> {
    let weighted: Vec<(u32, u32, f64)> = links.iter().map(|&(a, b)| (a, b, 0.0)).collect();
    capped_clusters(n, &weighted, u64::MAX).0
}

/// Clusters of `n` records over weighted `links` (left, right, weight):
/// links join clusters strongest first, and a link whose two clusters
/// together would hold more than `max_size` records is refused, so a chain
/// through a shared household address or a junk value cannot pull
/// thousands of people into one cluster. Each record's cluster is numbered
/// by its smallest record index; also returns how many links were refused.
/// The order is by weight, then by the pair, so ties cannot change the
/// answer.
pub fn capped_clusters(n: usize, links: &[(u32, u32, f64)], max_size: u64) -> (Vec<u32>, u64) {
    let mut order: Vec<usize> = (0..links.len()).collect();
    order.sort_unstable_by(|&x, &y| {
        let (a, b) = (&links[x], &links[y]);
        b.2.total_cmp(&a.2).then((a.0, a.1).cmp(&(b.0, b.1)))
    });
    // Roots are each cluster's smallest index, so sizes live at the roots.
    let mut parent: Vec<u32> = (0..n as u32).collect();
    let mut size: Vec<u64> = vec![1; n];
    fn find(parent: &mut [u32], mut x: u32) -> u32 {
        while parent[x as usize] != x {
            let up = parent[parent[x as usize] as usize];
            parent[x as usize] = up;
            x = up;
        }
        x
    }
    let mut refused = 0;
    for i in order {
        let (a, b, _) = links[i];
        let (ra, rb) = (find(&mut parent, a), find(&mut parent, b));
        if ra == rb {
            continue;
        }
        let joined = size[ra as usize] + size[rb as usize];
        if joined > max_size {
            refused += 1;
            continue;
        }
        let (low, high) = (ra.min(rb), ra.max(rb));
        parent[high as usize] = low;
        size[low as usize] = joined;
    }
    (
        (0..n as u32).map(|x| find(&mut parent, x)).collect(),
        refused,
    )
}

#[cfg(test)]
mod tests;
