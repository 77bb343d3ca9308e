//! One customer's whole history, simulated from a random stream keyed by
//! (seed, customer id) alone: a customer's rows never depend on how many
//! customers are generated, on chunking or on thread scheduling.
//!
//! Here: the driver ([`simulate`], `Sim::run`, which fixes the order of the
//! random draws) and the draws several parts share. Each part of a history
//! has its own file: `profile` (who and where), `purchases` (orders and
//! lines), `campaigns` (consents, sends, conversions), `events` (clickstream
//! sessions) and `tickets`; `world` is the state shared by a run's
//! customers and `codes` the values of the coded columns.

mod campaigns;
mod codes;
mod events;
mod profile;
mod purchases;
mod tickets;
mod world;

use super::calendar::{DAY, HOUR};
use super::persona::PersonaModel;
use super::rng::{Rng64, stream};
use profile::{Hidden, demographics};
use purchases::MAX_ORDERS;

pub(crate) use campaigns::{Consent, Send};
pub(crate) use codes::{
    CHANNELS, DEVICES, EVENT_TYPES, GENDERS, LIFE_EVENTS, MARITAL, PROMO_CODES, PURPOSES, STATUSES,
};
pub(crate) use events::Event;
pub(crate) use profile::Profile;
pub(crate) use purchases::{Item, Order, Promo};
pub(crate) use tickets::Ticket;
pub(crate) use world::World;

/// Why a purchase time exists; it decides the basket and the promotion.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Origin {
    Organic,
    Campaign(u16),
    LifeBurst,
    /// Suppressed by a negative campaign effect.
    Removed,
}

/// Reusable per-worker buffers, so a customer allocates nothing once warm.
#[derive(Default)]
pub(crate) struct Scratch {
    pub orders: Vec<Order>,
    pub items: Vec<Item>,
    pub events: Vec<Event>,
    pub sends: Vec<Send>,
    pub tickets: Vec<Ticket>,
    pub consents: Vec<Consent>,
    times: Vec<(i64, Origin)>,
    wanted_tickets: Vec<(i64, u8, u8)>,
}

/// One customer being simulated: the run's world, the persona, the
/// customer's random stream and the buffers its rows go to.
struct Sim<'a> {
    w: &'a World,
    pm: &'a PersonaModel,
    rng: Rng64,
    s: &'a mut Scratch,
    profile: Profile,
    h: Hidden,
}

/// Simulates customer `id` into `scratch` and returns its profile.
pub(crate) fn simulate(w: &World, id: u64, scratch: &mut Scratch) -> Profile {
    scratch.orders.clear();
    scratch.items.clear();
    scratch.events.clear();
    scratch.sends.clear();
    scratch.tickets.clear();
    scratch.consents.clear();
    scratch.times.clear();
    scratch.wanted_tickets.clear();
    let mut rng = Rng64::for_key(&[w.seed, stream::CUSTOMER, id]);
    let persona = w.persona_pick.sample(&mut rng);
    let pm = &w.personas[persona];
    let (profile, h) = demographics(w, pm, persona as u8, id as i64, &mut rng);
    let mut sim = Sim {
        w,
        pm,
        rng,
        s: scratch,
        profile,
        h,
    };
    sim.run();
    sim.profile
}

/// A time of day (µs after midnight) from the persona's daypart profile.
fn time_of_day(pm: &PersonaModel, rng: &mut Rng64) -> i64 {
    pm.hours.sample(rng) as i64 * HOUR + rng.below(HOUR as u64) as i64
}

