//! One customer's whole history, simulated from a random stream keyed by
//! (seed, customer id) alone: a customer's rows never depend on how many
//! customers are generated, on chunking or on thread scheduling.

use chrono::{Datelike, NaiveDate};

use super::assortment::Assortment;
use super::calendar::{Calendar, DAY, HOUR, MINUTE};
use super::persona::{PERSONAS, PersonaModel, Signup};
use super::rng::{Rng64, Weighted, stream};
use super::text;
use super::vocabulary::{
    CITIES, EMAIL_DOMAINS, FASHION, FEMALE_NAMES, LAST_NAMES, MALE_NAMES, SUBCATS, subcat_index,
};

pub(crate) const EVENT_TYPES: [&str; 12] = [
    "page_view",
    "product_view",
    "search",
    "add_to_cart",
    "remove_from_cart",
    "checkout_start",
    "purchase",
    "email_open",
    "email_click",
    "app_open",
    "wishlist_add",
    "address_change",
];
mod ev {
    pub const PAGE_VIEW: u8 = 0;
    pub const PRODUCT_VIEW: u8 = 1;
    pub const SEARCH: u8 = 2;
    pub const ADD_TO_CART: u8 = 3;
    pub const REMOVE_FROM_CART: u8 = 4;
    pub const CHECKOUT_START: u8 = 5;
    pub const PURCHASE: u8 = 6;
    pub const EMAIL_OPEN: u8 = 7;
    pub const EMAIL_CLICK: u8 = 8;
    pub const APP_OPEN: u8 = 9;
    pub const WISHLIST_ADD: u8 = 10;
    pub const ADDRESS_CHANGE: u8 = 11;
}

pub(crate) const CHANNELS: [&str; 4] = ["web", "app", "store", "email"];
const WEB: u8 = 0;
const APP: u8 = 1;
const STORE: u8 = 2;
const EMAIL: u8 = 3;
pub(crate) const DEVICES: [&str; 4] = ["desktop", "mobile", "tablet", "pos"];
const DESKTOP: u8 = 0;
const MOBILE: u8 = 1;
const TABLET: u8 = 2;
const POS: u8 = 3;
pub(crate) const STATUSES: [&str; 3] = ["completed", "returned", "cancelled"];
const COMPLETED: u8 = 0;
const RETURNED: u8 = 1;
const CANCELLED: u8 = 2;
pub(crate) const GENDERS: [&str; 4] = ["female", "male", "non_binary", "undisclosed"];
pub(crate) const MARITAL: [&str; 4] = ["single", "married", "divorced", "widowed"];
const MARRIED: u8 = 1;
pub(crate) const LIFE_EVENTS: [&str; 3] = ["moved", "baby", "married"];
const MOVED: u8 = 0;
const BABY: u8 = 1;
const GOT_MARRIED: u8 = 2;
pub(crate) const PURPOSES: [&str; 3] = ["email_marketing", "profiling", "ad_sync"];
/// Organic promo codes and their percentage off.
pub(crate) const PROMO_CODES: [(&str, i64); 5] = [
    ("WELCOME10", 10),
    ("SAVE10", 10),
    ("DEAL15", 15),
    ("FLASH20", 20),
    ("VIP5", 5),
];
const WELCOME: u8 = 0;
/// Percentage off when a campaign code is used.
const CAMPAIGN_PCT: i64 = 15;

/// Orders per customer are capped so order ids (`customer_id * 10_000 + n`) stay unique.
const MAX_ORDERS: usize = 9_999;
/// Tickets per customer are capped so ticket ids (`customer_id * 100 + n`) stay unique.
const MAX_TICKETS: usize = 99;
/// Share of customers with a life event.
const LIFE_EVENT_RATE: f64 = 0.10;
/// Probability an order line follows the life event rather than the persona
/// once the event has happened (0.85 in the post-event burst).
const LIFE_SHIFT: f64 = 0.45;
const CAMPAIGN_TARGET_RATE: f64 = 0.5;
const HOLDOUT_RATE: f64 = 0.10;
/// How long after a send an order counts as a conversion.
const CONVERSION_WINDOW: i64 = 7 * DAY;
const NONE16: u16 = u16::MAX;
const NONE8: u8 = u8::MAX;
const NONE32: u32 = u32::MAX;

