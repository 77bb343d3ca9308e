//! One customer as the source systems know them: the true contact details
//! (drawn once from the customer's `SOURCES` stream), the household they
//! may share an address and landline with, and the noisy records.

use std::fmt::Write as _;

use chrono::{Datelike, NaiveDate};

use super::columns::{CRM, LOYALTY, NEWSLETTER, Rec, SUPPORT, WEB, base36};
use super::noise::{self, *};
use super::permute;
use super::vocab::{
    CITY_LOCAL, JUNK_EMAILS, JUNK_PHONES, NATIVE, NICKNAMES, POSTAL, STREET_SHORT as SHORT,
    country, lookup, write_postal,
};
use crate::generate::calendar::{DAY, days_since_epoch};
use crate::generate::rng::{Rng64, stream};
use crate::generate::sim::{Profile, World};
use crate::generate::vocabulary::{CITIES, EMAIL_DOMAINS};

/// Records per customer: weights of 0, 1, 2, … records.
const CRM_COUNT: &[f64] = &[0.30, 0.55, 0.12, 0.03];
const WEB_COUNT: &[f64] = &[0.35, 0.50, 0.13, 0.02];
const LOYALTY_COUNT: &[f64] = &[0.50, 0.44, 0.06];
const SUPPORT_COUNT: &[f64] = &[0.60, 0.28, 0.09, 0.03];
const NEWSLETTER_COUNT: &[f64] = &[0.45, 0.45, 0.10];

/// Missing-value rates per source: first name, last name, e-mail, phone,
/// address, birth date (1.0 where the source has no such field).
const MISSING: [[f64; 6]; 5] = [
    [0.02, 0.01, 0.10, 0.20, 0.10, 0.30],
    [0.25, 0.25, 0.00, 0.60, 1.00, 0.50],
    [0.03, 0.02, 0.40, 0.10, 0.15, 0.20],
    [0.10, 0.10, 0.15, 0.35, 1.00, 1.00],
    [0.60, 1.00, 0.00, 1.00, 1.00, 1.00],
];

const SUPPORT_CHANNELS: &[&str] = &["email", "phone", "chat"];
const SIGNUP_SOURCES: &[&str] = &["footer", "checkout", "popup", "store"];
const NEWSLETTER_CONFIRMED: f64 = 0.80;

#[derive(Clone, Copy)]
struct Address {
    city: usize,
    street: &'static str,
    number: u32,
    postal: u32,
    letters: (u8, u8),
}

/// A number: country code and trunk prefix of its city, area, subscriber.
#[derive(Clone, Copy)]
struct Number {
    city: usize,
    area: u32,
    num: u32,
}

struct Household {
    email: String,
    phone: Number,
}

pub(super) struct Person<'a> {
    w: &'a World,
    p: &'a Profile,
    rng: Rng64,
    email: String,
    second_email: Option<String>,
    phone: Number,
    second_phone: Option<Number>,
    household: Option<Household>,
    birth: NaiveDate,
    home: Address,
    /// The address before a move, and the move's time.
    before: Option<(Address, i64)>,
}

fn address(rng: &mut Rng64, city: usize) -> Address {
    let (_, lo, hi) = POSTAL[city];
    let streets = country(CITIES[city].country).streets;
    Address {
        city,
        street: streets[rng.index(streets.len())],
        number: 1 + rng.below(180) as u32,
        postal: rng.between(lo as i64, hi as i64 + 1) as u32,
        letters: (rng.below(26) as u8, rng.below(26) as u8),
    }
}

fn number(rng: &mut Rng64, city: usize) -> Number {
    Number {
        city,
        area: 100 + rng.below(900) as u32,
        num: rng.below(10_000_000) as u32,
    }
}

/// Customers 2h-1 and 2h may form household h; its contact details come
/// from the household's own stream, so both members see the same ones.
fn household(w: &World, id: u64) -> Option<Household> {
    let h = id.div_ceil(2);
    let mut rng = Rng64::for_key(&[w.seed, stream::HOUSEHOLD, h]);
    if !rng.chance(HOUSEHOLDS) {
        return None;
    }
    let a = &w.assortment;
    let last = &a.last_email[rng.index(a.last_email.len())];
    let tail = base36(permute(h, w.seed ^ 0x484F_5553, 40));
    let domain = rng.pick(EMAIL_DOMAINS);
    let city = a.city_weights.sample(&mut rng);
    Some(Household {
        email: format!("{last}.family.{tail}@{domain}"),
        phone: number(&mut rng, city),
    })
}

