//! Scoring one customer: each source scaled to [0, 1] within the customer,
//! then weighted by the method (one source, or the [`BLEND`] weights).

use std::collections::HashMap;

use super::{BLEND, Method, Recommender};

/// Why an item is recommended: the source contributing most to its score.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The customer bought it before.
    BuyAgain,
    /// Bought by customers who bought this item of the customer's.
    AlsoBought(u32),
    /// Popular in this segment cell (a segment or an ancestor).
    PopularIn(u32),
    /// Popular among all customers.
    Popular,
    /// The ALS factors' score.
    Als,
}

/// One recommended item.
#[derive(Debug, Clone, PartialEq)]
pub struct Recommendation {
    /// Item index.
    pub item: u32,
    /// The weighted score (higher first).
    pub score: f64,
    /// Why.
    pub source: Source,
}

#[derive(Default, Clone, Copy)]
struct Candidate {
    parts: [f64; 3],
    /// The customer's item that contributed most co-occurrence.
    via: Option<(u32, f64)>,
}

/// The weights a method gives (buy-again, co-occurrence, popularity).
fn weights(method: Method) -> [f64; 3] {
    match method {
        Method::BuyAgain => [1.0, 0.0, 0.0],
        Method::Cooccurrence => [0.0, 1.0, 0.0],
        Method::SegmentPopular => [0.0, 0.0, 1.0],
        Method::Blend => BLEND,
        Method::Als => [0.0; 3],
    }
}

impl Recommender {
    /// The reason text of a source.
    pub fn reason(&self, source: Source) -> String {
        match source {
            Source::BuyAgain => "buy_again".into(),
            Source::AlsoBought(i) => format!("also_bought:{}", self.data.items[i as usize]),
            Source::PopularIn(n) => {
                format!("popular_in:{}", self.segments().nodes[n as usize].label)
            }
            Source::Popular => "popular".into(),
            Source::Als => "als".into(),
        }
    }

    /// Top `k` items for customer `c` with the model's own method.
    pub fn recommend(&self, c: usize, k: usize) -> Vec<Recommendation> {
        self.recommend_with(c, k, self.settings.method)
    }