/// Everything shared by all customers of a run.
pub(crate) struct World {
    pub seed: u64,
    pub cal: Calendar,
    pub assortment: Assortment,
    pub personas: Vec<PersonaModel>,
    persona_pick: Weighted,
    gender: Weighted,
    /// Per life event, the subcategories its purchases shift towards.
    life_basket: [Weighted; 3],
    as_of_year: i32,
}

impl World {
    pub fn new(seed: u64, as_of: NaiveDate, months: u32) -> crate::Result<Self> {
        let cal = Calendar::new(as_of, months)?;
        let assortment = Assortment::new(seed, &cal);
        let personas: Vec<PersonaModel> = PERSONAS.iter().map(PersonaModel::new).collect();
        let persona_pick = Weighted::new(&PERSONAS.iter().map(|p| p.share).collect::<Vec<_>>());
        let life = |names: &[&str]| {
            let mut w = vec![0.0; SUBCATS.len()];
            for n in names {
                w[subcat_index(n).expect("life-event subcategory")] = 1.0;
            }
            Weighted::new(&w)
        };
        Ok(World {
            seed,
            cal,
            assortment,
            personas,
            persona_pick,
            gender: Weighted::new(&[0.49, 0.47, 0.02, 0.02]),
            life_basket: [
                life(&["furniture", "kitchen", "bedding", "decor"]),
                life(&["diapers", "baby_food", "strollers", "toys"]),
                life(&[
                    "luggage",
                    "travel_accessories",
                    "outdoor",
                    "bedding",
                    "decor",
                    "kitchen",
                ]),
            ],
            as_of_year: as_of.year(),
        })
    }
}

/// The customers-table row and the hidden truth of one customer.
#[derive(Debug, Clone)]
pub(crate) struct Profile {
    pub id: i64,
    pub persona: u8,
    pub signup_us: i64,
    pub birth_year: i32,
    pub gender: u8,
    pub marital: u8,
    pub female_name: bool,
    pub first: u16,
    pub last: u16,
    pub email_style: u8,
    pub email_domain: u8,
    pub phone: (u32, u32),
    /// Current city (after a move) and home coordinates.
    pub city: u16,
    pub lat: f64,
    pub lon: f64,
    pub acquisition: u8,
    pub life: Option<(u8, i64)>,
}

impl Profile {
    pub fn first_name(&self) -> &'static str {
        if self.female_name {
            FEMALE_NAMES[self.first as usize]
        } else {
            MALE_NAMES[self.first as usize]
        }
    }

    pub fn last_name(&self) -> &'static str {
        LAST_NAMES[self.last as usize]
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Promo {
    None,
    Code(u8),
    Campaign(u16),
}

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

#[derive(Debug, Clone, Copy)]
pub(crate) struct Item {
    pub product: u32,
    pub qty: i32,
    pub price: i64,
}

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