impl<'a> Person<'a> {
    pub fn new(w: &'a World, p: &'a Profile) -> Self {
        let mut rng = Rng64::for_key(&[w.seed, stream::SOURCES, p.id as u64]);
        let mut email = String::new();
        let _ = p.write_email(&w.assortment, &mut email);
        let second_email = rng.chance(SECOND_EMAIL_OWNERS).then(|| {
            let a = &w.assortment;
            let first = if p.female_name {
                &a.female_email[p.first as usize]
            } else {
                &a.male_email[p.first as usize]
            };
            let last = &a.last_email[p.last as usize];
            let tail = base36(permute(p.id as u64, w.seed ^ 0x5345_434F, 40));
            // Another domain than the first address's.
            let d = (p.email_domain as usize + 1 + rng.index(EMAIL_DOMAINS.len() - 1))
                % EMAIL_DOMAINS.len();
            format!("{first}{}.{tail}@{}", &last[..1], EMAIL_DOMAINS[d])
        });
        let city = p.city as usize;
        let phone = Number {
            city,
            area: p.phone.0,
            num: p.phone.1,
        };
        let second_phone = rng
            .chance(SECOND_PHONE_OWNERS)
            .then(|| number(&mut rng, city));
        let day = rng.below(365) as u32;
        let birth = NaiveDate::from_yo_opt(p.birth_year, day + 1)
            .or_else(|| NaiveDate::from_yo_opt(p.birth_year, 1))
            .unwrap_or_default();
        let home = address(&mut rng, city);
        let before = p
            .moved
            .map(|(old, ts)| (address(&mut rng, old as usize), ts));
        Person {
            w,
            p,
            rng,
            email,
            second_email,
            phone,
            second_phone,
            household: household(w, p.id as u64),
            birth,
            home,
            before,
        }
    }

    /// How many records the customer has in source `kind`.
    pub fn records(&mut self, kind: u8) -> usize {
        let weights = match kind {
            CRM => CRM_COUNT,
            WEB => WEB_COUNT,
            LOYALTY => LOYALTY_COUNT,
            SUPPORT => SUPPORT_COUNT,
            _ => NEWSLETTER_COUNT,
        };
        self.rng.choose(weights)
    }

    fn missing(&mut self, kind: u8, field: usize) -> bool {
        let p = MISSING[kind as usize][field];
        p >= 1.0 || self.rng.chance(p)
    }

    /// A time between `from` and the end of the window.
    fn time_after(&mut self, from: i64) -> i64 {
        let end = self.w.cal.end_us;
        self.rng.between(from.min(end - 1), end)
    }

    /// The `k`-th record of source `kind` (ids are set by the caller).
    pub fn record(&mut self, kind: u8, k: usize) -> Rec {
        let signup = self.p.signup_us;
        let created = match kind {
            LOYALTY => self.time_after(signup - 365 * DAY),
            NEWSLETTER => self.time_after(signup - 180 * DAY),
            _ => self.time_after(signup),
        };
        let mut r = Rec {
            created,
            ..Rec::default()
        };
        let first = (!self.missing(kind, 0)).then(|| self.first_name());
        let last = (!self.missing(kind, 1)).then(|| self.last_name());
        if kind == SUPPORT {
            r.first = match (first, last) {
                (Some(f), Some(l)) => Some(match self.rng.choose(&[0.7, 0.2, 0.1]) {
                    0 => format!("{f} {l}"),
                    1 => format!("{l}, {f}"),
                    _ => format!("{l} {f}"),
                }),
                (f, l) => f.or(l),
            };
        } else {
            r.first = first;
            r.last = last;
        }
        r.email = (!self.missing(kind, 2)).then(|| self.email(kind, k));
        r.phone = (!self.missing(kind, 3)).then(|| self.phone());
        let mut at = created;
        if kind == CRM {
            // A CRM record may have been updated after the customer moved.
            let updated = match self.before {
                Some((_, ts)) if created < ts && self.rng.chance(CRM_UPDATED_AFTER_MOVE) => {
                    at = ts;
                    self.time_after(ts)
                }
                _ => self.time_after(created),
            };
            r.other_ts = Some(updated);
        }
        if !self.missing(kind, 4) {
            let a = match self.before {
                Some((old, ts)) if at < ts => old,
                _ => self.home,
            };
            let c = &CITIES[a.city];
            if kind == CRM {
                r.street = Some(self.street(&a));
                r.country = Some(c.country);
            }
            let mut postal = String::new();
            write_postal(&mut postal, a.city, a.postal, a.letters);
            r.postal = Some(postal);
            let local = lookup(CITY_LOCAL, c.name);
            r.city = Some(match local {
                Some(l) if self.rng.chance(CITY_LOCAL_NAME) => l.to_string(),
                _ => c.name.to_string(),
            });
        }
        if !self.missing(kind, 5) {
            r.birth = Some(self.birth_date());
        }
        match kind {
            WEB => r.other_ts = Some(self.time_after(created)),
            SUPPORT => r.tag = *self.rng.pick(SUPPORT_CHANNELS),
            NEWSLETTER => {
                r.tag = *self.rng.pick(SIGNUP_SOURCES);
                r.flag = self.rng.chance(NEWSLETTER_CONFIRMED);
            }
            _ => {}
        }
        r
    }

