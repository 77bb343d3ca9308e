//! Scoring one customer: each source scaled to [0, 1] within the customer,
//! then weighted by the method (one source, or the [`BLEND`] weights).

use std::cell::RefCell;
use std::cmp::Ordering;

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

#[derive(Clone, Copy)]
struct Candidate {
    item: u32,
    parts: [f64; 3],
    /// The customer's item that contributed most co-occurrence.
    via: Option<(u32, f64)>,
    /// Bought by the customer and left out.
    excluded: bool,
}

impl Candidate {
    fn new(item: u32) -> Self {
        Candidate {
            item,
            parts: [0.0; 3],
            via: None,
            excluded: false,
        }
    }
}

/// Marks an item without a candidate in [`Scratch::slot`].
const NO_SLOT: u32 = u32::MAX;

/// One thread's working memory for scoring: a customer touches hundreds
/// of the catalogue's items, and hashing them (and allocating for them)
/// cost more than the scoring itself. Per thread because the engine scores
/// through `&Recommender` on many threads at once.
#[derive(Default)]
struct Scratch {
    /// Item → index into `candidates`, [`NO_SLOT`] for the others; as long
    /// as the largest catalogue this thread scored.
    slot: Vec<u32>,
    /// In first-touched order.
    candidates: Vec<Candidate>,
    /// (score, item, index into `candidates`) of the candidates that score.
    ranked: Vec<(f64, u32, u32)>,
}

impl Scratch {
    /// Ready for a catalogue of `items`. The previous call's marks are
    /// cleared here rather than at its end, so a call that panicked leaves
    /// nothing behind.
    fn reset(&mut self, items: usize) {
        for c in self.candidates.drain(..) {
            self.slot[c.item as usize] = NO_SLOT;
        }
        if self.slot.len() < items {
            self.slot.resize(items, NO_SLOT);
        }
        self.ranked.clear();
    }

    /// The candidate of `item`, added if new.
    #[inline]
    fn candidate(&mut self, item: u32) -> &mut Candidate {
        let at = &mut self.slot[item as usize];
        if *at == NO_SLOT {
            *at = self.candidates.len() as u32;
            self.candidates.push(Candidate::new(item));
        }
        &mut self.candidates[*at as usize]
    }

    /// The candidate of `item`, if any.
    #[inline]
    fn get(&mut self, item: u32) -> Option<&mut Candidate> {
        match self.slot[item as usize] {
            NO_SLOT => None,
            at => Some(&mut self.candidates[at as usize]),
        }
    }
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::default();
}

/// Runs `f` on this thread's [`Scratch`] (a fresh one should it be in use).
fn with_scratch<T>(f: impl FnOnce(&mut Scratch) -> T) -> T {
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut scratch) => f(&mut scratch),
        Err(_) => f(&mut Scratch::default()),
    })
}

/// Best first by (score, item), ties by item: a total order on distinct
/// items, so which sort (or selection) puts them in it does not matter.
fn best_first(a: (f64, u32), b: (f64, u32)) -> Ordering {
    b.0.total_cmp(&a.0).then(a.1.cmp(&b.1))
}