#[derive(Debug, Clone, Copy)]
pub(crate) struct Ticket {
    pub id: i64,
    pub ts: i64,
    pub channel: u8,
    pub text: text::TicketText,
    pub csat: Option<i32>,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Consent {
    pub purpose: u8,
    pub granted: bool,
    pub ts: i64,
}

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

/// Context of one session: every event in it shares these.
#[derive(Clone, Copy)]
struct Session {
    device: u8,
    channel: u8,
    campaign: u16,
    lat: f64,
    lon: f64,
}

/// Hidden, per-customer state that drives the tables but is not written.
struct Hidden {
    home_store: usize,
    old_city: usize,
    old_home: (f64, f64),
    old_store: usize,
    work: (f64, f64),
    primary_channel: u8,
    primary_device: u8,
    move_ts: i64,
}

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

fn demographics(
    w: &World,
    pm: &PersonaModel,
    persona: u8,
    id: i64,
    rng: &mut Rng64,
) -> (Profile, Hidden) {
    let p = pm.p;
    let cal = &w.cal;
    let gender = w.gender.sample(rng) as u8;
    let female_name = match gender {
        0 => true,
        1 => false,
        _ => rng.chance(0.5),
    };
    let first = rng.index(if female_name {
        FEMALE_NAMES.len()
    } else {
        MALE_NAMES.len()
    }) as u16;
    let last = rng.index(LAST_NAMES.len()) as u16;
    let age = rng.between(p.age.0 as i64, p.age.1 as i64 + 1) as i32;
    let marital_w: [f64; 4] = if p.name == "young_parent" {
        [0.15, 0.8, 0.05, 0.0]
    } else if age < 25 {
        [0.9, 0.08, 0.01, 0.01]
    } else if age < 40 {
        [0.5, 0.45, 0.05, 0.0]
    } else if age < 60 {
        [0.25, 0.6, 0.13, 0.02]
    } else {
        [0.15, 0.6, 0.12, 0.13]
    };
    let mut marital = rng.choose(&marital_w) as u8;
    let city = w.assortment.city_weights.sample(rng);
    let home = near(rng, city, 0.04);
    let stores = &w.assortment.city_stores[city];
    let home_store = stores[rng.index(stores.len())];
    let acquisition = pm.acquisition.sample(rng) as u8;

    let signup_day = {
        let start_day = cal.start_us / DAY;
        let end_day = cal.end_us / DAY;
        match p.signup {
            Signup::Recent(n) => rng.between((end_day - n).max(start_day - 365), end_day),
            Signup::Old => rng.between(start_day - 4 * 365, start_day - 30),
            Signup::Mixed => {
                if rng.chance(0.65) {
                    rng.between(start_day - 4 * 365, start_day)
                } else {
                    rng.between(start_day, end_day)
                }
            }
        }
    };
    let signup_us = signup_day * DAY + time_of_day(pm, rng);

    let mut life = None;
    if rng.chance(LIFE_EVENT_RATE) {
        let mut kind = rng.choose(&[0.4, 0.3, 0.3]) as u8;
        if kind == BABY && !(20..=45).contains(&age) {
            kind = MOVED;
        }
        let lo = signup_us.max(cal.start_us) + 30 * DAY;
        let hi = cal.end_us - 30 * DAY;
        if lo < hi {
            let day = rng.between(lo / DAY + 1, hi / DAY);
            life = Some((kind, day * DAY + time_of_day(pm, rng)));
        }
    }
    let (mut cur_city, mut cur_home, mut cur_store) = (city, home, home_store);
    let mut move_ts = i64::MAX;
    if let Some((kind, ts)) = life {
        match kind {
            MOVED => {
                move_ts = ts;
                for _ in 0..8 {
                    cur_city = w.assortment.city_weights.sample(rng);
                    if cur_city != city {
                        break;
                    }
                }
                cur_home = near(rng, cur_city, 0.04);
                let stores = &w.assortment.city_stores[cur_city];
                cur_store = stores[rng.index(stores.len())];
            }
            GOT_MARRIED => marital = MARRIED,
            _ => {}
        }
    }
    // The commuter's daytime location: a fixed offset from the centre of
    // the (current) city.
    let work = (0.015 * rng.normal(), 0.02 * rng.normal());
    let primary_channel = pm.channel.sample(rng) as u8;
    let primary_device = pm.web_device.sample(rng) as u8;
    let profile = Profile {
        id,
        persona,
        signup_us,
        birth_year: w.as_of_year - age,
        gender,
        marital,
        female_name,
        first,
        last,
        email_style: rng.below(3) as u8,
        email_domain: rng.index(EMAIL_DOMAINS.len()) as u8,
        phone: (100 + rng.below(900) as u32, rng.below(10_000_000) as u32),
        city: cur_city as u16,
        lat: cur_home.0,
        lon: cur_home.1,
        acquisition,
        life,
    };
    let hidden = Hidden {
        home_store: cur_store,
        old_city: city,
        old_home: home,
        old_store: home_store,
        work,
        primary_channel,
        primary_device,
        move_ts,
    };
    (profile, hidden)
}

fn near(rng: &mut Rng64, city: usize, sd: f64) -> (f64, f64) {
    let c = &CITIES[city];
    (c.lat + sd * rng.normal(), c.lon + 1.5 * sd * rng.normal())
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

    /// Consent at signup for each purpose, then for 8% of customers one later
    /// change of mind.
    fn consents(&mut self) {
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

    /// Organic purchase times by thinning: proposals arrive at λ / mean
    /// acceptance and survive with the persona's weekday × month intensity,
    /// so seasonality shapes timing while λ stays the yearly average.
    /// Returns the drop-out time (the purchase after which the customer left).
    fn purchase_times(&mut self, t0: i64, lambda: f64, drop: f64) -> Option<i64> {
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

    /// Campaign targeting, opens/clicks and the planted treatment effect.
    fn campaign_sends(&mut self, death: Option<i64>) {
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

    fn store_at(&self, ts: i64) -> usize {
        if ts < self.h.move_ts {
            self.h.old_store
        } else {
            self.h.home_store
        }
    }

    fn city_at(&self, ts: i64) -> usize {
        if ts < self.h.move_ts {
            self.h.old_city
        } else {
            self.profile.city as usize
        }
    }

    /// Where the phone is at `ts`: at work on commuter weekday office hours,
    /// otherwise around home.
    fn location_at(&mut self, ts: i64) -> (f64, f64) {
        let at_work = self.pm.commuter && {
            let d = self.w.cal.day(ts);
            let hour = ts.rem_euclid(DAY) / HOUR;
            d.weekday < 5 && (9..17).contains(&hour)
        };
        let base = if at_work {
            let c = &CITIES[self.city_at(ts)];
            (c.lat + self.h.work.0, c.lon + self.h.work.1)
        } else if ts < self.h.move_ts {
            self.h.old_home
        } else {
            (self.profile.lat, self.profile.lon)
        };
        (
            base.0 + 0.004 * self.rng.normal(),
            base.1 + 0.006 * self.rng.normal(),
        )
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

    fn orders(&mut self, order_scale_cents: f64) {
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

    /// A send converted when the customer placed a non-cancelled order within
    /// seven days of it; revenue is what those orders were worth.
    fn conversions(&mut self) {
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

    fn events(&mut self, t0: i64, active_end: i64) {
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

    fn tickets(&mut self, t0: i64, active_end: i64, death: Option<i64>) {
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

#[cfg(test)]
mod tests {
    use super::*;

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
    /// Calibration aid: events per customer by type and persona
    /// (`cargo test --lib event_mix_report -- --ignored --nocapture`).
    #[test]
    #[ignore]
    fn event_mix_report() {
        let w = World::new(42, NaiveDate::from_ymd_opt(2026, 10, 31).unwrap(), 24).unwrap();
        let mut s = Scratch::default();
        let mut per = vec![([0u64; 12], 0u64, 0u64); PERSONAS.len()];
        for id in 1..=4000 {
            let p = simulate(&w, id, &mut s);
            let e = &mut per[p.persona as usize];
            e.1 += 1;
            e.2 += s.orders.len() as u64;
            for ev in &s.events {
                e.0[ev.kind as usize] += 1;
            }
        }
        for (i, (k, c, o)) in per.iter().enumerate() {
            let c = *c as f64;
            let tot: u64 = k.iter().sum();
            let parts: Vec<String> = k
                .iter()
                .enumerate()
                .map(|(j, v)| format!("{}={:.0}", &EVENT_TYPES[j][..6], *v as f64 / c))
                .collect();
            println!(
                "{:<22} orders {:>5.1} events {:>6.1} | {}",
                PERSONAS[i].name,
                *o as f64 / c,
                tot as f64 / c,
                parts.join(" ")
            );
        }
    }
    /// Simulation alone, without Arrow or Parquet (run with `--release`).
    #[test]
    #[ignore]
    fn simulate_throughput() {
        let w = World::new(42, NaiveDate::from_ymd_opt(2026, 10, 31).unwrap(), 24).unwrap();
        let mut s = Scratch::default();
        let t = std::time::Instant::now();
        let mut rows = 0usize;
        for id in 1..=20_000 {
            simulate(&w, id, &mut s);
            rows += 2
                + s.orders.len()
                + s.items.len()
                + s.events.len()
                + s.sends.len()
                + s.tickets.len()
                + s.consents.len();
        }
        let secs = t.elapsed().as_secs_f64();
        println!(
            "simulate only: {rows} rows in {secs:.2} s = {:.2} M rows/s on one core",
            rows as f64 / secs / 1e6
        );
    }
}
