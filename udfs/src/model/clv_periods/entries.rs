//! The general representation: one entry per row, in a flat list sorted by
//! group when the groups are emitted. It holds any periods; `bits` takes
//! over while the periods fit a narrow range.

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray};
use datafusion::arrow::datatypes::Int64Type;
use datafusion::common::{Result, internal_err};
use datafusion::logical_expr::EmitTo;

use super::{NAME, Span, Taken, arguments, kept, plus, states, value};

/// One row: its group, period and amount. Flags ride in the group's top
/// bits so an entry is 24 bytes.
#[derive(Debug, Clone, Copy)]
pub(super) struct Entry {
    pub(super) group: u32,
    pub(super) period: i64,
    pub(super) amount: f64,
}

/// The entry's amount is NULL.
const NO_AMOUNT: u32 = 1 << 31;
/// The entry's amount is not part of the total (a merged state's first
/// period: its state's total is kept apart, see `ClvPeriodsGroups::totals`).
pub(super) const NOT_IN_TOTAL: u32 = 1 << 30;
const GROUP: u32 = NOT_IN_TOTAL - 1;

impl Entry {
    fn group(&self) -> usize {
        (self.group & GROUP) as usize
    }

    fn amount(&self) -> Option<f64> {
        (self.group & NO_AMOUNT == 0).then_some(self.amount)
    }

    fn in_total(&self) -> Option<f64> {
        (self.group & NOT_IN_TOTAL == 0)
            .then(|| self.amount())
            .flatten()
    }
}

/// Periods of many groups: one entry per row, appended in arrival order.
/// Nothing is looked up per row (a per-group record would miss the cache
/// on almost every row); the entries are sorted by group when the groups
/// are emitted, and first period, sums and distinct periods are read off
/// each group's run.
#[derive(Debug, Default)]
pub(super) struct EntryGroups {
    entries: Vec<Entry>,
    /// Totals of merged partial states, per group.
    pub(super) totals: Vec<Option<f64>>,
}

/// Sorts `entries` by group, stably (the kernels' radix sort: a scatter
/// straight to each group's slot would miss the cache on almost every
/// write). `groups` bounds the group indices.
pub(super) fn sort_by_group(mut entries: Vec<Entry>, groups: usize) -> Vec<Entry> {
    debug_assert!(entries.iter().all(|e| e.group() < groups.max(1)));
    microseg_kernels::sort::sort_by_key(&mut entries, |e| e.group() as u64);
    entries
}

impl EntryGroups {
    pub(super) fn push(
        &mut self,
        group: usize,
        period: i64,
        amount: Option<f64>,
        flags: u32,
    ) -> Result<()> {
        let group = match u32::try_from(group) {
            Ok(g) if g <= GROUP => g,
            _ => return internal_err!("{NAME}: more than 2^30 groups in one aggregation"),
        };
        let (amount, null) = match amount {
            Some(a) => (a, 0),
            None => (0.0, NO_AMOUNT),
        };
        self.entries.push(Entry {
            group: group | null | flags,
            period,
            amount,
        });
        Ok(())
    }

    /// Takes the groups `emit_to` names; the entries of the groups left
    /// behind stay, renumbered from 0.
    pub(super) fn take(&mut self, emit_to: EmitTo, keep_periods: bool) -> Taken {
        let totals = emit_to.take_needed(&mut self.totals);
        let n = totals.len();
        let emitted = if self.totals.is_empty() {
            std::mem::take(&mut self.entries)
        } else {
            let (emitted, kept): (Vec<Entry>, Vec<Entry>) =
                self.entries.iter().partition(|e| e.group() < n);
            self.entries = kept
                .into_iter()
                .map(|e| Entry {
                    group: e.group - n as u32,
                    ..e
                })
                .collect();
            emitted
        };
        let mut emitted = sort_by_group(emitted, n);
        let mut spans = Vec::with_capacity(n);
        let mut periods = Vec::new();
        let mut offsets = Vec::new();
        if keep_periods {
            periods.reserve(emitted.len());
            offsets.reserve(n + 1);
        }
        let mut at = 0;
        for (g, merged_total) in totals.into_iter().enumerate() {
            let start = at;
            while at < emitted.len() && emitted[at].group() == g {
                at += 1;
            }
            let run = &mut emitted[start..at];
            // Arrival order is mostly time order: nearly sorted runs.
            run.sort_unstable_by_key(|e| e.period);
            let mut span = Span::EMPTY;
            span.total = merged_total;
            let mut distinct = 0;
            let mut previous = None;
            if keep_periods {
                offsets.push(periods.len());
            }
            for e in run.iter() {
                if previous != Some(e.period) {
                    distinct += 1;
                    previous = Some(e.period);
                    if keep_periods {
                        periods.push(e.period);
                    }
                }
                span.add(e.period, e.amount());
                span.add_total(e.in_total());
            }
            span.periods = distinct;
            span.last = previous;
            spans.push(span);
        }
        if keep_periods {
            offsets.push(periods.len());
        }
        Taken {
            spans,
            periods,
            offsets,
        }
    }

    pub(super) fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.totals.resize(total_num_groups, None);
        let (periods, amounts) = arguments(values)?;
        self.entries.reserve(group_indices.len());
        if opt_filter.is_none() && periods.null_count() == 0 && amounts.null_count() == 0 {
            let amounts = amounts.values();
            for ((&g, &p), &a) in group_indices.iter().zip(periods.values()).zip(amounts) {
                self.push(g, p, Some(a), 0)?;
            }
            return Ok(());
        }
        for (row, &g) in group_indices.iter().enumerate() {
            if !kept(periods, opt_filter, row) {
                continue;
            }
            self.push(g, periods.value(row), value(amounts, row), 0)?;
        }
        Ok(())
    }

    /// A state's periods become entries without amounts, except its first
    /// period, which carries the state's first amount (left out of the
    /// total); the state's total is added to the group's merged total.
    pub(super) fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.totals.resize(total_num_groups, None);
        let (lists, first_amounts, totals) = states(values)?;
        let offsets = lists.value_offsets();
        let all = lists.values().as_primitive::<Int64Type>().values();
        for (row, &g) in group_indices.iter().enumerate() {
            if lists.is_null(row) {
                continue;
            }
            let own = &all[offsets[row] as usize..offsets[row + 1] as usize];
            let Some((&first, rest)) = own.split_first() else {
                continue;
            };
            self.push(g, first, value(first_amounts, row), NOT_IN_TOTAL)?;
            for &p in rest {
                self.push(g, p, None, 0)?;
            }
            self.totals[g] = plus(self.totals[g], value(totals, row));
        }
        Ok(())
    }

    pub(super) fn size(&self) -> usize {
        self.entries.capacity() * size_of::<Entry>()
            + self.totals.capacity() * size_of::<Option<f64>>()
    }
}
