//! The clickstream: the session behind each order, abandoned carts,
//! browsing, app opens, e-mail opens and clicks, and the address change
//! after a move.

use super::Sim;
use super::codes::{APP, DESKTOP, EMAIL, MOBILE, MOVED, POS, STORE, TABLET, WEB, ev};
use super::purchases::{LIFE_SHIFT, Promo};
use crate::generate::calendar::{DAY, HOUR, MINUTE};
use crate::generate::vocabulary::SUBCATS;

/// NULL in an [`Event`]'s compact columns.
const NONE16: u16 = u16::MAX;
const NONE8: u8 = u8::MAX;
const NONE32: u32 = u32::MAX;

/// One clickstream event; `NONE*` sentinels and NaN coordinates mean NULL.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Event {
    pub ts: i64,
    pub kind: u8,
    pub device: u8,
    pub channel: u8,
    category: u8,
    product: u32,
    /// `subcat * 16 + query index`.
    query: u16,
    campaign: u16,
    pub lat: f64,
    pub lon: f64,
}

impl Event {
    pub fn product(&self) -> Option<u32> {
        (self.product != NONE32).then_some(self.product)
    }
    pub fn category(&self) -> Option<usize> {
        (self.category != NONE8).then_some(self.category as usize)
    }
    pub fn query(&self) -> Option<&'static str> {
        (self.query != NONE16)
            .then(|| SUBCATS[(self.query / 16) as usize].queries[(self.query % 16) as usize])
    }
    pub fn campaign(&self) -> Option<usize> {
        (self.campaign != NONE16).then_some(self.campaign as usize)
    }
}

/// Context of one session: every event in it shares these.
#[derive(Clone, Copy)]
struct Session {
    device: u8,
    channel: u8,
    campaign: u16,
    lat: f64,
    lon: f64,
}

