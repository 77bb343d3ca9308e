//! The personas: hidden customer types whose parameters drive every table.
//! `sql/README.md` ("The lake") documents these numbers; keep them in sync.

use super::rng::Weighted;
use super::vocabulary::{SUBCATS, category_index, subcat_index};

/// When a persona's customers signed up.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Signup {
    /// 65% up to four years before the window, 35% during it.
    Mixed,
    /// Within the last `n` days of the window.
    Recent(i64),
    /// One month to four years before the window.
    Old,
}

/// Static parameters of one persona. Rates are per customer.
pub(crate) struct Persona {
    pub name: &'static str,
    /// Share of customers.
    pub share: f64,
    /// BG/NBD purchase rate: λ ~ Gamma(shape r, mean `orders_per_year`/365 per day).
    pub orders_per_year: f64,
    pub r: f64,
    /// BG/NBD drop-out after each purchase: p ~ Beta(a, b).
    pub drop: (f64, f64),
    /// Gamma-Gamma spend: order value ~ Gamma(p, ν), ν ~ Gamma(q, γ) with γ chosen
    /// so the persona's mean order value is `spend_mean` EUR.
    pub spend_mean: f64,
    pub spend_p: f64,
    pub spend_q: f64,
    /// Order channel weights: web, app, store.
    pub channel: [f64; 3],
    /// Device weights for web orders: desktop, mobile, tablet.
    pub web_device: [f64; 3],
    /// Hour-of-day bumps: (centre hour, width in hours, weight).
    pub hours: &'static [(f64, f64, f64)],
    /// Monday..Sunday intensity.
    pub weekday: [f64; 7],
    /// January..December intensity.
    pub month: [f64; 12],
    /// Preferences over category or subcategory names; a category's weight is
    /// spread evenly over its subcategories.
    pub basket: &'static [(&'static str, f64)],
    /// Probability an organic order uses a promo code.
    pub promo_rate: f64,
    /// Base return probability (fashion lines add 0.12).
    pub return_rate: f64,
    /// Abandoned-cart sessions per digital order.
    pub abandon_per_order: f64,
    /// Browse-only sessions per active month.
    pub browse_per_month: f64,
    /// Standalone app opens per active month (app users only).
    pub app_opens_per_month: f64,
    /// Email open probability and click-given-open probability.
    pub email_open: f64,
    pub email_click: f64,
    /// Treatment effect of a campaign send. Positive: probability the send
    /// causes an extra order within 7 days. Negative: probability that each
    /// organic order in those 7 days is lost (the customer is put off).
    pub uplift: f64,
    pub tickets_per_year: f64,
    /// Probability a spontaneous ticket is negative (the rest split
    /// neutral/positive 60/40).
    pub negative: f64,
    pub age: (i32, i32),
    pub signup: Signup,
    /// Weights over [`ACQUISITION`].
    pub acquisition: [f64; 8],
    /// Probability of granting email marketing consent at signup.
    pub email_consent: f64,
}

pub(crate) const ACQUISITION: [&str; 8] = [
    "organic_search",
    "paid_search",
    "social",
    "email",
    "referral",
    "affiliate",
    "store",
    "app_store",
];

const FLAT_WEEK: [f64; 7] = [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0];
/// Mild Black Friday / Christmas lift every persona shares.
const BASE_YEAR: [f64; 12] = [
    0.9, 0.85, 0.95, 0.95, 1.0, 0.95, 0.9, 0.9, 1.0, 1.0, 1.25, 1.4,
];

