//! The assortment of one lake: products (names, SKUs, shelf prices),
//! stores and the campaign calendar, drawn from the vocabulary with random
//! streams keyed by the seed alone, and shared by every customer.

use chrono::{Datelike, NaiveDate};

use super::calendar::{Calendar, DAY, HOUR, MINUTE, days_since_epoch};
use super::rng::{Rng64, Weighted, stream};
use super::vocabulary::{
    CATEGORIES, CITIES, FEMALE_NAMES, LAST_NAMES, MALE_NAMES, STORE_SUFFIXES, SUBCATS,
};

/// A product, with its price in cents.
pub(crate) struct Product {
    pub sku: String,
    pub name: String,
    pub brand: &'static str,
    pub subcat: u16,
    pub price: i64,
}

pub(crate) struct Store {
    pub id: i32,
    pub name: String,
    pub city: usize,
    pub lat: f64,
    pub lon: f64,
}

/// One email campaign; each customer's send time is `base_us` plus a jitter.
pub(crate) struct Campaign {
    pub id: String,
    pub base_us: i64,
}

/// Everything derived from the seed but shared by all customers.
pub(crate) struct Assortment {
    pub products: Vec<Product>,
    /// Product index range of each subcategory, sorted by price ascending.
    pub subcat_range: Vec<(u32, u32)>,
    pub stores: Vec<Store>,
    /// Store indices per city (every city has at least one).
    pub city_stores: Vec<Vec<usize>>,
    pub city_weights: Weighted,
    /// Lower-case, punctuation-free name variants for e-mail addresses.
    pub female_email: Vec<String>,
    pub male_email: Vec<String>,
    pub last_email: Vec<String>,
    pub campaigns: Vec<Campaign>,
}

/// A shelf price: log-normal around the median, then rounded to a price
/// point ending in .99 (or .49 / .09 for cheap items), in cents.
fn price_point(rng: &mut Rng64, median: f64, spread: f64) -> i64 {
    let eur = median * (spread * rng.normal()).exp();
    if eur >= 20.0 {
        (eur.round() as i64).max(1) * 100 - 1
    } else if eur >= 2.0 {
        ((eur * 2.0).round() as i64).max(1) * 50 - 1
    } else {
        ((eur * 10.0).round() as i64).max(1) * 10 - 1
    }
}