impl Sim<'_> {
    /// A session on the customer's usual digital channel and device.
    fn digital_session(&mut self, ts: i64) -> Session {
        let app = self.h.primary_channel == APP
            || (self.pm.uses_app && self.h.primary_channel == STORE && self.rng.chance(0.5));
        if app {
            let device = if self.rng.chance(0.88) {
                MOBILE
            } else {
                TABLET
            };
            self.session(ts, APP, device, NONE16)
        } else {
            self.session(ts, WEB, self.h.primary_device, NONE16)
        }
    }

    fn session(&mut self, ts: i64, channel: u8, device: u8, campaign: u16) -> Session {
        let (lat, lon) = if channel == APP {
            self.location_at(ts)
        } else {
            (f64::NAN, f64::NAN)
        };
        Session {
            device,
            channel,
            campaign,
            lat,
            lon,
        }
    }

    fn push(&mut self, s: &Session, ts: i64, kind: u8, product: u32, query: u16) {
        let category = if product != NONE32 {
            self.w.assortment.category_of(product) as u8
        } else if query != NONE16 {
            SUBCATS[(query / 16) as usize].category as u8
        } else {
            NONE8
        };
        self.s.events.push(Event {
            ts,
            kind,
            device: s.device,
            channel: s.channel,
            category,
            product,
            query,
            campaign: s.campaign,
            lat: s.lat,
            lon: s.lon,
        });
    }

    fn random_product(&mut self, ts: i64) -> (usize, u32) {
        let sc = self.pick_subcat(ts, LIFE_SHIFT);
        let (a, b) = self.w.assortment.subcat_range[sc];
        (sc, a + self.rng.below((b - a) as u64) as u32)
    }

    fn query_for(&mut self, sc: usize) -> u16 {
        (sc * 16 + self.rng.index(SUBCATS[sc].queries.len())) as u16
    }

    /// Every event of the customer, sorted by time and clipped to the
    /// span from signup to the end of the window.
    pub(super) fn events(&mut self, t0: i64, active_end: i64) {
        let p = self.pm.p;
        let w = self.w;
        let assortment = &w.assortment;

        // The session that ends in each order.
        let mut digital_orders = 0u32;
        for oi in 0..self.s.orders.len() {
            let o = self.s.orders[oi];
            if o.channel == STORE {
                let st = &assortment.stores[o.store.unwrap_or(0) as usize];
                let sess = Session {
                    device: POS,
                    channel: STORE,
                    campaign: NONE16,
                    lat: st.lat,
                    lon: st.lon,
                };
                self.push(&sess, o.ts, ev::PURCHASE, NONE32, NONE16);
                continue;
            }
            digital_orders += 1;
            let campaign = match o.promo {
                Promo::Campaign(c) => c,
                _ => NONE16,
            };
            let sess = self.session(o.ts, o.channel, o.device, campaign);
            let dur =
                3 * MINUTE + (self.rng.exp(12.0) * MINUTE as f64).min(60.0 * MINUTE as f64) as i64;
            let first = self.s.events.len();
            if o.channel == APP {
                self.push(&sess, 0, ev::APP_OPEN, NONE32, NONE16);
            }
            self.push(&sess, 0, ev::PAGE_VIEW, NONE32, NONE16);
            let (a, b) = o.items;
            if self.rng.chance(0.45) {
                let sc =
                    assortment.products[self.s.items[a as usize].product as usize].subcat as usize;
                let q = self.query_for(sc);
                self.push(&sess, 0, ev::SEARCH, NONE32, q);
            }
            for li in a..b {
                let product = self.s.items[li as usize].product;
                let sc = assortment.products[product as usize].subcat as usize;
                let (lo, hi) = assortment.subcat_range[sc];
                for _ in 0..self.rng.below(2) {
                    let other = lo + self.rng.below((hi - lo) as u64) as u32;
                    self.push(&sess, 0, ev::PRODUCT_VIEW, other, NONE16);
                }
                self.push(&sess, 0, ev::PRODUCT_VIEW, product, NONE16);
                self.push(&sess, 0, ev::ADD_TO_CART, product, NONE16);
            }
            if self.rng.chance(0.08) {
                let (_, other) = self.random_product(o.ts);
                self.push(&sess, 0, ev::ADD_TO_CART, other, NONE16);
                self.push(&sess, 0, ev::REMOVE_FROM_CART, other, NONE16);
            }
            self.push(&sess, 0, ev::CHECKOUT_START, NONE32, NONE16);
            self.push(&sess, 0, ev::PURCHASE, NONE32, NONE16);
            // Spread the session evenly so that `purchase` lands on order_ts.
            let n = (self.s.events.len() - first) as i64;
            let start = o.ts - dur;
            for (k, e) in self.s.events[first..].iter_mut().enumerate() {
                e.ts = start + dur * (k as i64 + 1) / n;
            }
        }

        let active_months = (active_end - t0).max(0) as f64 / (30.44 * DAY as f64);

        // Abandoned carts: into the cart (and sometimes checkout), no purchase.
        let n = self
            .rng
            .poisson(p.abandon_per_order * digital_orders as f64 + 0.05 * active_months);
        for _ in 0..n {
            let Some(mut ts) = self.sample_time(t0, active_end) else {
                continue;
            };
            let sess = self.digital_session(ts);
            self.push(&sess, ts, ev::PAGE_VIEW, NONE32, NONE16);
            let mut viewed = [NONE32; 3];
            let views = 1 + self.rng.index(3);
            for v in viewed.iter_mut().take(views) {
                ts += self.rng.between(20_000_000, 3 * MINUTE);
                *v = self.random_product(ts).1;
                self.push(&sess, ts, ev::PRODUCT_VIEW, *v, NONE16);
            }
            for &v in viewed.iter().take(1 + self.rng.index(views.min(2))) {
                ts += self.rng.between(10_000_000, MINUTE);
                self.push(&sess, ts, ev::ADD_TO_CART, v, NONE16);
            }
            if self.rng.chance(0.35) {
                ts += self.rng.between(30_000_000, 4 * MINUTE);
                self.push(&sess, ts, ev::CHECKOUT_START, NONE32, NONE16);
            }
        }

        // Browsing without buying.
        let n = self.rng.poisson(p.browse_per_month * active_months);
        for _ in 0..n {
            let Some(mut ts) = self.sample_time(t0, active_end) else {
                continue;
            };
            let sess = self.digital_session(ts);
            self.push(&sess, ts, ev::PAGE_VIEW, NONE32, NONE16);
            let (sc, mut product) = self.random_product(ts);
            if self.rng.chance(0.5) {
                ts += self.rng.between(5_000_000, MINUTE);
                let q = self.query_for(sc);
                self.push(&sess, ts, ev::SEARCH, NONE32, q);
            }
            for v in 0..1 + self.rng.below(4) {
                if v > 0 {
                    product = self.random_product(ts).1;
                }
                ts += self.rng.between(15_000_000, 3 * MINUTE);
                self.push(&sess, ts, ev::PRODUCT_VIEW, product, NONE16);
            }
            if self.rng.chance(0.15) {
                ts += self.rng.between(5_000_000, MINUTE);
                self.push(&sess, ts, ev::WISHLIST_ADD, product, NONE16);
            }
        }

        if self.pm.uses_app || self.h.primary_channel == APP {
            let n = self.rng.poisson(p.app_opens_per_month * active_months);
            for _ in 0..n {
                let Some(ts) = self.sample_time(t0, active_end) else {
                    continue;
                };
                let device = if self.rng.chance(0.88) {
                    MOBILE
                } else {
                    TABLET
                };
                let sess = self.session(ts, APP, device, NONE16);
                self.push(&sess, ts, ev::APP_OPEN, NONE32, NONE16);
            }
        }

        for si in 0..self.s.sends.len() {
            let send = self.s.sends[si];
            if !send.opened {
                continue;
            }
            let device = if self.rng.chance(0.6) {
                MOBILE
            } else {
                DESKTOP
            };
            let sess = Session {
                device,
                channel: EMAIL,
                campaign: send.campaign,
                lat: f64::NAN,
                lon: f64::NAN,
            };
            let open = send.ts + MINUTE + (self.rng.exp(5.0) * HOUR as f64) as i64;
            self.push(&sess, open, ev::EMAIL_OPEN, NONE32, NONE16);
            if send.clicked {
                let click = open + 5_000_000 + (self.rng.exp(3.0) * MINUTE as f64) as i64;
                self.push(&sess, click, ev::EMAIL_CLICK, NONE32, NONE16);
            }
        }

        if let Some((MOVED, ts)) = self.profile.life {
            let sess = self.digital_session(ts);
            self.push(&sess, ts, ev::ADDRESS_CHANGE, NONE32, NONE16);
        }

        // Sessions may start before signup or spill past the window: such
        // events are dropped rather than bent into range.
        let lo = t0.max(self.profile.signup_us);
        let end = w.cal.end_us;
        self.s.events.retain(|e| e.ts >= lo && e.ts < end);
        self.s.events.sort_by_key(|e| e.ts);
    }
}