impl Sim<'_> {
    fn run(&mut self) {
        let w = self.w;
        let cal = &w.cal;
        let p = self.pm.p;
        let t0 = self.profile.signup_us.max(cal.start_us);
        self.consents();

        // Buy-till-you-die (BG/NBD): Poisson purchases at a per-customer rate
        // λ, with a drop-out coin flipped after every purchase.
        let lambda = self.rng.gamma(p.r, p.orders_per_year / 365.0 / p.r);
        let drop = self.rng.beta(p.drop.0, p.drop.1);
        // Gamma-Gamma spend: ν ~ Gamma(q, rate γ); each order ~ Gamma(p, rate ν).
        let nu = self.rng.gamma(p.spend_q, 1.0 / self.pm.spend_gamma);
        let order_scale_cents = 100.0 / nu;
        let death = self.purchase_times(t0, lambda, drop);
        if let Some((_, ts)) = self.profile.life
            && death.is_none_or(|d| d > ts)
        {
            // A burst of event-driven shopping in the three months after it.
            for _ in 0..self.rng.poisson(2.0) {
                let t = ts + (self.rng.exp(20.0) * DAY as f64).min(90.0 * DAY as f64) as i64;
                if t < cal.end_us {
                    self.s.times.push((t, Origin::LifeBurst));
                }
            }
        }
        self.campaign_sends(death);
        self.s.times.retain(|t| t.1 != Origin::Removed);
        self.s.times.sort_by_key(|t| t.0);
        self.s.times.truncate(MAX_ORDERS);
        self.orders(order_scale_cents);
        self.conversions();
        let active_end = death.map_or(cal.end_us, |d| (d + 30 * DAY).min(cal.end_us));
        self.events(t0, active_end);
        self.tickets(t0, active_end, death);
    }

    /// A subcategory from the persona's basket, or (once the life event has
    /// happened, with probability `shift`) from the event's basket.
    fn pick_subcat(&mut self, ts: i64, shift: f64) -> usize {
        let w = self.w;
        match self.profile.life {
            Some((kind, at)) if ts >= at && self.rng.chance(shift) => {
                w.life_basket[kind as usize].sample(&mut self.rng)
            }
            _ => self.pm.basket.sample(&mut self.rng),
        }
    }

    /// A time in [lo, hi) shaped by the persona's weekday/month intensity and
    /// daypart, or None if the range is too short to find one.
    fn sample_time(&mut self, lo: i64, hi: i64) -> Option<i64> {
        if hi <= lo {
            return None;
        }
        let w = self.w;
        let cal = &w.cal;
        for _ in 0..16 {
            let day = self
                .rng
                .between(lo.div_euclid(DAY), (hi - 1).div_euclid(DAY) + 1);
            let d = cal.day(day * DAY);
            if !self
                .rng
                .chance(self.pm.weekday[d.weekday as usize] * self.pm.month[d.cal_month as usize])
            {
                continue;
            }
            let ts = day * DAY + time_of_day(self.pm, &mut self.rng);
            if ts >= lo && ts < hi {
                return Some(ts);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::codes::{CANCELLED, STORE, ev};
    use super::*;
    use crate::generate::persona::PERSONAS;

    /// Simulates customers in memory and returns per-persona
    /// (customers, orders, revenue in EUR, mean order target in EUR) plus
    /// the top-5% revenue share.
    fn simulate_many(n: u64) -> (Vec<(u64, u64, f64)>, f64) {
        let w = World::new(42, NaiveDate::from_ymd_opt(2026, 10, 31).unwrap(), 24).unwrap();
        let mut s = Scratch::default();
        let mut per = vec![(0u64, 0u64, 0.0f64); PERSONAS.len()];
        let mut revenue = Vec::with_capacity(n as usize);
        for id in 1..=n {
            let p = simulate(&w, id, &mut s);
            let r: i64 = s
                .orders
                .iter()
                .filter(|o| o.status != CANCELLED)
                .map(|o| o.amount)
                .sum();
            let e = &mut per[p.persona as usize];
            e.0 += 1;
            e.1 += s.orders.len() as u64;
            e.2 += s.orders.iter().map(|o| o.amount + o.discount).sum::<i64>() as f64 / 100.0;
            revenue.push(r);
        }
        revenue.sort_unstable_by(|a, b| b.cmp(a));
        let top = revenue.len().div_ceil(20);
        let share = revenue[..top].iter().sum::<i64>() as f64 / revenue.iter().sum::<i64>() as f64;
        (per, share)
    }

    #[test]
    fn spend_tracks_gamma_gamma_and_revenue_is_heavy_tailed() {
        let (per, share) = simulate_many(8_000);
        for (i, (c, o, g)) in per.iter().enumerate() {
            println!(
                "{:<22} {c:>5} customers {:>6.1} orders each, AOV {:>6.1} (model {})",
                PERSONAS[i].name,
                *o as f64 / *c as f64,
                g / *o as f64,
                PERSONAS[i].spend_mean
            );
        }
        println!("top-5% revenue share {share:.3}");
        for (i, (customers, orders, gross)) in per.iter().enumerate() {
            let p = &PERSONAS[i];
            assert!(*customers > 100, "{}: {customers} customers", p.name);
            let aov = gross / *orders as f64;
            // Baskets are filled from real prices up to the drawn target, so the
            // realised value sits a little under the model mean.
            assert!(
                aov > 0.6 * p.spend_mean && aov < 1.2 * p.spend_mean,
                "{}: AOV {aov:.1} vs model {}",
                p.name,
                p.spend_mean
            );
        }
        assert!(
            (0.40..=0.60).contains(&share),
            "top-5% revenue share {share:.3}"
        );
    }

    #[test]
    fn one_customer_is_internally_consistent() {
        let w = World::new(7, NaiveDate::from_ymd_opt(2026, 10, 31).unwrap(), 24).unwrap();
        let mut s = Scratch::default();
        for id in 1..=300 {
            let p = simulate(&w, id, &mut s);
            assert!(s.orders.windows(2).all(|o| o[0].ts <= o[1].ts));
            assert!(s.events.windows(2).all(|e| e[0].ts <= e[1].ts));
            for o in &s.orders {
                assert!(o.ts > p.signup_us && w.cal.start_us <= o.ts && o.ts < w.cal.end_us);
                let lines = &s.items[o.items.0 as usize..o.items.1 as usize];
                assert!(!lines.is_empty());
                let total: i64 = lines.iter().map(|l| l.qty as i64 * l.price).sum();
                assert_eq!(o.amount + o.discount, total);
                assert_eq!(o.store.is_some(), o.channel == STORE);
            }
            let purchases = s.events.iter().filter(|e| e.kind == ev::PURCHASE).count();
            assert_eq!(purchases, s.orders.len(), "customer {id}");
            for t in &s.tickets {
                assert!(t.ts >= p.signup_us && t.ts < w.cal.end_us);
            }
        }
    }
}
