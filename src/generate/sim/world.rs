//! The state shared by every customer of a run: calendar, assortment,
//! persona models and the weighted choices built from them.

use chrono::{Datelike, NaiveDate};

use crate::generate::assortment::Assortment;
use crate::generate::calendar::Calendar;
use crate::generate::persona::{PERSONAS, PersonaModel};
use crate::generate::rng::Weighted;
use crate::generate::vocabulary::{SUBCATS, subcat_index};

/// Everything shared by all customers of a run.
pub(crate) struct World {
    pub seed: u64,
    pub cal: Calendar,
    pub assortment: Assortment,
    pub personas: Vec<PersonaModel>,
    pub(super) persona_pick: Weighted,
    pub(super) gender: Weighted,
    /// Per life event, the subcategories its purchases shift towards.
    pub(super) life_basket: [Weighted; 3],
    pub(super) as_of_year: i32,
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