pub(crate) static PERSONAS: &[Persona] = &[
    Persona {
        name: "premium_loyalist",
        share: 0.05,
        orders_per_year: 20.0,
        r: 0.8,
        drop: (1.0, 80.0),
        spend_mean: 200.0,
        spend_p: 6.0,
        spend_q: 2.5,
        channel: [0.55, 0.35, 0.10],
        web_device: [0.7, 0.2, 0.1],
        hours: &[(20.5, 2.0, 1.0), (12.5, 1.5, 0.4)],
        weekday: [1.0, 1.0, 1.0, 1.0, 0.9, 0.8, 1.0],
        month: BASE_YEAR,
        basket: &[
            ("electronics", 0.22),
            ("home", 0.2),
            ("fashion", 0.25),
            ("wine", 0.18),
            ("travel", 0.15),
        ],
        promo_rate: 0.04,
        return_rate: 0.06,
        abandon_per_order: 0.2,
        browse_per_month: 1.0,
        app_opens_per_month: 1.0,
        email_open: 0.45,
        email_click: 0.35,
        uplift: 0.0,
        tickets_per_year: 0.3,
        negative: 0.25,
        age: (35, 62),
        signup: Signup::Mixed,
        acquisition: [0.3, 0.1, 0.05, 0.1, 0.35, 0.02, 0.05, 0.03],
        email_consent: 0.8,
    },
    Persona {
        name: "bargain_hunter",
        share: 0.13,
        orders_per_year: 9.0,
        r: 1.0,
        drop: (1.0, 25.0),
        spend_mean: 32.0,
        spend_p: 4.0,
        spend_q: 4.0,
        channel: [0.6, 0.3, 0.1],
        web_device: [0.45, 0.45, 0.1],
        hours: &[(21.5, 2.5, 1.0), (13.0, 2.0, 0.5)],
        weekday: [0.8, 0.8, 0.8, 0.8, 0.9, 0.9, 1.0],
        month: [1.3, 0.8, 0.8, 0.8, 0.8, 0.9, 1.1, 0.9, 0.8, 0.9, 1.8, 1.2],
        basket: &[
            ("grocery", 0.3),
            ("fashion", 0.25),
            ("home", 0.2),
            ("soft_drinks", 0.1),
            ("lager", 0.1),
            ("baby", 0.05),
        ],
        promo_rate: 0.65,
        return_rate: 0.08,
        abandon_per_order: 1.5,
        browse_per_month: 1.5,
        app_opens_per_month: 1.0,
        email_open: 0.55,
        email_click: 0.4,
        uplift: 0.25,
        tickets_per_year: 0.4,
        negative: 0.45,
        age: (20, 60),
        signup: Signup::Mixed,
        acquisition: [0.1, 0.25, 0.2, 0.05, 0.05, 0.3, 0.03, 0.02],
        email_consent: 0.9,
    },
    Persona {
        name: "lapsed",
        share: 0.12,
        orders_per_year: 10.0,
        r: 2.0,
        drop: (3.0, 6.0),
        spend_mean: 55.0,
        spend_p: 4.0,
        spend_q: 3.5,
        channel: [0.6, 0.25, 0.15],
        web_device: [0.6, 0.3, 0.1],
        hours: &[(19.0, 3.0, 1.0)],
        weekday: FLAT_WEEK,
        month: BASE_YEAR,
        basket: &[
            ("fashion", 0.25),
            ("home", 0.2),
            ("electronics", 0.15),
            ("grocery", 0.2),
            ("beverages", 0.2),
        ],
        promo_rate: 0.15,
        return_rate: 0.12,
        abandon_per_order: 0.6,
        browse_per_month: 0.6,
        app_opens_per_month: 0.5,
        email_open: 0.15,
        email_click: 0.2,
        uplift: 0.12,
        tickets_per_year: 0.35,
        negative: 0.6,
        age: (25, 65),
        signup: Signup::Old,
        acquisition: [0.25, 0.2, 0.15, 0.05, 0.1, 0.15, 0.05, 0.05],
        email_consent: 0.7,
    },
    Persona {
        name: "new_customer",
        share: 0.08,
        orders_per_year: 8.0,
        r: 2.0,
        drop: (1.0, 8.0),
        spend_mean: 50.0,
        spend_p: 4.0,
        spend_q: 4.0,
        channel: [0.5, 0.4, 0.1],
        web_device: [0.5, 0.4, 0.1],
        hours: &[(20.0, 3.0, 1.0), (12.0, 2.0, 0.4)],
        weekday: FLAT_WEEK,
        month: BASE_YEAR,
        basket: &[
            ("fashion", 0.2),
            ("home", 0.15),
            ("electronics", 0.15),
            ("grocery", 0.2),
            ("beverages", 0.15),
            ("travel", 0.1),
            ("baby", 0.05),
        ],
        promo_rate: 0.2,
        return_rate: 0.08,
        abandon_per_order: 0.8,
        browse_per_month: 1.5,
        app_opens_per_month: 1.0,
        email_open: 0.5,
        email_click: 0.35,
        uplift: 0.15,
        tickets_per_year: 0.5,
        negative: 0.3,
        age: (18, 50),
        signup: Signup::Recent(120),
        acquisition: [0.2, 0.25, 0.25, 0.02, 0.1, 0.1, 0.03, 0.05],
        email_consent: 0.75,
    },
    Persona {
        name: "seasonal_gifter",
        share: 0.08,
        orders_per_year: 3.5,
        r: 1.5,
        drop: (1.0, 20.0),
        spend_mean: 95.0,
        spend_p: 4.0,
        spend_q: 4.0,
        channel: [0.55, 0.15, 0.3],
        web_device: [0.6, 0.3, 0.1],
        hours: &[(14.0, 3.0, 0.7), (20.0, 2.0, 1.0)],
        weekday: [0.6, 0.6, 0.6, 0.7, 0.8, 1.0, 1.0],
        month: [0.4, 0.5, 0.5, 0.5, 0.9, 0.5, 0.5, 0.5, 0.5, 0.6, 3.0, 6.0],
        basket: &[
            ("electronics", 0.25),
            ("fashion", 0.25),
            ("toys", 0.15),
            ("wine", 0.15),
            ("travel", 0.1),
            ("decor", 0.1),
        ],
        promo_rate: 0.15,
        return_rate: 0.1,
        abandon_per_order: 0.5,
        browse_per_month: 0.5,
        app_opens_per_month: 0.3,
        email_open: 0.35,
        email_click: 0.3,
        uplift: 0.10,
        tickets_per_year: 0.25,
        negative: 0.3,
        age: (30, 65),
        signup: Signup::Mixed,
        acquisition: [0.3, 0.2, 0.15, 0.05, 0.1, 0.1, 0.08, 0.02],
        email_consent: 0.7,
    },
    Persona {
        name: "app_first_commuter",
        share: 0.09,
        orders_per_year: 30.0,
        r: 2.0,
        drop: (1.0, 60.0),
        spend_mean: 18.0,
        spend_p: 5.0,
        spend_q: 5.0,
        channel: [0.08, 0.9, 0.02],
        web_device: [0.3, 0.6, 0.1],
        hours: &[(7.8, 0.8, 1.0), (18.0, 1.0, 1.0), (12.5, 1.0, 0.3)],
        weekday: [1.0, 1.0, 1.0, 1.0, 0.9, 0.25, 0.2],
        month: BASE_YEAR,
        basket: &[
            ("snacks", 0.25),
            ("fresh", 0.2),
            ("pantry", 0.1),
            ("soft_drinks", 0.2),
            ("lager", 0.1),
            ("audio", 0.05),
            ("menswear", 0.05),
            ("womenswear", 0.05),
        ],
        promo_rate: 0.1,
        return_rate: 0.03,
        abandon_per_order: 0.4,
        browse_per_month: 1.5,
        app_opens_per_month: 6.0,
        email_open: 0.25,
        email_click: 0.25,
        uplift: 0.02,
        tickets_per_year: 0.25,
        negative: 0.35,
        age: (22, 40),
        signup: Signup::Mixed,
        acquisition: [0.1, 0.1, 0.2, 0.02, 0.08, 0.05, 0.0, 0.45],
        email_consent: 0.6,
    },
    Persona {
        name: "craft_beer_aficionado",
        share: 0.06,
        orders_per_year: 12.0,
        r: 1.5,
        drop: (1.0, 50.0),
        spend_mean: 42.0,
        spend_p: 5.0,
        spend_q: 4.0,
        channel: [0.5, 0.25, 0.25],
        web_device: [0.6, 0.3, 0.1],
        hours: &[(19.0, 2.0, 1.0), (16.0, 2.0, 0.4)],
        weekday: [0.4, 0.4, 0.5, 0.8, 1.0, 1.0, 0.5],
        month: [0.8, 0.8, 0.9, 0.9, 1.0, 1.2, 1.3, 1.3, 1.1, 1.4, 1.0, 1.3],
        basket: &[
            ("craft_beer", 0.5),
            ("regional_beer", 0.25),
            ("cider", 0.07),
            ("lager", 0.05),
            ("snacks", 0.08),
            ("kitchen", 0.05),
        ],
        promo_rate: 0.1,
        return_rate: 0.02,
        abandon_per_order: 0.4,
        browse_per_month: 1.2,
        app_opens_per_month: 1.0,
        email_open: 0.5,
        email_click: 0.45,
        uplift: 0.04,
        tickets_per_year: 0.2,
        negative: 0.2,
        age: (24, 50),
        signup: Signup::Mixed,
        acquisition: [0.25, 0.1, 0.2, 0.05, 0.25, 0.05, 0.08, 0.02],
        email_consent: 0.75,
    },
    Persona {
        name: "young_parent",
        share: 0.06,
        orders_per_year: 14.0,
        r: 1.5,
        drop: (1.0, 40.0),
        spend_mean: 60.0,
        spend_p: 4.0,
        spend_q: 4.0,
        channel: [0.35, 0.6, 0.05],
        web_device: [0.4, 0.5, 0.1],
        hours: &[(22.5, 1.5, 1.0), (5.5, 1.0, 0.7), (13.0, 1.5, 0.4)],
        weekday: FLAT_WEEK,
        month: BASE_YEAR,
        basket: &[
            ("baby", 0.6),
            ("grocery", 0.2),
            ("home", 0.1),
            ("fashion", 0.1),
        ],
        promo_rate: 0.2,
        return_rate: 0.06,
        abandon_per_order: 0.7,
        browse_per_month: 1.2,
        app_opens_per_month: 3.0,
        email_open: 0.4,
        email_click: 0.3,
        uplift: 0.05,
        tickets_per_year: 0.35,
        negative: 0.35,
        age: (24, 40),
        signup: Signup::Mixed,
        acquisition: [0.2, 0.2, 0.25, 0.05, 0.15, 0.05, 0.05, 0.05],
        email_consent: 0.75,
    },
    Persona {
        name: "tech_enthusiast",
        share: 0.05,
        orders_per_year: 5.0,
        r: 1.0,
        drop: (1.0, 30.0),
        spend_mean: 260.0,
        spend_p: 3.0,
        spend_q: 2.5,
        channel: [0.75, 0.15, 0.1],
        web_device: [0.85, 0.1, 0.05],
        hours: &[(22.5, 1.5, 1.0), (13.0, 2.0, 0.3)],
        weekday: [0.9, 0.9, 0.9, 0.9, 0.9, 1.0, 0.9],
        month: BASE_YEAR,
        basket: &[
            ("smartphones", 0.15),
            ("laptops", 0.15),
            ("audio", 0.2),
            ("gaming", 0.25),
            ("smart_home", 0.15),
            ("outdoor", 0.05),
            ("menswear", 0.05),
        ],
        promo_rate: 0.08,
        return_rate: 0.1,
        abandon_per_order: 1.0,
        browse_per_month: 2.5,
        app_opens_per_month: 1.0,
        email_open: 0.3,
        email_click: 0.2,
        uplift: -0.6,
        tickets_per_year: 0.4,
        negative: 0.5,
        age: (18, 45),
        signup: Signup::Mixed,
        acquisition: [0.35, 0.2, 0.15, 0.02, 0.15, 0.08, 0.03, 0.02],
        email_consent: 0.5,
    },
    Persona {
        name: "occasional",
        share: 0.20,
        orders_per_year: 2.5,
        r: 0.7,
        drop: (1.0, 10.0),
        spend_mean: 45.0,
        spend_p: 3.0,
        spend_q: 2.5,
        channel: [0.55, 0.25, 0.2],
        web_device: [0.55, 0.35, 0.1],
        hours: &[(13.0, 4.0, 1.0), (20.0, 2.0, 0.8)],
        weekday: FLAT_WEEK,
        month: BASE_YEAR,
        basket: &[
            ("beverages", 1.0),
            ("electronics", 1.0),
            ("baby", 0.5),
            ("home", 1.0),
            ("travel", 0.7),
            ("fashion", 1.0),
            ("grocery", 1.0),
        ],
        promo_rate: 0.15,
        return_rate: 0.07,
        abandon_per_order: 0.3,
        browse_per_month: 0.3,
        app_opens_per_month: 0.2,
        email_open: 0.25,
        email_click: 0.25,
        uplift: 0.05,
        tickets_per_year: 0.1,
        negative: 0.35,
        age: (18, 75),
        signup: Signup::Mixed,
        acquisition: [0.3, 0.2, 0.15, 0.05, 0.1, 0.1, 0.07, 0.03],
        email_consent: 0.7,
    },
    Persona {
        name: "store_regular",
        share: 0.08,
        orders_per_year: 22.0,
        r: 2.0,
        drop: (1.0, 60.0),
        spend_mean: 38.0,
        spend_p: 5.0,
        spend_q: 5.0,
        channel: [0.08, 0.04, 0.88],
        web_device: [0.8, 0.1, 0.1],
        hours: &[(10.0, 1.5, 1.0), (16.5, 1.5, 0.7)],
        weekday: [0.9, 0.9, 0.9, 0.9, 1.0, 1.0, 0.05],
        month: BASE_YEAR,
        basket: &[
            ("grocery", 0.55),
            ("lager", 0.1),
            ("wine", 0.1),
            ("soft_drinks", 0.1),
            ("home", 0.15),
        ],
        promo_rate: 0.1,
        return_rate: 0.02,
        abandon_per_order: 0.1,
        browse_per_month: 0.1,
        app_opens_per_month: 0.1,
        email_open: 0.3,
        email_click: 0.2,
        uplift: 0.01,
        tickets_per_year: 0.15,
        negative: 0.3,
        age: (40, 80),
        signup: Signup::Mixed,
        acquisition: [0.1, 0.05, 0.03, 0.05, 0.12, 0.02, 0.6, 0.03],
        email_consent: 0.65,
    },
];

