//! Orders and their lines: buy-till-you-die purchase times, then per order
//! the channel, a basket filled towards a drawn value, promotions and the
//! order's fate (completed, returned, cancelled).

use super::codes::{
    APP, CANCELLED, COMPLETED, MOBILE, POS, PROMO_CODES, RETURNED, STORE, TABLET, WEB, WELCOME,
};
use super::{Origin, Sim, time_of_day};
use crate::generate::calendar::{DAY, HOUR, MINUTE};
use crate::generate::vocabulary::{FASHION, SUBCATS};

/// Percentage off when a campaign code is used.
const CAMPAIGN_PCT: i64 = 15;

/// Orders per customer are capped so order ids (`customer_id * 10_000 + n`) stay unique.
pub(super) const MAX_ORDERS: usize = 9_999;

/// Probability an order line follows the life event rather than the persona
/// once the event has happened (0.85 in the post-event burst).
pub(super) const LIFE_SHIFT: f64 = 0.45;

/// An order's promotion: an organic code (index into [`PROMO_CODES`]) or a
/// campaign's code.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Promo {
    None,
    Code(u8),
    Campaign(u16),
}

/// One orders-table row.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Order {
    pub id: i64,
    pub ts: i64,
    pub channel: u8,
    pub device: u8,
    /// Store index into the assortment (store orders only).
    pub store: Option<u16>,
    /// Cents, after discount.
    pub amount: i64,
    pub discount: i64,
    pub n_items: i32,
    pub status: u8,
    pub promo: Promo,
    /// Range into `Scratch::items`.
    pub items: (u32, u32),
}

/// One order line; price in cents.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Item {
    pub product: u32,
    pub qty: i32,
    pub price: i64,
}