    /// Top `k` items for customer `c` by `method` (the evaluation's
    /// baselines use the other methods of the same model).
    pub fn recommend_with(&self, c: usize, k: usize, method: Method) -> Vec<Recommendation> {
        if method == Method::Als {
            return match self.als_scores(c) {
                Some(scores) => self.top_als(c, k, &scores),
                // No factor (nothing to fit): the segment's favourites.
                None => self.recommend_with(c, k, Method::SegmentPopular),
            };
        }
        let w = weights(method);
        let range = self.data.range(c);
        let bought = &self.data.item[range.clone()];
        let own = &self.data.weight[range];
        let max_own = own.iter().copied().fold(0.0, f64::max);
        let mut at: HashMap<u32, usize> = HashMap::new();
        let mut candidates: Vec<(u32, Candidate)> = Vec::new();
        let mut slot = |item: u32, candidates: &mut Vec<(u32, Candidate)>| -> usize {
            *at.entry(item).or_insert_with(|| {
                candidates.push((item, Candidate::default()));
                candidates.len() - 1
            })
        };
        if w[0] > 0.0 && max_own > 0.0 {
            for (&i, &x) in bought.iter().zip(own) {
                let s = slot(i, &mut candidates);
                candidates[s].1.parts[0] = x / max_own;
            }
        }
        if w[1] > 0.0 && max_own > 0.0 {
            for (&i, &x) in bought.iter().zip(own) {
                for &(j, sim) in self.neighbours_of(i as usize) {
                    let contribution = x / max_own * sim;
                    let s = slot(j, &mut candidates);
                    let cand = &mut candidates[s].1;
                    cand.parts[1] += contribution;
                    if cand.via.is_none_or(|(_, best)| contribution > best) {
                        cand.via = Some((i, contribution));
                    }
                }
            }
            let top = candidates.iter().map(|c| c.1.parts[1]).fold(0.0, f64::max);
            if top > 0.0 {
                for c in &mut candidates {
                    c.1.parts[1] /= top;
                }
            }
        }
        let node = self.segments().resolve(self.data.segment_of[c]);
        if w[2] > 0.0 {
            let (list, _) = self.segments().popular(node);
            let top = list.first().map_or(0.0, |p| p.1);
            // Enough of the list that k remain after leaving bought items out.
            for &(j, _) in list.iter().take(k + bought.len()) {
                slot(j, &mut candidates);
            }
            if top > 0.0 {
                for c in &mut candidates {
                    c.1.parts[2] = self.segments().popularity(node, c.0) / top;
                }
            }
        }
        let popular = match node {
            Some(n) => Source::PopularIn(n),
            None => Source::Popular,
        };
        let exclude = self.settings.exclude_bought;
        let mut out: Vec<Recommendation> = candidates
            .into_iter()
            .filter(|(i, _)| !(exclude && bought.binary_search(i).is_ok()))
            .filter_map(|(item, cand)| {
                let weighted = [0, 1, 2].map(|s| w[s] * cand.parts[s]);
                let score: f64 = weighted.iter().sum();
                if score <= 0.0 {
                    return None;
                }
                let best = (0..3).fold(0, |b, s| if weighted[s] > weighted[b] { s } else { b });
                let source = match best {
                    0 => Source::BuyAgain,
                    1 => Source::AlsoBought(cand.via.map_or(item, |v| v.0)),
                    _ => popular,
                };
                Some(Recommendation {
                    item,
                    score,
                    source,
                })
            })
            .collect();
        out.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.item.cmp(&b.item)));
        out.truncate(k);
        out
    }

    /// The top `k` items by ALS score (bought ones left out when the
    /// model leaves them out), ties by item.
    fn top_als(&self, c: usize, k: usize, scores: &[f64]) -> Vec<Recommendation> {
        let bought = &self.data.item[self.data.range(c)];
        let exclude = self.settings.exclude_bought;
        let mut out: Vec<Recommendation> = scores
            .iter()
            .enumerate()
            .filter(|(i, _)| !(exclude && bought.binary_search(&(*i as u32)).is_ok()))
            .map(|(i, &score)| Recommendation {
                item: i as u32,
                score,
                source: Source::Als,
            })
            .collect();
        out.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.item.cmp(&b.item)));
        out.truncate(k);
        out
    }

    /// Everyone's favourites for customer `c` (the popularity baseline),
    /// bought items left out when the model leaves them out.
    pub fn popular(&self, c: usize, k: usize) -> Vec<Recommendation> {
        let bought = &self.data.item[self.data.range(c)];
        let top = self.segments().global.first().map_or(1.0, |p| p.1);
        self.segments()
            .global
            .iter()
            .filter(|(i, _)| !(self.settings.exclude_bought && bought.binary_search(i).is_ok()))
            .take(k)
            .map(|&(item, s)| Recommendation {
                item,
                score: s / top,
                source: Source::Popular,
            })
            .collect()
    }

    /// A customer the model does not know: the favourites of segment cell
    /// `segment` (backing off like a known customer's) or of everyone.
    pub fn favourites(&self, segment: Option<&str>, k: usize) -> Vec<Recommendation> {
        let node = self
            .segments()
            .resolve_node(segment.and_then(|s| self.segments().node(s)));
        let (list, _) = self.segments().popular(node);
        let top = list.first().map_or(1.0, |p| p.1);
        list.iter()
            .take(k)
            .map(|&(item, s)| Recommendation {
                item,
                score: s / top,
                source: match node {
                    Some(n) => Source::PopularIn(n),
                    None => Source::Popular,
                },
            })
            .collect()
    }

    /// The segment label a customer's popularity comes from.
    pub fn segment_label(&self, c: usize) -> Option<&str> {
        let s = self.data.segment_of[c];
        (s != super::NO_SEGMENT).then(|| self.data.segments[s as usize].as_str())
    }
}
