//! The fast representation: while every period of an aggregation falls in
//! a range of at most `MAX_WORDS` × 64 periods (about 5.6 years of days),
//! each group has a head — its first period and the two sums — and one bit
//! per period of the range. A row sets its bit and updates its head in
//! place, in any order; the distinct periods are the set bits. Compared
//! with the flat list there is nothing to sort when the groups are
//! emitted, and a group's memory does not grow with its rows.
//!
//! The bits are kept in planes, one word per group and 64 periods: a
//! plane is added (or put in front) when the range grows, without moving
//! the others, and rows of neighbouring groups in the same weeks touch
//! neighbouring words.

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Int64Array};
use datafusion::arrow::datatypes::Int64Type;
use datafusion::common::Result;
use datafusion::logical_expr::EmitTo;
use microseg_kernels::prefetch;

use super::entries::{EntryGroups, NOT_IN_TOTAL};
use super::{Span, Taken, arguments, kept, states, value};

/// Rows ahead whose heads and words are prefetched.
const AHEAD: usize = 16;

/// The widest range of periods kept as bits, in 64-bit words: past it a
/// group (32 bytes of head and 8 per word) outweighs a few dozen rows in
/// the flat list.
pub(super) const MAX_WORDS: usize = 32;

/// The group has a period (`first` is set).
const HAS_FIRST: u64 = 1;
/// The first amount is not NULL.
const HAS_FIRST_AMOUNT: u64 = 2;
/// The total is not NULL.
const HAS_TOTAL: u64 = 4;

/// A group's first period, first amount and total (as bits), and flags.
#[derive(Debug, Clone, Copy, Default)]
struct Head {
    first: i64,
    first_amount: u64,
    total: u64,
    flags: u64,
}

impl Head {
    /// Adds `amount` spent in `period` to the first period's amount (a
    /// merged state's first period brings its state's first amount).
    fn add_first(&mut self, period: i64, amount: Option<f64>) {
        if self.flags & HAS_FIRST == 0 || period < self.first {
            self.first = period;
            self.first_amount = amount.map_or(0, f64::to_bits);
            self.flags = (self.flags & HAS_TOTAL)
                | HAS_FIRST
                | if amount.is_some() {
                    HAS_FIRST_AMOUNT
                } else {
                    0
                };
        } else if period == self.first
            && let Some(a) = amount
        {
            self.first_amount = match self.first_amount() {
                None => a,
                Some(sum) => sum + a,
            }
            .to_bits();
            self.flags |= HAS_FIRST_AMOUNT;
        }
    }

    fn add_total(&mut self, amount: Option<f64>) {
        if let Some(a) = amount {
            self.total = match self.total() {
                None => a,
                Some(sum) => sum + a,
            }
            .to_bits();
            self.flags |= HAS_TOTAL;
        }
    }

    fn first_amount(&self) -> Option<f64> {
        (self.flags & HAS_FIRST_AMOUNT != 0).then(|| f64::from_bits(self.first_amount))
    }

    fn total(&self) -> Option<f64> {
        (self.flags & HAS_TOTAL != 0).then(|| f64::from_bits(self.total))
    }
}

/// The least and greatest non-NULL value of `periods`.
fn range(periods: &Int64Array) -> Option<(i64, i64)> {
    let fold = |(lo, hi): (i64, i64), p: i64| (lo.min(p), hi.max(p));
    let all = (i64::MAX, i64::MIN);
    let (lo, hi) = if periods.null_count() == 0 {
        periods.values().iter().copied().fold(all, fold)
    } else {
        periods.iter().flatten().fold(all, fold)
    };
    (lo <= hi).then_some((lo, hi))
}

/// Groups' heads, and their bits plane by plane.
#[derive(Debug, Default)]
pub(super) struct BitGroups {
    /// The period of plane 0's bit 0, a multiple of 64.
    base: i64,
    heads: Vec<Head>,
    /// `planes[w][g]`: group g's periods `base + 64 w ..` as bits.
    planes: Vec<Vec<u64>>,
}

impl BitGroups {
    fn resize(&mut self, groups: usize) {
        if groups > self.heads.len() {
            self.heads.resize(groups, Head::default());
            for plane in &mut self.planes {
                plane.resize(groups, 0);
            }
        }
    }

    /// Adds planes so the range holds `lo..=hi`; false, with nothing
    /// changed, when that takes more than `MAX_WORDS` planes.
    fn cover(&mut self, lo: i64, hi: i64) -> bool {
        let (lo, hi) = (lo.div_euclid(64), hi.div_euclid(64));
        let (first, last) = if self.planes.is_empty() {
            (lo, hi)
        } else {
            let base = self.base.div_euclid(64);
            (lo.min(base), hi.max(base + self.planes.len() as i64 - 1))
        };
        if (last as i128 - first as i128) >= MAX_WORDS as i128 {
            return false;
        }
        let groups = self.heads.len();
        if self.planes.is_empty() {
            self.planes = vec![vec![0; groups]; (last - first + 1) as usize];
        } else {
            let base = self.base.div_euclid(64);
            let below = (base - first) as usize;
            let above = (last - (base + self.planes.len() as i64 - 1)) as usize;
            self.planes
                .splice(0..0, (0..below).map(|_| vec![0; groups]));
            self.planes.extend((0..above).map(|_| vec![0; groups]));
        }
        self.base = first * 64;
        true
    }

    /// Sets group `g`'s bit of `period` (in the range).
    fn set(&mut self, g: usize, period: i64) {
        let at = period.wrapping_sub(self.base) as u64;
        self.planes[(at / 64) as usize][g] |= 1 << (at % 64);
    }

