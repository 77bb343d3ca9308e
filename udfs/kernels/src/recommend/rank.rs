//! Top-k ranking metrics, the textbook per-user means (README "Evaluating
//! a recommender" writes the formulas): for a user with recommended list
//! R (at most k items, best first) and relevant set T (non-empty),
//! precision@k = |R ∩ T| / k, recall@k = |R ∩ T| / |T|,
//! AP@k = Σ_{i ≤ k, R_i ∈ T} precision@i / min(|T|, k),
//! NDCG@k = Σ_{R_i ∈ T} 1/log2(i + 1) / Σ_{i ≤ min(|T|, k)} 1/log2(i + 1),
//! hit = [R ∩ T ≠ ∅]; catalogue coverage = |∪ R| / items.

use std::collections::{BTreeSet, HashSet};

/// Sums of the per-user metrics, and the items recommended to anyone.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RankSums {
    /// Users scored.
    pub users: u64,
    /// Σ precision@k.
    pub precision: f64,
    /// Σ recall@k.
    pub recall: f64,
    /// Σ AP@k.
    pub average_precision: f64,
    /// Σ NDCG@k.
    pub ndcg: f64,
    /// Users with at least one hit.
    pub hits: u64,
    /// Items recommended to anyone.
    pub recommended: BTreeSet<u32>,
}

/// The means.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RankMetrics {
    /// Users scored.
    pub users: u64,
    /// Mean precision@k.
    pub precision: f64,
    /// Mean recall@k.
    pub recall: f64,
    /// MAP@k.
    pub map: f64,
    /// Mean NDCG@k.
    pub ndcg: f64,
    /// Share of users with a hit.
    pub hit_rate: f64,
    /// Share of the catalogue recommended to anyone.
    pub coverage: f64,
}

impl RankSums {
    /// Adds one user: `recommended` best first (at most k), `relevant`
    /// non-empty (users without relevant items are not scored).
    pub fn add(&mut self, recommended: &[u32], relevant: &HashSet<u32>, k: usize) {
        if relevant.is_empty() || k == 0 {
            return;
        }
        self.recommended.extend(recommended.iter().copied());
        let mut hits = 0usize;
        let mut ap = 0.0;
        let mut dcg = 0.0;
        for (i, item) in recommended.iter().take(k).enumerate() {
            if relevant.contains(item) {
                hits += 1;
                ap += hits as f64 / (i + 1) as f64;
                dcg += 1.0 / ((i + 2) as f64).log2();
            }
        }
        let ideal: f64 = (0..relevant.len().min(k))
            .map(|i| 1.0 / ((i + 2) as f64).log2())
            .sum();
        self.users += 1;
        self.precision += hits as f64 / k as f64;
        self.recall += hits as f64 / relevant.len() as f64;
        self.average_precision += ap / relevant.len().min(k) as f64;
        self.ndcg += dcg / ideal;
        self.hits += u64::from(hits > 0);
    }

    /// The means over users; coverage over `items` catalogue items.
    pub fn metrics(&self, items: usize) -> RankMetrics {
        let n = self.users.max(1) as f64;
        RankMetrics {
            users: self.users,
            precision: self.precision / n,
            recall: self.recall / n,
            map: self.average_precision / n,
            ndcg: self.ndcg / n,
            hit_rate: self.hits as f64 / n,
            coverage: self.recommended.len() as f64 / items.max(1) as f64,
        }
    }
}

/// What `evaluate` compares: the model's method and the two baselines.
pub const COMPARED: [&str; 3] = ["model", "popularity", "buy_again"];

/// The model and its baselines on held-out interactions: `test` is, per
/// customer of the model, the items bought after training. Relevant items
/// are those test items, less the customer's training items when the
/// model leaves bought items out (then only new items count). Popularity:
/// everyone's favourites (bought ones left out likewise); buy-again: the
/// customer's own items by decayed weight.
pub fn evaluate(
    r: &super::Recommender,
    test: &[(u32, HashSet<u32>)],
    k: usize,
) -> [(&'static str, RankMetrics); 3] {
    let mut sums = [
        RankSums::default(),
        RankSums::default(),
        RankSums::default(),
    ];
    for (c, items) in test {
        let c = *c as usize;
        let bought = &r.data.item[r.data.range(c)];
        let relevant: HashSet<u32> = if r.settings.exclude_bought {
            items
                .iter()
                .copied()
                .filter(|i| bought.binary_search(i).is_err())
                .collect()
        } else {
            items.clone()
        };
        let lists = [
            r.recommend(c, k),
            r.popular(c, k),
            r.recommend_with(c, k, super::Method::BuyAgain),
        ];
        for (s, list) in sums.iter_mut().zip(lists) {
            let ids: Vec<u32> = list.iter().map(|x| x.item).collect();
            s.add(&ids, &relevant, k);
        }
    }
    let n = r.data.items.len();
    [
        (COMPARED[0], sums[0].metrics(n)),
        (COMPARED[1], sums[1].metrics(n)),
        (COMPARED[2], sums[2].metrics(n)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_user_by_hand() {
        // Relevant {1, 3, 9}; recommended [1, 2, 3, 4]: hits at ranks 1 and 3.
        let mut sums = RankSums::default();
        sums.add(&[1, 2, 3, 4], &HashSet::from([1, 3, 9]), 4);
        let m = sums.metrics(10);
        assert!((m.precision - 0.5).abs() < 1e-12);
        assert!((m.recall - 2.0 / 3.0).abs() < 1e-12);
        assert!((m.map - (1.0 + 2.0 / 3.0) / 3.0).abs() < 1e-12);
        let dcg = 1.0 + 1.0 / 4f64.log2();
        let idcg = 1.0 + 1.0 / 3f64.log2() + 1.0 / 4f64.log2();
        assert!((m.ndcg - dcg / idcg).abs() < 1e-12);
        assert_eq!(m.hit_rate, 1.0);
        assert!((m.coverage - 0.4).abs() < 1e-12);
        // A user without relevant items is not scored.
        sums.add(&[5], &HashSet::new(), 4);
        assert_eq!(sums.metrics(10).users, 1);
    }
}
