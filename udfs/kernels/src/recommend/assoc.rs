//! Item-to-item co-occurrence: the neighbours co-occurrence scoring uses,
//! and the association statistics `also_bought` reports.

use super::Recommender;

/// How often another item is bought by the customers of one item.
#[derive(Debug, Clone, PartialEq)]
pub struct Association {
    /// The other item.
    pub item: u32,
    /// Customers who bought both.
    pub both: u32,
    /// P(A and B): `both` over the customers considered.
    pub support: f64,
    /// P(B | A).
    pub confidence: f64,
    /// P(A and B) / (P(A) P(B)).
    pub lift: f64,
    /// Zhang's metric, in [-1, 1]: (P(AB) − P(A)P(B)) /
    /// max(P(AB)(1 − P(A)), P(A)(P(B) − P(AB))).
    pub zhang: f64,
}

/// One item's neighbours: (item, cosine), best first.
type Neighbours = Vec<(u32, f64)>;

/// Counts, for each item bought by `customers`, how many of them bought
/// it; `counts` is all zero on entry and on return, `touched` lists the
/// non-zero entries in first-seen order.
fn count(r: &Recommender, customers: &[u32], counts: &mut [u32], touched: &mut Vec<u32>) {
    for &c in customers {
        for e in r.data.range(c as usize) {
            let j = r.data.item[e];
            if counts[j as usize] == 0 {
                touched.push(j);
            }
            counts[j as usize] += 1;
        }
    }
}

/// Per item, its `m` nearest items by cosine similarity of their customer
/// sets, `both / sqrt(n_i n_j)`, among pairs with at least `min_support`
/// customers in common (at least 1); computed on `threads` threads, items
/// dealt round-robin, each item on its own so the result does not depend
/// on the thread count.
pub(super) fn neighbours(r: &Recommender, m: usize, threads: usize) -> super::NeighbourTable {
    let n_items = r.data.items.len();
    let threads = threads.clamp(1, n_items.max(1));
    let min_both = r.settings.min_support.max(1);
    let per_thread: Vec<Vec<(u32, Neighbours)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || {
                    let mut counts = vec![0u32; n_items];
                    let mut touched = Vec::new();
                    let mut out = Vec::new();
                    for i in (t..n_items).step_by(threads) {
                        let customers = r.customers_of(i);
                        count(r, customers, &mut counts, &mut touched);
                        let n_i = customers.len() as f64;
                        let mut best: Vec<(u32, f64)> = touched
                            .iter()
                            .filter(|&&j| j as usize != i && counts[j as usize] >= min_both)
                            .map(|&j| {
                                let n_j = r.customers_of(j as usize).len() as f64;
                                (j, f64::from(counts[j as usize]) / (n_i * n_j).sqrt())
                            })
                            .collect();
                        for &j in &touched {
                            counts[j as usize] = 0;
                        }
                        touched.clear();
                        best.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
                        best.truncate(m);
                        out.push((i as u32, best));
                    }
                    out
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_default())
            .collect()
    });
    let mut lists: Vec<Vec<(u32, f64)>> = vec![Vec::new(); n_items];
    for (i, list) in per_thread.into_iter().flatten() {
        lists[i as usize] = list;
    }
    let mut offsets = Vec::with_capacity(n_items + 1);
    offsets.push(0u64);
    let mut flat = Vec::new();
    for list in lists {
        flat.extend(list);
        offsets.push(flat.len() as u64);
    }
    (offsets, flat)
}

/// The association statistics of item `a` with every item bought together
/// with it, among all customers or those of segment cell `within`
/// (a segment or an ancestor); ordered by customers in common, then lift,
/// then item.
pub fn associations(r: &Recommender, a: usize, within: Option<u32>) -> Vec<Association> {
    let n_items = r.data.items.len();
    let inside = |c: usize| match within {
        None => true,
        Some(node) => r.segments().contains(&r.data, node, c),
    };
    let buyers: Vec<u32> = r
        .customers_of(a)
        .iter()
        .copied()
        .filter(|&c| inside(c as usize))
        .collect();
    if buyers.is_empty() {
        return Vec::new();
    }
    // Customers and item counts of the population considered.
    let (total, item_customers): (f64, Vec<f64>) = match within {
        None => (
            r.data.customers.len() as f64,
            (0..n_items)
                .map(|j| r.customers_of(j).len() as f64)
                .collect(),
        ),
        Some(_) => {
            let mut n = 0.0;
            let mut per_item = vec![0.0; n_items];
            for c in (0..r.data.customers.len()).filter(|&c| inside(c)) {
                n += 1.0;
                for e in r.data.range(c) {
                    per_item[r.data.item[e] as usize] += 1.0;
                }
            }
            (n, per_item)
        }
    };
    let mut counts = vec![0u32; n_items];
    let mut touched = Vec::new();
    count(r, &buyers, &mut counts, &mut touched);
    let p_a = buyers.len() as f64 / total;
    let mut out: Vec<Association> = touched
        .into_iter()
        .filter(|&j| j as usize != a)
        .map(|j| {
            let both = counts[j as usize];
            let p_ab = f64::from(both) / total;
            let p_b = item_customers[j as usize] / total;
            let denominator = (p_ab * (1.0 - p_a)).max(p_a * (p_b - p_ab));
            Association {
                item: j,
                both,
                support: p_ab,
                confidence: p_ab / p_a,
                lift: p_ab / (p_a * p_b),
                zhang: if denominator > 0.0 {
                    (p_ab - p_a * p_b) / denominator
                } else {
                    0.0
                },
            }
        })
        .collect();
    out.sort_by(|x, y| {
        y.both
            .cmp(&x.both)
            .then(y.lift.total_cmp(&x.lift))
            .then(x.item.cmp(&y.item))
    });
    out
}