/// Index into `PERSONAS` of the persona with this name.
#[cfg(test)]
pub(crate) fn persona_index(name: &str) -> Option<usize> {
    PERSONAS.iter().position(|p| p.name == name)
}

/// A persona with its tables turned into samplers.
pub(crate) struct PersonaModel {
    pub p: &'static Persona,
    pub hours: Weighted,
    /// Weekday and month intensities scaled so each peaks at 1 (thinning acceptance).
    pub weekday: [f64; 7],
    pub month: [f64; 12],
    /// Mean acceptance of the thinning step, so proposals can run at λ / mean
    /// and the realised yearly rate stays λ.
    pub mean_accept: f64,
    pub basket: Weighted,
    pub channel: Weighted,
    pub web_device: Weighted,
    pub acquisition: Weighted,
    /// γ of the Gamma-Gamma spend model.
    pub spend_gamma: f64,
    pub uses_app: bool,
    pub commuter: bool,
}

fn hour_weights(bumps: &[(f64, f64, f64)]) -> [f64; 24] {
    let mut w = [0.0; 24];
    for (h, slot) in w.iter_mut().enumerate() {
        let x = h as f64 + 0.5;
        // A small floor so no hour is impossible.
        *slot = 0.02;
        for &(centre, width, weight) in bumps {
            let mut d = (x - centre).abs();
            if d > 12.0 {
                d = 24.0 - d;
            }
            *slot += weight * (-0.5 * (d / width).powi(2)).exp();
        }
    }
    w
}

