//! Recommendations from purchase interactions: buy-again, item-to-item
//! co-occurrence, segment popularity with back-off, and their blend.
//!
//! Training hands [`build`] interned rows; the result ([`Interactions`]) is
//! what the lake stores (with the ALS factors of method `als`), and a
//! [`Recommender`] derives everything else from it on first use (customer
//! and item indexes, neighbours, popularity per segment), so a stored model
//! is small and the derived tables never disagree with it.
//! Every index is canonical (keys sorted), so nothing depends on the order
//! the training rows arrived in.

pub mod als;
mod assoc;
pub mod rank;
mod score;
mod segments;

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Serialize};

pub use assoc::{Association, associations};
pub use score::{Recommendation, Source};
pub use segments::parent_label;

/// Marks a customer without a segment (NULL in the segment column).
pub const NO_SEGMENT: u32 = u32::MAX;

/// How a recommender ranks items.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// The customer's own items, by recency-decayed weight.
    BuyAgain,
    /// Items bought by customers who bought the customer's items.
    Cooccurrence,
    /// The items most customers of the customer's segment bought.
    SegmentPopular,
    /// Weighted sum of the three, see [`BLEND`].
    #[default]
    Blend,
    /// Implicit ALS factors ([`als`]): x_c · y_i.
    Als,
}

impl Method {
    /// The SQL spelling.
    pub fn name(self) -> &'static str {
        match self {
            Method::BuyAgain => "buy_again",
            Method::Cooccurrence => "cooccurrence",
            Method::SegmentPopular => "segment_popular",
            Method::Blend => "blend",
            Method::Als => "als",
        }
    }
}

/// Blend weights of (buy-again, co-occurrence, popularity), each source
/// scaled to [0, 1] within the customer first. Own history first (repeat
/// purchase is the strongest signal in grocery-like baskets), neighbours
/// next, popularity a tie-breaker that fills short lists.
pub const BLEND: [f64; 3] = [1.0, 0.5, 0.25];

/// Neighbours kept per item for co-occurrence scoring.
pub const NEIGHBOURS: usize = 50;

/// Scoring settings stored with a model.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Settings {
    /// How items are ranked.
    pub method: Method,
    /// Leave out items the customer already bought.
    pub exclude_bought: bool,
    /// Customers a segment (or a pair of items) needs before its own
    /// statistics are used; below it, the parent segment's (the pair is
    /// not a neighbour).
    pub min_support: u32,
    /// The factorization's settings (method `als`).
    #[serde(default)]
    pub als: AlsSettings,
}

/// Implicit ALS settings, see [`als::AlsOptions`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AlsSettings {
    /// Factors per customer and item.
    pub factors: usize,
    /// λ.
    pub regularization: f64,
    /// α: confidence 1 + α·weight.
    pub alpha: f64,
    /// Alternations.
    pub iterations: usize,
    /// Seed of the starting factors.
    pub seed: u64,
}

impl Default for AlsSettings {
    /// `implicit`'s defaults but fewer factors (baskets, not films).
    fn default() -> Self {
        Self {
            factors: 32,
            regularization: 0.01,
            alpha: 1.0,
            iterations: 15,
            seed: 42,
        }
    }
}

/// One training interaction after interning: indexes into the key lists.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Row {
    /// Index into the customer keys.
    pub customer: u32,
    /// Index into the item keys.
    pub item: u32,
    /// The interaction's weight (1 when the query gives none).
    pub weight: f64,
    /// When, in days on any fixed origin.
    pub day: f64,
    /// Index into the segment labels, or [`NO_SEGMENT`].
    pub segment: u32,
}

/// What a recommender keeps: the customer × item matrix (compressed rows)
/// with the segment of each customer.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Interactions {
    /// Customer keys, canonical order.
    pub customers: Vec<String>,
    /// Item keys, canonical order.
    pub items: Vec<String>,
    /// Whether training had a segment column.
    pub segmented: bool,
    /// Segment labels, sorted.
    pub segments: Vec<String>,
    /// Per customer: index into `segments` or [`NO_SEGMENT`].
    pub segment_of: Vec<u32>,
    /// Row starts: customer c's entries are `offsets[c]..offsets[c + 1]`.
    pub offsets: Vec<u64>,
    /// Item of each entry, ascending within a customer.
    pub item: Vec<u32>,
    /// Summed, recency-decayed weight of each entry.
    pub weight: Vec<f64>,
    /// Decay factor of the entry's latest interaction, in (0, 1].
    pub recency: Vec<f64>,
}

