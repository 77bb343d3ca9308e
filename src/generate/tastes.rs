//! The drinks club: customers who buy beer or cider may join and rate the
//! drinks they taste, and each member has one planted taste (lager lover,
//! craft aficionado, regional explorer, cider fan) that most of their
//! ratings follow. Drawn from its own random stream, so every other table
//! has the same bytes with or without it; the taste is kept in
//! `_truth/tastes` for recommender tests.

use super::persona::PERSONAS;
use super::rng::{Rng64, Weighted, stream};
use super::sim::{Profile, World};
use super::vocabulary::subcat_index;

/// Taste name and the subcategory its ratings favour.
pub(crate) const TASTES: [(&str, &str); 4] = [
    ("lager_lover", "lager"),
    ("craft_aficionado", "craft_beer"),
    ("regional_explorer", "regional_beer"),
    ("cider_fan", "cider"),
];

/// Share of a member's ratings that are of their taste's subcategory.
const ON_TASTE: f64 = 0.8;
/// Ratings per member: this many plus a Poisson count of mean [`EXTRA`].
const MIN_RATINGS: u32 = 6;
const EXTRA: f64 = 6.0;

/// One rating: product index, stars (1–5), when.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Rating {
    pub product: u32,
    pub stars: i32,
    pub ts: i64,
}

/// A persona's weight on each taste's subcategory in its basket.
fn basket_weights(persona: usize) -> [f64; 4] {
    let basket = PERSONAS[persona].basket;
    TASTES.map(|(_, subcat)| {
        basket
            .iter()
            .filter(|(name, _)| *name == subcat)
            .map(|(_, w)| w)
            .sum()
    })
}

/// Customer `p`'s taste (index into [`TASTES`]) if they joined the club,
/// with their ratings in `out` (cleared first).
pub(crate) fn rate(w: &World, p: &Profile, out: &mut Vec<Rating>) -> Option<usize> {
    out.clear();
    let weights = basket_weights(p.persona as usize);
    let beverages: f64 = weights.iter().sum();
    if beverages <= 0.0 {
        return None;
    }
    let mut rng = Rng64::for_key(&[w.seed, stream::TASTES, p.id as u64]);
    // Heavier drinkers join more often.
    if !rng.chance((0.3 + beverages).min(0.8)) {
        return None;
    }
    // The persona's basket leans the taste, a floor keeps every taste in
    // every drinking persona.
    let taste = Weighted::new(&weights.map(|x| x + 0.05)).sample(&mut rng);
    let start = p.signup_us.max(w.cal.start_us);
    if start >= w.cal.end_us {
        return None;
    }
    let subcats = TASTES.map(|(_, s)| subcat_index(s).expect("taste subcategory exists"));
    for _ in 0..MIN_RATINGS + rng.poisson(EXTRA) {
        let on_taste = rng.chance(ON_TASTE);
        let subcat = if on_taste {
            subcats[taste]
        } else {
            let other = rng.below(3) as usize;
            subcats[if other >= taste { other + 1 } else { other }]
        };
        let (lo, hi) = w.assortment.subcat_range[subcat];
        let product = lo + rng.below(u64::from(hi - lo)) as u32;
        let stars = if on_taste {
            4 + i32::from(rng.chance(0.6))
        } else {
            1 + rng.below(3) as i32
        };
        let ts = start + rng.below((w.cal.end_us - start) as u64) as i64;
        out.push(Rating { product, stars, ts });
    }
    Some(taste)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    /// Members rate mostly their taste's subcategory, rate it higher, and
    /// every taste occurs.
    #[test]
    fn ratings_follow_the_taste() {
        let w = World::new(42, NaiveDate::from_ymd_opt(2026, 10, 31).unwrap(), 24).unwrap();
        let mut scratch = super::super::sim::Scratch::default();
        let mut out = Vec::new();
        let (mut on, mut all, mut seen) = (0usize, 0usize, [0usize; 4]);
        for id in 1..=3000 {
            let p = super::super::sim::simulate(&w, id, &mut scratch);
            let Some(t) = rate(&w, &p, &mut out) else {
                assert!(out.is_empty());
                continue;
            };
            seen[t] += 1;
            let subcat = subcat_index(TASTES[t].1).unwrap() as u16;
            for r in &out {
                let mine = w.assortment.products[r.product as usize].subcat == subcat;
                assert_eq!(mine, r.stars >= 4, "stars {}", r.stars);
                assert!(r.ts >= p.signup_us.max(w.cal.start_us) && r.ts < w.cal.end_us);
                on += usize::from(mine);
                all += 1;
            }
        }
        assert!(seen.iter().all(|&n| n > 0), "{seen:?}");
        let share = on as f64 / all as f64;
        assert!((share - ON_TASTE).abs() < 0.03, "{share}");
    }
}
