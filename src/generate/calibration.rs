//! Measurements of the simulation alone, for the `generate_speed` bench
//! (`benches/generate_speed.rs`); nothing else uses this module.
//!
//! The simulation's types ([`World`], [`Scratch`], [`simulate`]) stay
//! crate-private; these two functions are the only window onto them. Both
//! simulate customers 1..=`customers` of seed 42, 24 months to 2026-10-31
//! (the generator's defaults), in memory on the calling thread: no Arrow,
//! no Parquet. They report; they check nothing.

use std::fmt::Write as _;
use std::time::Instant;

use chrono::NaiveDate;

use super::persona::PERSONAS;
use super::sim::{EVENT_TYPES, Scratch, World, simulate};
use crate::error::Result;

/// The world both measurements simulate in: the generator's defaults.
fn world() -> Result<World> {
    let as_of = NaiveDate::from_ymd_opt(2026, 10, 31).expect("valid date");
    World::new(42, as_of, 24)
}

/// Simulates `customers` customers and returns (rows, seconds): the rows
/// they would become in the lake (one `customers` row and one truth row
/// each, plus their orders, order lines, events, campaign sends, tickets and
/// consents) and the wall time of the simulation loop alone (building the
/// world is outside the clock).
pub fn simulate_only(customers: u64) -> Result<(u64, f64)> {
    let w = world()?;
    let mut s = Scratch::default();
    let t = Instant::now();
    let mut rows = 0usize;
    for id in 1..=customers {
        simulate(&w, id, &mut s);
        rows += 2
            + s.orders.len()
            + s.items.len()
            + s.events.len()
            + s.sends.len()
            + s.tickets.len()
            + s.consents.len();
    }
    Ok((rows as u64, t.elapsed().as_secs_f64()))
}

/// Simulates `customers` customers and returns a calibration report, one
/// line per persona: orders and events per customer, then events per
/// customer by type (each type shortened to its first six letters).
pub fn event_mix(customers: u64) -> Result<String> {
    let w = world()?;
    let mut s = Scratch::default();
    let mut per = vec![([0u64; EVENT_TYPES.len()], 0u64, 0u64); PERSONAS.len()];
    for id in 1..=customers {
        let p = simulate(&w, id, &mut s);
        let e = &mut per[p.persona as usize];
        e.1 += 1;
        e.2 += s.orders.len() as u64;
        for ev in &s.events {
            e.0[ev.kind as usize] += 1;
        }
    }
    let mut out = String::new();
    for (i, (k, c, o)) in per.iter().enumerate() {
        // A persona no customer drew (few customers) prints zeros, not NaN.
        let c = (*c).max(1) as f64;
        let tot: u64 = k.iter().sum();
        let parts: Vec<String> = k
            .iter()
            .enumerate()
            .map(|(j, v)| format!("{}={:.0}", &EVENT_TYPES[j][..6], *v as f64 / c))
            .collect();
        let _ = writeln!(
            out,
            "{:<22} orders {:>5.1} events {:>6.1} | {}",
            PERSONAS[i].name,
            *o as f64 / c,
            tot as f64 / c,
            parts.join(" ")
        );
    }
    Ok(out)
}