impl Interactions {
    /// Customer c's entries.
    pub fn range(&self, c: usize) -> std::ops::Range<usize> {
        self.offsets[c] as usize..self.offsets[c + 1] as usize
    }

    /// Entries (distinct customer–item pairs).
    pub fn len(&self) -> usize {
        self.item.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.item.is_empty()
    }
}

/// Keys in canonical order: numerically when every key is an integer
/// (so 9 sorts before 10), else by text. Returns the sorted keys and each
/// old index's new one.
fn canonical(keys: Vec<String>, numeric: bool) -> (Vec<String>, Vec<u32>) {
    let mut order: Vec<u32> = (0..keys.len() as u32).collect();
    if numeric {
        let value = |i: u32| keys[i as usize].parse::<i128>().unwrap_or(i128::MAX);
        order.sort_by(|&a, &b| {
            value(a)
                .cmp(&value(b))
                .then_with(|| keys[a as usize].cmp(&keys[b as usize]))
        });
    } else {
        order.sort_by(|&a, &b| keys[a as usize].cmp(&keys[b as usize]));
    }
    let mut new_index = vec![0u32; keys.len()];
    for (new, &old) in order.iter().enumerate() {
        new_index[old as usize] = new as u32;
    }
    let mut keys: Vec<Option<String>> = keys.into_iter().map(Some).collect();
    let sorted = order
        .iter()
        .map(|&i| keys[i as usize].take().unwrap_or_default())
        .collect();
    (sorted, new_index)
}

/// Aggregates interned rows into [`Interactions`]: keys put in canonical
/// order, each customer–item pair's weights decayed by age (half-life in
/// days, counted back from the latest row) and summed; a customer's segment
/// is the one on its latest row (the smaller label on a tie).
#[allow(clippy::too_many_arguments)]
pub fn build(
    customers: Vec<String>,
    numeric_customers: bool,
    items: Vec<String>,
    numeric_items: bool,
    segments: Option<Vec<String>>,
    mut rows: Vec<Row>,
    half_life_days: Option<f64>,
) -> Interactions {
    let (customers, customer_index) = canonical(customers, numeric_customers);
    let (items, item_index) = canonical(items, numeric_items);
    let segmented = segments.is_some();
    let (segments, segment_index) = canonical(segments.unwrap_or_default(), false);
    let latest = rows.iter().map(|r| r.day).fold(f64::NEG_INFINITY, f64::max);
    for r in &mut rows {
        r.customer = customer_index[r.customer as usize];
        r.item = item_index[r.item as usize];
        if r.segment != NO_SEGMENT {
            r.segment = segment_index[r.segment as usize];
        }
    }
    let decay = |day: f64| match half_life_days {
        Some(h) => 0.5f64.powf((latest - day) / h),
        None => 1.0,
    };
    // Sorting by every field makes the sums' order, and so their rounding,
    // independent of the input order.
    rows.sort_by(|a, b| {
        (a.customer, a.item)
            .cmp(&(b.customer, b.item))
            .then(a.day.total_cmp(&b.day))
            .then(a.weight.total_cmp(&b.weight))
            .then(a.segment.cmp(&b.segment))
    });
    let n = customers.len();
    let mut out = Interactions {
        customers,
        items,
        segmented,
        segments,
        segment_of: vec![NO_SEGMENT; n],
        offsets: vec![0; n + 1],
        item: Vec::new(),
        weight: Vec::new(),
        recency: Vec::new(),
    };
    let mut last_day = vec![f64::NEG_INFINITY; n];
    let mut previous: Option<(u32, u32)> = None;
    for r in &rows {
        let c = r.customer as usize;
        let factor = decay(r.day);
        if previous == Some((r.customer, r.item)) {
            // Rows are sorted by day within a pair: this one is the latest.
            if let (Some(w), Some(f)) = (out.weight.last_mut(), out.recency.last_mut()) {
                *w += r.weight * factor;
                *f = factor;
            }
        } else {
            out.item.push(r.item);
            out.weight.push(r.weight * factor);
            out.recency.push(factor);
        }
        previous = Some((r.customer, r.item));
        out.offsets[c + 1] = out.item.len() as u64;
        if r.day > last_day[c] || (r.day == last_day[c] && r.segment < out.segment_of[c]) {
            last_day[c] = r.day;
            out.segment_of[c] = r.segment;
        }
    }
    // A customer without rows (none, when keys come from the rows) keeps
    // an empty range.
    for c in 0..n {
        out.offsets[c + 1] = out.offsets[c + 1].max(out.offsets[c]);
    }
    out
}