fn peak_one<const N: usize>(v: [f64; N]) -> [f64; N] {
    let max = v.iter().cloned().fold(f64::MIN, f64::max);
    v.map(|x| x / max)
}

/// Subcategory weights from a persona's mixed category/subcategory list.
pub(crate) fn basket_weights(spec: &[(&str, f64)]) -> Vec<f64> {
    let mut w = vec![0.0; SUBCATS.len()];
    for &(name, weight) in spec {
        if let Some(si) = subcat_index(name) {
            w[si] += weight;
        } else if let Some(ci) = category_index(name) {
            let members: Vec<usize> = (0..SUBCATS.len())
                .filter(|&s| SUBCATS[s].category == ci)
                .collect();
            for s in &members {
                w[*s] += weight / members.len() as f64;
            }
        } else {
            debug_assert!(false, "unknown category {name}");
        }
    }
    w
}

impl PersonaModel {
    pub fn new(p: &'static Persona) -> Self {
        let weekday = peak_one(p.weekday);
        let month = peak_one(p.month);
        let mean_accept = weekday.iter().sum::<f64>() / 7.0 * month.iter().sum::<f64>() / 12.0;
        PersonaModel {
            p,
            hours: Weighted::new(&hour_weights(p.hours)),
            weekday,
            month,
            mean_accept,
            basket: Weighted::new(&basket_weights(p.basket)),
            channel: Weighted::new(&p.channel),
            web_device: Weighted::new(&p.web_device),
            acquisition: Weighted::new(&p.acquisition),
            // E[order value] = p·γ/(q−1) in the Gamma-Gamma model.
            spend_gamma: p.spend_mean * (p.spend_q - 1.0) / p.spend_p,
            uses_app: p.channel[1] >= 0.2,
            commuter: p.name == "app_first_commuter",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_sum_to_one_and_names_resolve() {
        let total: f64 = PERSONAS.iter().map(|p| p.share).sum();
        assert!((total - 1.0).abs() < 1e-9, "{total}");
        assert!((8..=12).contains(&PERSONAS.len()));
        for p in PERSONAS {
            for (name, _) in p.basket {
                assert!(
                    subcat_index(name).is_some() || category_index(name).is_some(),
                    "{}: {name}",
                    p.name
                );
            }
            assert!(p.spend_q > 1.0, "Gamma-Gamma mean needs q > 1");
            let m = PersonaModel::new(p);
            assert!(m.mean_accept > 0.0 && m.mean_accept <= 1.0);
            assert_eq!(m.basket.len(), SUBCATS.len());
        }
        assert_eq!(persona_index("lapsed"), Some(2));
    }

    #[test]
    fn dayparts_differ_between_personas() {
        let commuter = PersonaModel::new(&PERSONAS[persona_index("app_first_commuter").unwrap()]);
        let parent = PersonaModel::new(&PERSONAS[persona_index("young_parent").unwrap()]);
        assert!(commuter.hours.prob(7) > 3.0 * parent.hours.prob(7));
        assert!(parent.hours.prob(22) > 3.0 * commuter.hours.prob(22));
    }
}