    /// Adds the rows; false, with nothing changed, when their periods do
    /// not fit the widest range.
    pub(super) fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<bool> {
        let (periods, amounts) = arguments(values)?;
        if let Some((lo, hi)) = range(periods)
            && !self.cover(lo, hi)
        {
            return Ok(false);
        }
        self.resize(total_num_groups);
        if opt_filter.is_none() && periods.null_count() == 0 && amounts.null_count() == 0 {
            let (periods, amounts) = (periods.values(), amounts.values());
            for (i, (&g, &p)) in group_indices.iter().zip(periods.iter()).enumerate() {
                // A batch's groups are spread over all of them: fetch what
                // a row will touch some rows ahead.
                if let (Some(&g), Some(&p)) = (group_indices.get(i + AHEAD), periods.get(i + AHEAD))
                {
                    prefetch(self.heads.as_ptr().wrapping_add(g).cast());
                    let at = p.wrapping_sub(self.base) as u64 / 64;
                    if let Some(plane) = self.planes.get(at as usize) {
                        prefetch(plane.as_ptr().wrapping_add(g).cast());
                    }
                }
                self.set(g, p);
                let head = &mut self.heads[g];
                head.add_first(p, Some(amounts[i]));
                head.add_total(Some(amounts[i]));
            }
            return Ok(true);
        }
        for (row, &g) in group_indices.iter().enumerate() {
            if !kept(periods, opt_filter, row) {
                continue;
            }
            let (p, a) = (periods.value(row), value(amounts, row));
            self.set(g, p);
            let head = &mut self.heads[g];
            head.add_first(p, a);
            head.add_total(a);
        }
        Ok(true)
    }

    /// Merges partial states (see `EntryGroups::merge_batch`); false, with
    /// nothing changed, when their periods do not fit the widest range.
    pub(super) fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<bool> {
        let (lists, first_amounts, totals) = states(values)?;
        let all = lists.values().as_primitive::<Int64Type>();
        // Every list's values, NULL lists' included: a wider range is harmless.
        if let Some((lo, hi)) = range(all)
            && !self.cover(lo, hi)
        {
            return Ok(false);
        }
        self.resize(total_num_groups);
        let (offsets, all) = (lists.value_offsets(), all.values());
        for (row, &g) in group_indices.iter().enumerate() {
            if lists.is_null(row) {
                continue;
            }
            let own = &all[offsets[row] as usize..offsets[row + 1] as usize];
            let Some(&first) = own.first() else { continue };
            for &p in own {
                self.set(g, p);
            }
            let head = &mut self.heads[g];
            head.add_first(first, value(first_amounts, row));
            head.add_total(value(totals, row));
        }
        Ok(true)
    }

    /// Group `g`'s periods, lowest first.
    fn periods(&self, g: usize) -> impl Iterator<Item = i64> + '_ {
        self.planes.iter().enumerate().flat_map(move |(w, plane)| {
            let mut rest = plane[g];
            let from = self.base + 64 * w as i64;
            std::iter::from_fn(move || {
                (rest != 0).then(|| {
                    let b = rest.trailing_zeros();
                    rest &= rest - 1;
                    from + b as i64
                })
            })
        })
    }

    /// Takes the groups `emit_to` names; the rest move to the front.
    pub(super) fn take(&mut self, emit_to: EmitTo, keep_periods: bool) -> Taken {
        let n = match emit_to {
            EmitTo::All => self.heads.len(),
            EmitTo::First(n) => n.min(self.heads.len()),
        };
        let mut spans = Vec::with_capacity(n);
        let mut periods = Vec::new();
        let mut offsets = Vec::new();
        if keep_periods {
            offsets.reserve(n + 1);
        }
        for (g, head) in self.heads[..n].iter().enumerate() {
            let mut span = Span::EMPTY;
            span.first_amount = head.first_amount();
            span.total = head.total();
            if head.flags & HAS_FIRST != 0 {
                span.first = head.first;
                span.periods = self
                    .planes
                    .iter()
                    .map(|plane| plane[g].count_ones() as i64)
                    .sum();
                span.last = self.planes.iter().enumerate().rev().find_map(|(w, plane)| {
                    let word = plane[g];
                    (word != 0)
                        .then(|| self.base + 64 * w as i64 + 63 - word.leading_zeros() as i64)
                });
            }
            if keep_periods {
                offsets.push(periods.len());
                periods.extend(self.periods(g));
            }
            spans.push(span);
        }
        if keep_periods {
            offsets.push(periods.len());
        }
        self.heads.drain(..n);
        for plane in &mut self.planes {
            plane.drain(..n);
        }
        Taken {
            spans,
            periods,
            offsets,
        }
    }

    /// Every group as entries of the flat list: its first period carries
    /// the first amount, its total goes to the merged totals.
    pub(super) fn into_entries(self) -> Result<EntryGroups> {
        let mut entries = EntryGroups::default();
        entries.totals.resize(self.heads.len(), None);
        for (g, head) in self.heads.iter().enumerate() {
            if head.flags & HAS_FIRST == 0 {
                continue;
            }
            let mut flags = NOT_IN_TOTAL;
            let mut amount = head.first_amount();
            for p in self.periods(g) {
                entries.push(g, p, amount, flags)?;
                (flags, amount) = (0, None);
            }
            entries.totals[g] = head.total();
        }
        Ok(entries)
    }

    pub(super) fn size(&self) -> usize {
        self.heads.capacity() * size_of::<Head>()
            + self
                .planes
                .iter()
                .map(|p| p.capacity() * size_of::<u64>())
                .sum::<usize>()
    }
}