/// ALS factors: customer and item rows (row-major, `factors` a row).
pub type Factors = (Vec<f64>, Vec<f64>);

/// Item neighbours: offsets per item into (neighbour, cosine) pairs.
type NeighbourTable = (Vec<u64>, Vec<(u32, f64)>);

/// What is derived from the interactions to score them: built on first
/// use, so opening a lake with a large recommender reads its files but
/// scores nothing until a query asks.
#[derive(Debug)]
struct Index {
    /// Item → customers (compressed columns).
    item_offsets: Vec<u64>,
    item_customers: Vec<u32>,
    /// Segments with their back-off chains, and popularity per segment.
    segments: segments::SegmentTree,
    /// Key → index.
    customer_index: HashMap<String, u32>,
    item_index: HashMap<String, u32>,
}

impl Index {
    fn new(data: &Interactions, settings: &Settings) -> Self {
        let n_items = data.items.len();
        let mut counts = vec![0u64; n_items + 1];
        for &i in &data.item {
            counts[i as usize + 1] += 1;
        }
        for i in 0..n_items {
            counts[i + 1] += counts[i];
        }
        let item_offsets = counts.clone();
        let mut next = counts;
        let mut item_customers = vec![0u32; data.len()];
        for c in 0..data.customers.len() {
            for e in data.range(c) {
                let i = data.item[e] as usize;
                item_customers[next[i] as usize] = c as u32;
                next[i] += 1;
            }
        }
        let index = |keys: &[String]| -> HashMap<String, u32> {
            keys.iter()
                .enumerate()
                .map(|(i, k)| (k.clone(), i as u32))
                .collect()
        };
        Index {
            customer_index: index(&data.customers),
            item_index: index(&data.items),
            segments: segments::SegmentTree::new(data, settings.min_support),
            item_offsets,
            item_customers,
        }
    }
}

/// A recommender ready to score: the stored interactions (and ALS factors)
/// plus what is derived from them on first use.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(from = "Stored", into = "Stored")]
pub struct Recommender {
    /// As stored.
    pub data: Interactions,
    /// As stored.
    pub settings: Settings,
    index: Arc<OnceLock<Index>>,
    /// Item → (neighbour, cosine similarity), best first: offsets and list.
    neighbours: Arc<OnceLock<NeighbourTable>>,
    /// Method `als`: stored at training; fitted on first use for models
    /// stored without them.
    factors: Arc<OnceLock<Option<Factors>>>,
}

/// The serialized form: what cannot be derived cheaply.
#[derive(Serialize, Deserialize, Clone)]
struct Stored {
    data: Interactions,
    settings: Settings,
    #[serde(default)]
    factors: Option<Factors>,
}

impl From<Stored> for Recommender {
    fn from(s: Stored) -> Self {
        Recommender::with_factors(s.data, s.settings, s.factors)
    }
}

impl From<Recommender> for Stored {
    fn from(r: Recommender) -> Self {
        let factors = r.factors.get().cloned().flatten();
        Stored {
            data: r.data,
            settings: r.settings,
            factors,
        }
    }
}

impl PartialEq for Recommender {
    fn eq(&self, other: &Self) -> bool {
        self.data == other.data && self.settings == other.settings
    }
}

/// Threads for the derived tables: all cores.
fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

impl Recommender {
    /// A recommender over stored interactions; indexes, neighbours and
    /// (method `als`) factors are derived when first needed.
    pub fn new(data: Interactions, settings: Settings) -> Self {
        Self::with_factors(data, settings, None)
    }

    /// As [`Recommender::new`] with ALS factors already fitted (as
    /// stored); ignored unless the method is `als` and the shapes fit.
    pub fn with_factors(data: Interactions, settings: Settings, factors: Option<Factors>) -> Self {
        let f = settings.als.factors;
        let fits = |(u, i): &Factors| {
            u.len() == data.customers.len() * f && i.len() == data.items.len() * f
        };
        let cell = OnceLock::new();
        if let Some(factors) = factors.filter(|x| settings.method == Method::Als && fits(x)) {
            let _ = cell.set(Some(factors));
        }
        Recommender {
            data,
            settings,
            index: Arc::default(),
            neighbours: Arc::default(),
            factors: Arc::new(cell),
        }
    }