/// Leaves the `k` first of `v` by `order`, in that order: a selection then
/// a sort of the `k`, where sorting every candidate took most of the time.
fn keep_top<T>(v: &mut Vec<T>, k: usize, order: impl Fn(&T, &T) -> Ordering) {
    if v.len() > k {
        if k == 0 {
            v.clear();
            return;
        }
        v.select_nth_unstable_by(k - 1, &order);
        v.truncate(k);
    }
    v.sort_unstable_by(order);
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
    /// baselines use the other methods of the same model). Ranked best
    /// first, ties by item. Methods other than `als` keep their working
    /// memory with the calling thread between calls, so a call allocates
    /// little more than its result.
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
        let segments = self.segments();
        let node = segments.resolve(self.data.segment_of[c]);
        let popular = match node {
            Some(n) => Source::PopularIn(n),
            None => Source::Popular,
        };
        let by_neighbours = w[1] > 0.0 && max_own > 0.0;
        // Derived (on first use) before the scratch is borrowed.
        let (offsets, neighbours): (&[u64], &[(u32, f64)]) = if by_neighbours {
            let (offsets, list) = self.neighbour_table();
            (offsets, list)
        } else {
            (&[], &[])
        };
        with_scratch(|s| {
            s.reset(self.data.items.len());
            if w[0] > 0.0 && max_own > 0.0 {
                for (&i, &x) in bought.iter().zip(own) {
                    s.candidate(i).parts[0] = x / max_own;
                }
            }
            if by_neighbours {
                for (&i, &x) in bought.iter().zip(own) {
                    // `x / max_own * sim` is `(x / max_own) * sim`: the
                    // quotient taken once gives every product the same bits.
                    let scale = x / max_own;
                    let at = offsets[i as usize] as usize..offsets[i as usize + 1] as usize;
                    for &(j, sim) in &neighbours[at] {
                        let contribution = scale * sim;
                        let cand = s.candidate(j);
                        cand.parts[1] += contribution;
                        if cand.via.is_none_or(|(_, best)| contribution > best) {
                            cand.via = Some((i, contribution));
                        }
                    }
                }
                let top = s.candidates.iter().map(|c| c.parts[1]).fold(0.0, f64::max);
                if top > 0.0 {
                    for c in &mut s.candidates {
                        c.parts[1] /= top;
                    }
                }
            }
            if w[2] > 0.0 {
                let (list, _) = segments.popular(node);
                let top = list.first().map_or(0.0, |p| p.1);
                // Enough of the list that k remain after leaving bought items out.
                for &(j, _) in list.iter().take(k.saturating_add(bought.len())) {
                    s.candidate(j);
                }
                if top > 0.0 {
                    self.scale_popularity(s, node, top);
                }
            }
            if self.settings.exclude_bought {
                for &i in bought {
                    if let Some(c) = s.get(i) {
                        c.excluded = true;
                    }
                }
            }
            let weighted = |c: &Candidate| [0, 1, 2].map(|p| w[p] * c.parts[p]);
            for (at, cand) in s.candidates.iter().enumerate() {
                if cand.excluded {
                    continue;
                }
                let score: f64 = weighted(cand).iter().sum();
                // Not `score > 0.0`: a NaN score (from a NaN weight) has
                // always been kept.
                if score > 0.0 || score.is_nan() {
                    s.ranked.push((score, cand.item, at as u32));
                }
            }
            keep_top(&mut s.ranked, k, |a, b| best_first((a.0, a.1), (b.0, b.1)));
            s.ranked
                .iter()
                .map(|&(score, item, at)| {
                    let cand = &s.candidates[at as usize];
                    let parts = weighted(cand);
                    let best = (0..3).fold(0, |b, s| if parts[s] > parts[b] { s } else { b });
                    let source = match best {
                        0 => Source::BuyAgain,
                        1 => Source::AlsoBought(cand.via.map_or(item, |v| v.0)),
                        _ => popular,
                    };
                    Recommendation {
                        item,
                        score,
                        source,
                    }
                })
                .collect()
        })
    }

    /// Sets every candidate's popularity part: its popularity in `node`
    /// over `top`. A cell's popularity is a sorted list, so a customer
    /// with many candidates has them found by one pass over the list (the
    /// others keep 0, which is 0 / `top`), and one with few by search.
    fn scale_popularity(&self, s: &mut Scratch, node: Option<u32>, top: f64) {
        let segments = self.segments();
        let by_item = match node {
            Some(n) => &segments.nodes[n as usize].by_item,
            None => {
                for c in &mut s.candidates {
                    c.parts[2] = segments.popularity(None, c.item) / top;
                }
                return;
            }
        };
        let search = s.candidates.len() * (by_item.len().max(1).ilog2() as usize + 1);
        if search < by_item.len() {
            for c in &mut s.candidates {
                c.parts[2] = segments.popularity(node, c.item) / top;
            }
        } else {
            for &(i, p) in by_item {
                if let Some(c) = s.get(i) {
                    c.parts[2] = p / top;
                }
            }
        }
    }

    /// The top `k` items by ALS score (bought ones left out when the
    /// model leaves them out), ties by item.
    fn top_als(&self, c: usize, k: usize, scores: &[f64]) -> Vec<Recommendation> {
        let bought = &self.data.item[self.data.range(c)];
        let exclude = self.settings.exclude_bought;
        let mut out = Vec::with_capacity(scores.len());
        // Both ascending: bought[b] is the first bought item not below i.
        let mut b = 0;
        for (i, &score) in scores.iter().enumerate() {
            let i = i as u32;
            while b < bought.len() && bought[b] < i {
                b += 1;
            }
            if exclude && bought.get(b) == Some(&i) {
                continue;
            }
            out.push(Recommendation {
                item: i,
                score,
                source: Source::Als,
            });
        }
        keep_top(&mut out, k, |a, b| {
            best_first((a.score, a.item), (b.score, b.item))
        });
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
