//! Support tickets: a persona's background rate, complaints after returns
//! and before a lapsed customer goes quiet, each with its text, channel
//! and satisfaction score.

use super::Sim;
use super::codes::RETURNED;
use crate::generate::calendar::DAY;
use crate::generate::text;

/// Tickets per customer are capped so ticket ids (`customer_id * 100 + n`) stay unique.
const MAX_TICKETS: usize = 99;

/// One tickets-table row.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ticket {
    pub id: i64,
    pub ts: i64,
    pub channel: u8,
    pub text: text::TicketText,
    pub csat: Option<i32>,
}

impl Sim<'_> {
    /// Tickets wanted from each source, then kept inside the window, in
    /// time order and under the per-customer cap.
    pub(super) fn tickets(&mut self, t0: i64, active_end: i64, death: Option<i64>) {
        let p = self.pm.p;
        let end = self.w.cal.end_us;
        let years = (active_end - t0).max(0) as f64 / (365.0 * DAY as f64);
        let mut wanted = std::mem::take(&mut self.s.wanted_tickets);
        for _ in 0..self.rng.poisson(p.tickets_per_year * years) {
            let ts = self.rng.between(t0, active_end);
            let topic = self.rng.choose(&text::TOPIC_WEIGHTS) as u8;
            let s = self.sentiment(p.negative);
            wanted.push((ts, topic, s));
        }
        for oi in 0..self.s.orders.len() {
            let o = self.s.orders[oi];
            if o.status == RETURNED && self.rng.chance(0.35) {
                let ts = o.ts + self.rng.between(2 * DAY, 10 * DAY);
                let topic = if self.rng.chance(0.5) {
                    text::RETURNS
                } else {
                    text::PRODUCT_QUALITY
                };
                let u = self.rng.uniform();
                let s = if u < 0.7 {
                    text::NEGATIVE
                } else if u < 0.9 {
                    text::NEUTRAL
                } else {
                    text::POSITIVE
                };
                wanted.push((ts, topic, s));
            }
        }
        // Lapsed customers tend to complain shortly before they go quiet.
        if p.name == "lapsed"
            && let Some(d) = death
            && self.rng.chance(0.5)
        {
            let ts = d - (self.rng.exp(10.0) * DAY as f64) as i64;
            let topic = if self.rng.chance(0.5) {
                text::DELIVERY
            } else {
                text::PRODUCT_QUALITY
            };
            let s = if self.rng.chance(0.9) {
                text::NEGATIVE
            } else {
                text::NEUTRAL
            };
            wanted.push((ts.max(t0), topic, s));
        }
        let signup = self.profile.signup_us;
        wanted.retain(|t| t.0 >= signup && t.0 >= t0 && t.0 < end);
        wanted.sort_by_key(|t| t.0);
        wanted.truncate(MAX_TICKETS);
        for (n, &(ts, topic, sentiment)) in wanted.iter().enumerate() {
            let channel = if self.pm.uses_app && self.rng.chance(0.25) {
                text::APP_CHANNEL
            } else {
                self.rng.choose(&text::TICKET_CHANNEL_WEIGHTS) as u8
            };
            let text = text::TicketText::draw(&mut self.rng, topic, sentiment);
            let csat = if self.rng.chance(0.7) {
                Some(match sentiment {
                    text::NEGATIVE if self.rng.chance(0.1) => 3,
                    text::NEGATIVE => 1 + self.rng.below(2) as i32,
                    text::NEUTRAL => 3 + self.rng.below(2) as i32,
                    _ => 4 + self.rng.below(2) as i32,
                })
            } else {
                None
            };
            self.s.tickets.push(Ticket {
                id: self.profile.id * 100 + n as i64 + 1,
                ts,
                channel,
                text,
                csat,
            });
        }
        wanted.clear();
        self.s.wanted_tickets = wanted;
    }

    fn sentiment(&mut self, negative: f64) -> u8 {
        if self.rng.chance(negative) {
            text::NEGATIVE
        } else if self.rng.chance(0.6) {
            text::NEUTRAL
        } else {
            text::POSITIVE
        }
    }
}