    /// Derives everything now (training does, so its time includes it and
    /// the first query after it is fast).
    pub fn prepare(&self) {
        self.index();
        self.neighbour_table();
        self.factors();
    }

    fn index(&self) -> &Index {
        self.index
            .get_or_init(|| Index::new(&self.data, &self.settings))
    }

    fn segments(&self) -> &segments::SegmentTree {
        &self.index().segments
    }

    fn neighbour_table(&self) -> &NeighbourTable {
        self.neighbours
            .get_or_init(|| assoc::neighbours(self, NEIGHBOURS, threads()))
    }

    /// Method `als`: the customer and item factors; `None` for other
    /// methods or when there is nothing to fit.
    pub fn factors(&self) -> Option<&Factors> {
        if self.settings.method != Method::Als {
            return None;
        }
        self.factors.get_or_init(|| self.fit_als()).as_ref()
    }

    /// The ALS factors of the interactions (weights as r); `None` when
    /// there is nothing to fit (scoring then falls back to popularity).
    fn fit_als(&self) -> Option<Factors> {
        let a = self.settings.als;
        let mut rows = Vec::with_capacity(self.data.len());
        for c in 0..self.data.customers.len() {
            for e in self.data.range(c) {
                if self.data.weight[e] > 0.0 {
                    rows.push((c as u32, self.data.item[e], self.data.weight[e]));
                }
            }
        }
        let options = als::AlsOptions {
            factors: a.factors,
            regularization: a.regularization,
            alpha: a.alpha,
            iterations: a.iterations,
            seed: a.seed,
            threads: threads(),
            ..als::AlsOptions::default()
        };
        let fit = als::fit(
            self.data.customers.len(),
            self.data.items.len(),
            &rows,
            &options,
        )
        .ok()?;
        Some((fit.users, fit.items))
    }

    /// Customer c's ALS scores of every item, when the model has factors
    /// and the customer a non-zero factor.
    pub fn als_scores(&self, c: usize) -> Option<Vec<f64>> {
        let (users, items) = self.factors()?;
        let f = self.settings.als.factors;
        let x = users.get(c * f..(c + 1) * f)?;
        if x.iter().all(|v| *v == 0.0) {
            return None;
        }
        Some(
            items
                .chunks_exact(f)
                .map(|y| x.iter().zip(y).map(|(a, b)| a * b).sum())
                .collect(),
        )
    }

    /// Bytes the ALS factors take (for the memory pool).
    pub fn als_bytes(data: &Interactions, settings: &Settings) -> usize {
        if settings.method == Method::Als {
            (data.customers.len() + data.items.len()) * settings.als.factors * size_of::<f64>()
        } else {
            0
        }
    }

    /// The customers who bought item i, ascending.
    pub fn customers_of(&self, i: usize) -> &[u32] {
        let x = self.index();
        &x.item_customers[x.item_offsets[i] as usize..x.item_offsets[i + 1] as usize]
    }

    /// Item i's neighbours, best first.
    pub fn neighbours_of(&self, i: usize) -> &[(u32, f64)] {
        let (offsets, list) = self.neighbour_table();
        &list[offsets[i] as usize..offsets[i + 1] as usize]
    }

    /// Whether training had a segment column.
    pub fn has_segments(&self) -> bool {
        self.data.segmented
    }

    /// Index of a customer key.
    pub fn customer(&self, key: &str) -> Option<usize> {
        self.index().customer_index.get(key).map(|&c| c as usize)
    }

    /// Index of an item key.
    pub fn item(&self, key: &str) -> Option<usize> {
        self.index().item_index.get(key).map(|&i| i as usize)
    }

    /// A segment cell by label (a segment, or a `micro_segment` ancestor
    /// of one), for statistics within it.
    pub fn segment_cell(&self, label: &str) -> Option<u32> {
        self.index().segments.node(label)
    }

    /// Segment label's index, if training saw it.
    pub fn segment(&self, label: &str) -> Option<u32> {
        self.data
            .segments
            .binary_search_by(|s| s.as_str().cmp(label))
            .ok()
            .map(|i| i as u32)
    }
}

#[cfg(test)]
mod tests;