impl Sim<'_> {
    /// Organic purchase times by thinning: proposals arrive at λ / mean
    /// acceptance and survive with the persona's weekday × month intensity,
    /// so seasonality shapes timing while λ stays the yearly average.
    /// Returns the drop-out time (the purchase after which the customer left).
    pub(super) fn purchase_times(&mut self, t0: i64, lambda: f64, drop: f64) -> Option<i64> {
        let w = self.w;
        let cal = &w.cal;
        let pm = self.pm;
        let signup = self.profile.signup_us;
        let mut t = t0;
        let times = &mut self.s.times;
        // Most people who sign up during the window do so at their first checkout.
        if signup >= cal.start_us && self.rng.chance(0.55) {
            let ts = signup + 5 * MINUTE + (self.rng.exp(2.0) * HOUR as f64) as i64;
            if ts < cal.end_us {
                times.push((ts, Origin::Organic));
                t = ts;
                if self.rng.chance(drop) {
                    return Some(ts);
                }
            }
        }
        let mean_gap_days = pm.mean_accept / lambda.max(1e-9);
        loop {
            let gap = self.rng.exp(mean_gap_days) * DAY as f64;
            if gap >= (cal.end_us - t) as f64 {
                return None;
            }
            t += gap as i64;
            let d = cal.day(t);
            if !self
                .rng
                .chance(pm.weekday[d.weekday as usize] * pm.month[d.cal_month as usize])
            {
                continue;
            }
            let ts = t.div_euclid(DAY) * DAY + time_of_day(pm, &mut self.rng);
            if ts <= signup {
                continue;
            }
            times.push((ts, Origin::Organic));
            if times.len() >= MAX_ORDERS {
                return None;
            }
            if self.rng.chance(drop) {
                return Some(ts);
            }
        }
    }

    /// Turns each purchase time into an order and its lines.
    pub(super) fn orders(&mut self, order_scale_cents: f64) {
        let p = self.pm.p;
        let w = self.w;
        let assortment = &w.assortment;
        let first_in_window = self.profile.signup_us >= w.cal.start_us;
        for seq in 0..self.s.times.len() {
            let (ts, origin) = self.s.times[seq];
            let campaign = match origin {
                Origin::Campaign(c) => Some(c),
                _ => None,
            };
            let channel = if campaign.is_some() {
                if self.pm.uses_app && self.rng.chance(0.5) {
                    APP
                } else {
                    WEB
                }
            } else if self.rng.chance(0.7) {
                self.h.primary_channel
            } else {
                self.pm.channel.sample(&mut self.rng) as u8
            };
            let (device, store) = match channel {
                STORE => (POS, Some(self.store_at(ts) as u16)),
                APP => (
                    if self.rng.chance(0.88) {
                        MOBILE
                    } else {
                        TABLET
                    },
                    None,
                ),
                _ => {
                    let d = if self.rng.chance(0.75) {
                        self.h.primary_device
                    } else {
                        self.pm.web_device.sample(&mut self.rng) as u8
                    };
                    (d, None)
                }
            };

            // The basket: draw a target value from the customer's spend
            // distribution, then fill it with affordable items.
            let target = (self.rng.gamma(p.spend_p, order_scale_cents) as i64).max(100);
            let shift = if origin == Origin::LifeBurst {
                0.85
            } else {
                LIFE_SHIFT
            };
            let item_start = self.s.items.len();
            let mut remaining = target;
            let mut misses = 0;
            while self.s.items.len() - item_start < 12 {
                let sc = self.pick_subcat(ts, shift);
                let products = assortment.subcat_products(sc);
                let affordable = products.partition_point(|q| q.price <= remaining);
                let k = if affordable == 0 {
                    // Nothing fits: try a few other subcategories before
                    // closing the basket (or, if it is still empty, settling
                    // for the cheapest item of this one).
                    misses += 1;
                    if misses < 6 {
                        continue;
                    }
                    if self.s.items.len() > item_start {
                        break;
                    }
                    0
                } else {
                    // The upper half of what fits keeps baskets close to target.
                    let lo = affordable / 2;
                    lo + self.rng.index(affordable - lo)
                };
                let price = products[k].price;
                let max_q = (SUBCATS[sc].max_qty as i64).min(remaining / price).max(1);
                let qty = 1 + self.rng.below(max_q as u64) as i32;
                let product = assortment.subcat_range[sc].0 + k as u32;
                if let Some(line) = self.s.items[item_start..]
                    .iter_mut()
                    .find(|l| l.product == product)
                {
                    line.qty += qty;
                } else {
                    self.s.items.push(Item {
                        product,
                        qty,
                        price,
                    });
                }
                remaining -= qty as i64 * price;
                if remaining < target / 10 {
                    break;
                }
            }
            let lines = &self.s.items[item_start..];
            let subtotal: i64 = lines.iter().map(|l| l.qty as i64 * l.price).sum();
            let n_items: i32 = lines.iter().map(|l| l.qty).sum();
            let has_fashion = lines
                .iter()
                .any(|l| assortment.category_of(l.product) == FASHION);

            let promo = if let Some(c) = campaign {
                if self.rng.chance(0.85) {
                    Promo::Campaign(c)
                } else {
                    Promo::None
                }
            } else if seq == 0 && first_in_window && self.rng.chance(0.5) {
                Promo::Code(WELCOME)
            } else if self.rng.chance(p.promo_rate) {
                // Bargain hunters go for the deepest codes.
                let k = if p.promo_rate > 0.5 {
                    2 + self.rng.below(2)
                } else {
                    1 + self.rng.below(4)
                };
                Promo::Code(k as u8)
            } else {
                Promo::None
            };
            let pct = match promo {
                Promo::None => 0,
                Promo::Code(k) => PROMO_CODES[k as usize].1,
                Promo::Campaign(_) => CAMPAIGN_PCT,
            };
            let discount = (subtotal * pct + 50) / 100;
            let u = self.rng.uniform();
            let cancel = if p.promo_rate > 0.5 { 0.04 } else { 0.02 };
            let ret = p.return_rate + if has_fashion { 0.12 } else { 0.0 };
            let status = if u < cancel {
                CANCELLED
            } else if u < cancel + ret {
                RETURNED
            } else {
                COMPLETED
            };
            self.s.orders.push(Order {
                id: self.profile.id * 10_000 + seq as i64 + 1,
                ts,
                channel,
                device,
                store,
                amount: subtotal - discount,
                discount,
                n_items,
                status,
                promo,
                items: (item_start as u32, self.s.items.len() as u32),
            });
        }
    }
}