    fn first_name(&mut self) -> String {
        let name = self.p.first_name();
        let mut s = match (lookup(NICKNAMES, name), lookup(NATIVE, name)) {
            (Some(n), _) if self.rng.chance(NICKNAME) => n.to_string(),
            (_, Some(n)) if self.rng.chance(NATIVE_SPELLING) => n.to_string(),
            _ => name.to_string(),
        };
        self.name_noise(&mut s);
        s
    }

    fn last_name(&mut self) -> String {
        let name = self.p.last_name();
        let mut s = match lookup(NATIVE, name) {
            Some(n) if self.rng.chance(NATIVE_SPELLING) => n.to_string(),
            _ => name.to_string(),
        };
        self.name_noise(&mut s);
        s
    }

    fn name_noise(&mut self, s: &mut String) {
        if self.rng.chance(NAME_TYPO) {
            noise::typo(&mut self.rng, s);
        }
        noise::name_case(&mut self.rng, s);
    }

    fn email(&mut self, kind: u8, k: usize) -> String {
        if self.rng.chance(JUNK) {
            return self.rng.pick(JUNK_EMAILS).to_string();
        }
        let household = self.household.as_ref().map(|h| h.email.as_str());
        let mut s = match (household, &self.second_email) {
            (Some(h), _) if self.rng.chance(HOUSEHOLD_EMAIL_USE) => h.to_string(),
            // A second web account is most likely opened with the other address.
            (_, Some(e)) if kind == WEB && k > 0 => e.clone(),
            (_, Some(e)) if self.rng.chance(SECOND_EMAIL_USE) => e.clone(),
            _ => self.email.clone(),
        };
        noise::email(&mut self.rng, &mut s);
        s
    }

    fn phone(&mut self) -> String {
        if self.rng.chance(JUNK) {
            return self.rng.pick(JUNK_PHONES).to_string();
        }
        let n = match (&self.household, self.second_phone) {
            (Some(h), _) if self.rng.chance(HOUSEHOLD_PHONE_USE) => h.phone,
            (_, Some(n)) if self.rng.chance(SECOND_PHONE_USE) => n,
            _ => self.phone,
        };
        let city = &CITIES[n.city];
        let mut s = String::with_capacity(20);
        noise::phone(
            &mut self.rng,
            &mut s,
            city.phone_cc,
            country(city.country).trunk,
            n.area,
            n.num,
        );
        s
    }

    fn street(&mut self, a: &Address) -> String {
        let mut street = a.street.to_string();
        if self.rng.chance(noise::STREET_SHORT) {
            for (long, short) in SHORT {
                street = street.replace(long, short);
            }
        }
        let mut s = String::with_capacity(24);
        let _ = if country(CITIES[a.city].country).number_first {
            write!(s, "{} {street}", a.number)
        } else {
            write!(s, "{street} {}", a.number)
        };
        if self.rng.chance(STREET_TYPO) {
            noise::typo(&mut self.rng, &mut s);
        }
        s
    }

    fn birth_date(&mut self) -> i32 {
        let b = self.birth;
        let d = if self.rng.chance(BIRTH_SWAP) && b.day() <= 12 && b.day() != b.month() {
            NaiveDate::from_ymd_opt(b.year(), b.day(), b.month()).unwrap_or(b)
        } else {
            b
        };
        days_since_epoch(d) as i32
    }
}
