//! Segment popularity with back-off: a segment with fewer than
//! `min_support` customers uses its parent's popularity, and so on up to
//! the whole customer base. Parents come from the label: a `micro_segment`
//! cell `city=Leeds|channel=app` has the parent `city=Leeds|channel=*`
//! (its last specified dimension given up), and a parent holds every
//! customer of the cells below it, whether or not the training data labels
//! anyone with it directly. Other labels have the whole base as parent.

use std::collections::{BTreeMap, HashMap};

use super::{Interactions, NO_SEGMENT};

/// A `micro_segment` label's parent: the last dimension still given a
/// value written as `*`; `None` for the root, or a label of another form.
pub fn parent_label(label: &str) -> Option<String> {
    let mut parts: Vec<&str> = label.split('|').collect();
    if parts.iter().any(|p| !p.contains('=')) {
        return None;
    }
    let last = parts.iter().rposition(|p| !p.ends_with("=*"))?;
    let name = parts[last].split_once('=').map_or("", |(n, _)| n);
    let starred = format!("{name}=*");
    parts[last] = &starred;
    if parts.iter().all(|p| p.ends_with("=*")) {
        return None;
    }
    Some(parts.join("|"))
}

/// One segment or ancestor cell.
#[derive(Debug, Clone)]
pub(super) struct Node {
    pub label: String,
    pub parent: Option<u32>,
    pub customers: u32,
    /// (item, recency-weighted customers), best first.
    pub popular: Vec<(u32, f64)>,
    /// The same, by item, for look-ups.
    pub by_item: Vec<(u32, f64)>,
}

/// Every segment, its ancestors, and the whole base.
#[derive(Debug, Clone, Default)]
pub(super) struct SegmentTree {
    pub nodes: Vec<Node>,
    /// Data segment index → node.
    pub node_of: Vec<u32>,
    /// Popularity over all customers, best first.
    pub global: Vec<(u32, f64)>,
    /// The same, indexed by item.
    pub global_by_item: Vec<f64>,
    pub min_support: u32,
}

/// Sorted best first, ties by item.
fn ranked(scores: impl IntoIterator<Item = (u32, f64)>) -> Vec<(u32, f64)> {
    let mut v: Vec<(u32, f64)> = scores.into_iter().filter(|s| s.1 > 0.0).collect();
    v.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    v
}

impl SegmentTree {
    pub fn new(data: &Interactions, min_support: u32) -> Self {
        // Nodes: the segments, then ancestors, by label.
        let mut by_label: BTreeMap<String, u32> = BTreeMap::new();
        let mut nodes: Vec<Node> = Vec::new();
        let mut node_of = Vec::with_capacity(data.segments.len());
        for label in &data.segments {
            let mut chain = vec![label.clone()];
            while let Some(p) = parent_label(chain.last().map_or("", String::as_str)) {
                chain.push(p);
            }
            // Create from the top so parents get their index first.
            let mut parent = None;
            for l in chain.iter().rev() {
                let id = *by_label.entry(l.clone()).or_insert_with(|| {
                    nodes.push(Node {
                        label: l.clone(),
                        parent,
                        customers: 0,
                        popular: Vec::new(),
                        by_item: Vec::new(),
                    });
                    nodes.len() as u32 - 1
                });
                parent = Some(id);
            }
            node_of.push(parent.unwrap_or(0));
        }
        let mut sums: Vec<HashMap<u32, f64>> = vec![HashMap::new(); nodes.len()];
        let mut global = vec![0.0; data.items.len()];
        for c in 0..data.customers.len() {
            let segment = data.segment_of[c];
            let mut node = (segment != NO_SEGMENT).then(|| node_of[segment as usize]);
            while let Some(n) = node {
                nodes[n as usize].customers += 1;
                for e in data.range(c) {
                    *sums[n as usize].entry(data.item[e]).or_default() += data.recency[e];
                }
                node = nodes[n as usize].parent;
            }
            for e in data.range(c) {
                global[data.item[e] as usize] += data.recency[e];
            }
        }
        for (node, sum) in nodes.iter_mut().zip(sums) {
            node.popular = ranked(sum);
            node.by_item = node.popular.clone();
            node.by_item.sort_by_key(|p| p.0);
        }
        SegmentTree {
            nodes,
            node_of,
            global: ranked(global.iter().enumerate().map(|(i, &s)| (i as u32, s))),
            global_by_item: global,
            min_support,
        }
    }

    /// The cell whose popularity a customer of `segment` gets: its own, or
    /// the nearest ancestor with enough customers; `None` is the whole base.
    pub fn resolve(&self, segment: u32) -> Option<u32> {
        if segment == NO_SEGMENT {
            return None;
        }
        self.resolve_node(self.node_of.get(segment as usize).copied())
    }

    /// A cell by label: a segment or an ancestor of one.
    pub fn node(&self, label: &str) -> Option<u32> {
        self.nodes
            .iter()
            .position(|n| n.label == label)
            .map(|n| n as u32)
    }

    /// Whether customer `c`'s segment is `node` or lies below it.
    pub fn contains(&self, data: &Interactions, node: u32, c: usize) -> bool {
        let segment = data.segment_of[c];
        let mut at = (segment != NO_SEGMENT).then(|| self.node_of[segment as usize]);
        while let Some(n) = at {
            if n == node {
                return true;
            }
            at = self.nodes[n as usize].parent;
        }
        false
    }

    /// From `node` up to the first cell with enough customers.
    pub fn resolve_node(&self, mut node: Option<u32>) -> Option<u32> {
        while let Some(n) = node {
            if self.nodes[n as usize].customers >= self.min_support {
                return Some(n);
            }
            node = self.nodes[n as usize].parent;
        }
        None
    }

    /// Item i's popularity in `node` (the whole base for `None`).
    pub fn popularity(&self, node: Option<u32>, i: u32) -> f64 {
        match node {
            Some(n) => {
                let list = &self.nodes[n as usize].by_item;
                list.binary_search_by_key(&i, |p| p.0)
                    .map_or(0.0, |at| list[at].1)
            }
            None => self.global_by_item.get(i as usize).copied().unwrap_or(0.0),
        }
    }

    /// Popularity list and its label (`None` for the whole base).
    pub fn popular(&self, node: Option<u32>) -> (&[(u32, f64)], Option<&str>) {
        match node {
            Some(n) => {
                let n = &self.nodes[n as usize];
                (&n.popular, Some(&n.label))
            }
            None => (&self.global, None),
        }
    }
}
