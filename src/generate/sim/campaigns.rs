//! Consents and campaigns: consent at signup and its later changes, who is
//! sent each campaign (holdouts, opens, clicks, the planted uplift) and
//! which sends converted.

use super::codes::CANCELLED;
use super::{Origin, Sim};
use crate::generate::calendar::{DAY, HOUR, MINUTE};

/// Share of eligible customers (consenting, signed up) each campaign targets.
const CAMPAIGN_TARGET_RATE: f64 = 0.5;
/// Share of targets held out: a send row, but no mail and no effect.
const HOLDOUT_RATE: f64 = 0.10;
/// How long after a send an order counts as a conversion.
const CONVERSION_WINDOW: i64 = 7 * DAY;

/// One campaign-sends row.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Send {
    pub campaign: u16,
    pub ts: i64,
    pub holdout: bool,
    pub opened: bool,
    pub clicked: bool,
    pub converted: bool,
    pub revenue: i64,
}

/// One consents-table row; `purpose` indexes `PURPOSES`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Consent {
    pub purpose: u8,
    pub granted: bool,
    pub ts: i64,
}

impl Sim<'_> {
    /// Consent at signup for each purpose, then for 8% of customers one later
    /// change of mind.
    pub(super) fn consents(&mut self) {
        let p = self.pm.p;
        let ts = self.profile.signup_us + self.rng.between(1_000_000, 10 * MINUTE);
        let email = self.rng.chance(p.email_consent);
        let profiling = self.rng.chance(0.6);
        let ad_sync = self.rng.chance(if profiling { 0.65 } else { 0.15 });
        for (purpose, granted) in [email, profiling, ad_sync].into_iter().enumerate() {
            self.s.consents.push(Consent {
                purpose: purpose as u8,
                granted,
                ts,
            });
        }
        if self.rng.chance(0.08) {
            let purpose = self.rng.below(3) as usize;
            let change = self.rng.between(ts + DAY, self.w.cal.end_us);
            if change > ts + DAY {
                let granted = !self.s.consents[purpose].granted;
                self.s.consents.push(Consent {
                    purpose: purpose as u8,
                    granted,
                    ts: change,
                });
            }
        }
    }

    fn email_consent_at(&self, ts: i64) -> bool {
        let mut granted = false;
        for c in &self.s.consents {
            if c.purpose == 0 && c.ts <= ts {
                granted = c.granted;
            }
        }
        granted
    }

    /// Campaign targeting, opens/clicks and the planted treatment effect.
    pub(super) fn campaign_sends(&mut self, death: Option<i64>) {
        let p = self.pm.p;
        let w = self.w;
        let cal = &w.cal;
        for (ci, c) in w.assortment.campaigns.iter().enumerate() {
            let ts = c.base_us + self.rng.between(0, 4 * HOUR);
            if ts <= self.profile.signup_us + DAY || !self.email_consent_at(ts) {
                continue;
            }
            if !self.rng.chance(CAMPAIGN_TARGET_RATE) {
                continue;
            }
            let holdout = self.rng.chance(HOLDOUT_RATE);
            let (mut opened, mut clicked) = (false, false);
            if !holdout {
                // People who have left still get mail but rarely read it.
                let fade = if death.is_some_and(|d| d < ts) {
                    0.4
                } else {
                    1.0
                };
                opened = self.rng.chance(p.email_open * fade);
                clicked = opened && self.rng.chance(p.email_click);
                if p.uplift > 0.0 && self.rng.chance(p.uplift) {
                    let delay = (self.rng.exp(1.5) * DAY as f64).min(6.5 * DAY as f64) as i64;
                    let t = ts + 10 * MINUTE + delay;
                    if t < cal.end_us {
                        self.s.times.push((t, Origin::Campaign(ci as u16)));
                        opened = true;
                        clicked = true;
                    }
                } else if p.uplift < 0.0 {
                    for t in self.s.times.iter_mut() {
                        if t.1 == Origin::Organic
                            && t.0 >= ts
                            && t.0 < ts + CONVERSION_WINDOW
                            && self.rng.chance(-p.uplift)
                        {
                            t.1 = Origin::Removed;
                        }
                    }
                }
            }
            self.s.sends.push(Send {
                campaign: ci as u16,
                ts,
                holdout,
                opened,
                clicked,
                converted: false,
                revenue: 0,
            });
        }
    }

    /// A send converted when the customer placed a non-cancelled order within
    /// seven days of it; revenue is what those orders were worth.
    pub(super) fn conversions(&mut self) {
        let orders = &self.s.orders;
        for send in self.s.sends.iter_mut() {
            let from = orders.partition_point(|o| o.ts < send.ts);
            let to = orders.partition_point(|o| o.ts < send.ts + CONVERSION_WINDOW);
            for o in &orders[from..to] {
                if o.status != CANCELLED {
                    send.converted = true;
                    send.revenue += o.amount;
                }
            }
        }
    }
}
