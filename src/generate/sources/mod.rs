//! The raw-sources layer: the same customers as seen by five operational
//! systems (CRM, web shop accounts, loyalty cards, customer support,
//! newsletter), each with its own record ids and the noise of real data
//! entry, plus `_truth/identities` saying which customer each record is.
//!
//! Everything here draws from its own keyed streams (a customer's
//! `SOURCES` stream, a household's `HOUSEHOLD` stream) and only reads the
//! simulated [`Profile`], so the other tables are byte-identical with or
//! without it. Rows are written per chunk ordered by their scrambled record
//! id, so neither row order nor ids reveal the customer.

mod columns;
mod noise;
mod person;
mod vocab;

use std::path::Path;

use super::rng::{Rng64, stream};
use super::sim::{Profile, World};
use super::tables::{Sink, Table};
use crate::error::Result;
use columns::{CRM, LOYALTY, NEWSLETTER, Rec, SUPPORT, SourceCols, WEB, table_of, write_key};
pub(crate) use columns::{fields, plain_columns};
use person::Person;

/// The five source tables and the truth table, for one chunk.
pub(crate) struct Sources<'a> {
    keys: [u64; 5],
    recs: [Vec<Rec>; 5],
    crm: Sink<'a, SourceCols<CRM>>,
    web: Sink<'a, SourceCols<WEB>>,
    loyalty: Sink<'a, SourceCols<LOYALTY>>,
    support: Sink<'a, SourceCols<SUPPORT>>,
    newsletter: Sink<'a, SourceCols<NEWSLETTER>>,
    truth: Sink<'a, SourceCols<{ columns::IDENTITIES }>>,
}

/// Rows and files per table written.
pub(crate) type SourceCounts = [(Table, (u64, u64)); 6];

impl<'a> Sources<'a> {
    pub fn new(seed: u64, root: &Path, file_name: &str, labels: &'a [String]) -> Self {
        Sources {
            keys: std::array::from_fn(|s| {
                use rand::RngCore;
                Rng64::for_key(&[seed, stream::SOURCE_IDS, s as u64]).next_u64()
            }),
            recs: Default::default(),
            crm: Sink::new(Table::SrcCrm, root, file_name.to_string(), labels),
            web: Sink::new(Table::SrcWeb, root, file_name.to_string(), labels),
            loyalty: Sink::new(Table::SrcLoyalty, root, file_name.to_string(), labels),
            support: Sink::new(Table::SrcSupport, root, file_name.to_string(), labels),
            newsletter: Sink::new(Table::SrcNewsletter, root, file_name.to_string(), labels),
            truth: Sink::new(Table::Identities, root, file_name.to_string(), labels),
        }
    }

    /// Adds every source record of one customer.
    pub fn push(&mut self, w: &World, p: &Profile) {
        let mut person = Person::new(w, p);
        for kind in [CRM, WEB, LOYALTY, SUPPORT, NEWSLETTER] {
            let n = person.records(kind);
            for k in 0..n {
                let x = (p.id as u64) * 8 + k as u64;
                let mut rec = person.record(kind, k);
                rec.id = record_id(kind, x, self.keys[kind as usize]);
                rec.customer = p.id;
                self.recs[kind as usize].push(rec);
            }
        }
    }

    /// Writes the chunk's records, each source ordered by record id.
    pub fn finish(mut self) -> Result<SourceCounts> {
        let mut key = String::new();
        for kind in [CRM, WEB, LOYALTY, SUPPORT, NEWSLETTER] {
            let recs = &mut self.recs[kind as usize];
            recs.sort_unstable_by_key(|r| r.id);
            let source = table_of(kind).dir();
            for r in recs.iter() {
                key.clear();
                write_key(kind, r.id, &mut key);
                match kind {
                    CRM => self.crm.cols(0).push(r, &key),
                    WEB => self.web.cols(0).push(r, &key),
                    LOYALTY => self.loyalty.cols(0).push(r, &key),
                    SUPPORT => self.support.cols(0).push(r, &key),
                    _ => self.newsletter.cols(0).push(r, &key),
                }
                self.truth.cols(0).push_truth(source, &key, r.customer);
            }
            recs.clear();
        }
        Ok([
            (Table::SrcCrm, self.crm.finish()?),
            (Table::SrcWeb, self.web.finish()?),
            (Table::SrcLoyalty, self.loyalty.finish()?),
            (Table::SrcSupport, self.support.finish()?),
            (Table::SrcNewsletter, self.newsletter.finish()?),
            (Table::Identities, self.truth.finish()?),
        ])
    }
}

/// A keyed bijection on `bits`-bit integers (xor, odd multiply and
/// xorshift are each invertible there), so distinct (customer, k) give
/// distinct ids that say nothing about the customer.
fn permute(x: u64, key: u64, bits: u32) -> u64 {
    let mask = if bits >= 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    };
    let mut x = x & mask;
    for r in 0..4 {
        x ^= key.rotate_left(17 * r) & mask;
        x = x.wrapping_mul(0x9E37_79B9_7F4A_7C15) & mask;
        x ^= x >> (bits / 2);
    }
    x
}

/// The record id of the `x`-th (customer · 8 + k) record of a source.
/// Loyalty card numbers are 15 digits after the leading 9: the permutation
/// is walked until it lands below 10^15, still a bijection there.
fn record_id(kind: u8, x: u64, key: u64) -> u64 {
    match kind {
        WEB => permute(x, key, 50),
        NEWSLETTER => permute(x, key, 48),
        LOYALTY => {
            let mut y = permute(x, key, 50);
            while y >= 1_000_000_000_000_000 {
                y = permute(y, key, 50);
            }
            y
        }
        _ => permute(x, key, 62),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_ids_are_distinct_and_scrambled() {
        for kind in [CRM, WEB, LOYALTY, SUPPORT, NEWSLETTER] {
            let mut seen = std::collections::HashSet::new();
            for x in 0..200_000u64 {
                let id = record_id(kind, x, 0xDEAD_BEEF);
                assert!(seen.insert(id), "kind {kind}: {x} collides");
                assert!(id < 1 << 62);
            }
            let first: Vec<u64> = (8..12).map(|x| record_id(kind, x, 7)).collect();
            assert!(
                first.windows(2).all(|w| w[0].abs_diff(w[1]) > 1000),
                "{first:?}"
            );
        }
        assert!(record_id(LOYALTY, 123, 9) < 1_000_000_000_000_000);
    }

    #[test]
    fn keys_look_like_their_systems() {
        let mut s = String::new();
        write_key(LOYALTY, 42, &mut s);
        assert_eq!(s, "9000000000000042");
        s.clear();
        write_key(WEB, 36 * 36, &mut s);
        assert_eq!(s, "u100");
        s.clear();
        write_key(NEWSLETTER, 255, &mut s);
        assert_eq!(s, "nl-0000000000ff");
    }
}