fn email_safe(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

impl Assortment {
    pub fn new(seed: u64, cal: &Calendar) -> Self {
        let mut rng = Rng64::for_key(&[seed, stream::PRODUCTS]);
        let mut products = Vec::new();
        let mut subcat_range = Vec::with_capacity(SUBCATS.len());
        for (si, s) in SUBCATS.iter().enumerate() {
            let cat = &CATEGORIES[s.category];
            let first = products.len();
            for _ in 0..s.skus {
                let brand = *rng.pick(cat.brands);
                let noun = rng.pick(s.nouns);
                let variant = rng.pick(s.variants);
                products.push(Product {
                    sku: String::new(),
                    name: format!("{brand} {noun} {variant}"),
                    brand,
                    subcat: si as u16,
                    price: price_point(&mut rng, s.median, s.spread),
                });
            }
            // Sorted by price so the basket builder can find what fits a budget
            // with one binary search.
            products[first..].sort_by_key(|p| p.price);
            for (n, p) in products[first..].iter_mut().enumerate() {
                p.sku = format!("{}-{}-{:04}", cat.code, s.code, n + 1);
            }
            subcat_range.push((first as u32, products.len() as u32));
        }

        let mut rng = Rng64::for_key(&[seed, stream::STORES]);
        let mut stores = Vec::new();
        let mut city_stores = vec![Vec::new(); CITIES.len()];
        for (ci, c) in CITIES.iter().enumerate() {
            let n = 1 + usize::from(c.weight >= 4.0) + usize::from(c.weight >= 7.0);
            for k in 0..n {
                city_stores[ci].push(stores.len());
                stores.push(Store {
                    id: stores.len() as i32 + 1,
                    name: format!(
                        "{} {}",
                        c.name,
                        STORE_SUFFIXES[(k + ci) % STORE_SUFFIXES.len()]
                    ),
                    city: ci,
                    lat: c.lat + 0.02 * rng.normal(),
                    lon: c.lon + 0.03 * rng.normal(),
                });
            }
        }

        Assortment {
            products,
            subcat_range,
            stores,
            city_stores,
            city_weights: Weighted::new(&CITIES.iter().map(|c| c.weight).collect::<Vec<_>>()),
            female_email: FEMALE_NAMES.iter().map(|s| email_safe(s)).collect(),
            male_email: MALE_NAMES.iter().map(|s| email_safe(s)).collect(),
            last_email: LAST_NAMES.iter().map(|s| email_safe(s)).collect(),
            campaigns: campaigns(seed, cal),
        }
    }

    /// Products of a subcategory, cheapest first.
    #[inline]
    pub fn subcat_products(&self, subcat: usize) -> &[Product] {
        let (a, b) = self.subcat_range[subcat];
        &self.products[a as usize..b as usize]
    }

    #[inline]
    pub fn category_of(&self, product: u32) -> usize {
        SUBCATS[self.products[product as usize].subcat as usize].category
    }
}

/// Two campaigns a month ("A" early in the month, "B" mid-month), sent in the
/// morning. Campaigns whose 7-day conversion window would not fit before the
/// end of the window are left out, so every send has a complete outcome.
fn campaigns(seed: u64, cal: &Calendar) -> Vec<Campaign> {
    let mut rng = Rng64::for_key(&[seed, stream::CAMPAIGNS]);
    let mut out = Vec::new();
    for label in &cal.labels {
        let (y, m) = label.split_once('-').expect("YYYY-MM label");
        let (y, m): (i32, u32) = (y.parse().expect("year"), m.parse().expect("month"));
        for (letter, first_day) in [("A", 2u32), ("B", 14u32)] {
            let day = first_day + rng.below(5) as u32;
            let Some(date) = NaiveDate::from_ymd_opt(y, m, day) else {
                continue;
            };
            let base_us = days_since_epoch(date) * DAY + 8 * HOUR + rng.between(0, 3 * 60) * MINUTE;
            if base_us < cal.start_us || base_us + 8 * DAY >= cal.end_us {
                continue;
            }
            out.push(Campaign {
                id: format!("CMP-{:04}-{:02}-{letter}", date.year(), date.month()),
                base_us,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assortment_is_sorted_sized_and_coded() {
        let cal = Calendar::new(NaiveDate::from_ymd_opt(2026, 10, 31).unwrap(), 24).unwrap();
        let c = Assortment::new(42, &cal);
        assert!(
            (300..=2000).contains(&c.products.len()),
            "{}",
            c.products.len()
        );
        let mut skus: Vec<&str> = c.products.iter().map(|p| p.sku.as_str()).collect();
        skus.sort_unstable();
        skus.dedup();
        assert_eq!(skus.len(), c.products.len(), "SKUs are unique");
        for s in 0..SUBCATS.len() {
            let ps = c.subcat_products(s);
            assert!(!ps.is_empty());
            assert!(ps.windows(2).all(|w| w[0].price <= w[1].price));
            assert!(ps.iter().all(|p| p.price > 0 && p.subcat as usize == s));
        }
        let names: Vec<&str> = SUBCATS.iter().map(|s| s.name).collect();
        for want in [
            "lager",
            "craft_beer",
            "regional_beer",
            "cider",
            "wine",
            "soft_drinks",
        ] {
            assert!(names.contains(&want));
        }
        assert!(c.city_stores.iter().all(|s| !s.is_empty()));
        assert!((20..=60).contains(&c.stores.len()));
        assert!(
            (40..=48).contains(&c.campaigns.len()),
            "{}",
            c.campaigns.len()
        );
        for k in &c.campaigns {
            assert!(
                cal.contains(k.base_us) && k.base_us + 8 * DAY < cal.end_us,
                "{}",
                k.id
            );
        }
    }
}
