//! Who a customer is: demographics, home and city (before and after a
//! move), the life event, and where the customer is at a given time.

use super::codes::{BABY, GOT_MARRIED, MARRIED, MOVED};
use super::{Sim, World, time_of_day};
use crate::generate::assortment::Assortment;
use crate::generate::calendar::{DAY, HOUR};
use crate::generate::persona::{PersonaModel, Signup};
use crate::generate::rng::Rng64;
use crate::generate::vocabulary::{CITIES, EMAIL_DOMAINS, FEMALE_NAMES, LAST_NAMES, MALE_NAMES};

/// Share of customers with a life event.
const LIFE_EVENT_RATE: f64 = 0.10;

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
    /// The city lived in before a move, and when the move happened.
    pub moved: Option<(u16, i64)>,
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

    /// The customers table's e-mail address; the customer id makes it unique.
    pub fn write_email(&self, a: &Assortment, out: &mut impl std::fmt::Write) -> std::fmt::Result {
        let first = if self.female_name {
            &a.female_email[self.first as usize]
        } else {
            &a.male_email[self.first as usize]
        };
        let last = &a.last_email[self.last as usize];
        let domain = EMAIL_DOMAINS[self.email_domain as usize];
        match self.email_style {
            0 => write!(out, "{first}.{last}{}@{domain}", self.id),
            1 => write!(out, "{}{last}{}@{domain}", &first[..1], self.id),
            _ => write!(out, "{last}_{first}{}@{domain}", self.id),
        }
    }

    /// The customers table's phone number, `+cc area number`.
    pub fn write_phone(&self, out: &mut impl std::fmt::Write) -> std::fmt::Result {
        let city = &CITIES[self.city as usize];
        write!(
            out,
            "+{} {} {:07}",
            city.phone_cc, self.phone.0, self.phone.1
        )
    }
}

/// Hidden, per-customer state that drives the tables but is not written.
pub(super) struct Hidden {
    home_store: usize,
    old_city: usize,
    old_home: (f64, f64),
    old_store: usize,
    work: (f64, f64),
    pub(super) primary_channel: u8,
    pub(super) primary_device: u8,
    move_ts: i64,
}

/// Draws who customer `id` is and where they live, before and after a move.
pub(super) fn demographics(
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
    let mut moved = None;
    if let Some((kind, ts)) = life {
        match kind {
            MOVED => {
                move_ts = ts;
                moved = Some((city as u16, ts));
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
        moved,
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

impl Sim<'_> {
    pub(super) fn store_at(&self, ts: i64) -> usize {
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
    pub(super) fn location_at(&mut self, ts: i64) -> (f64, f64) {
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
}
