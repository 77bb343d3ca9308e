//! Scoring speed of the recommender, a bench of the `microseg-kernels`
//! crate (no DataFusion): generated interactions of a retail shape (a
//! skewed catalogue, each segment with its own favourites, repeat
//! purchases), the model built and prepared untimed, then `recommend(c, k)`
//! for every customer on one thread, best of `PASSES`. The checksum covers
//! every item, score bit and reason, so two builds that print the same
//! checksum ranked everyone the same.
//!
//! ```text
//! cargo bench -p microseg-kernels --bench recommend_score -- [CUSTOMERS [ITEMS [K]]]
//! ```

use std::hint::black_box;
use std::time::Instant;

use microseg_kernels::recommend::{
    AlsSettings, Method, Recommendation, Recommender, Row, Settings, Source, build,
};

const PASSES: usize = 3;
/// Interaction rows a customer gets, drawn evenly from this range; repeats
/// of popular items leave about 24 distinct items.
const ROWS_PER_CUSTOMER: std::ops::RangeInclusive<u64> = 4..=46;
/// Segment cells `region=r?|tier=?`: 5 regions × 2 tiers, with the
/// regions (`tier=*`) as parents.
const REGIONS: u32 = 5;
const TIERS: u32 = 2;

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn interactions(customers: usize, items: usize) -> microseg_kernels::recommend::Interactions {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let segments: Vec<String> = (0..REGIONS)
        .flat_map(|r| (0..TIERS).map(move |t| format!("region=r{r}|tier={t}")))
        .collect();
    let mut rows = Vec::new();
    for c in 0..customers {
        let segment = rng.below(segments.len() as u64) as u32;
        let n = ROWS_PER_CUSTOMER.start()
            + rng.below(ROWS_PER_CUSTOMER.end() - ROWS_PER_CUSTOMER.start() + 1);
        for _ in 0..n {
            // Rank by u²: the top tenth of the catalogue takes about a
            // third of the purchases; each segment ranks the catalogue
            // rotated, so its favourites differ.
            let u = rng.unit();
            let rank = ((u * u) * items as f64) as usize;
            let item = (rank + segment as usize * 97) % items;
            rows.push(Row {
                customer: c as u32,
                item: item as u32,
                weight: 1.0,
                day: rng.below(730) as f64,
                segment,
            });
        }
    }
    build(
        (0..customers).map(|c| c.to_string()).collect(),
        true,
        (0..items).map(|i| format!("sku{i:05}")).collect(),
        false,
        Some(segments),
        rows,
        Some(180.0),
    )
}

/// FNV-1a over everything a recommendation says.
fn checksum(sum: &mut u64, c: usize, recs: &[Recommendation]) {
    let mut add = |x: u64| {
        for b in x.to_le_bytes() {
            *sum ^= u64::from(b);
            *sum = sum.wrapping_mul(0x100_0000_01b3);
        }
    };
    add(c as u64);
    for r in recs {
        add(u64::from(r.item));
        add(r.score.to_bits());
        add(match r.source {
            Source::BuyAgain => 1,
            Source::AlsoBought(i) => 2 | u64::from(i) << 8,
            Source::PopularIn(n) => 3 | u64::from(n) << 8,
            Source::Popular => 4,
            Source::Als => 5,
        });
    }
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .map(|a| a.parse().expect("CUSTOMERS ITEMS K are whole numbers"))
        .collect();
    let customers = args.first().copied().unwrap_or(200_000);
    let items = args.get(1).copied().unwrap_or(1_100);
    let k = args.get(2).copied().unwrap_or(10);
    let started = Instant::now();
    let data = interactions(customers, items);
    let entries = data.len();
    println!(
        "{customers} customers × {} items, {entries} interactions ({:.1} items a customer), built in {:.1} s",
        data.items.len(),
        entries as f64 / customers as f64,
        started.elapsed().as_secs_f64()
    );
    let configurations = [
        (Method::Blend, false),
        (Method::Blend, true),
        (Method::BuyAgain, false),
        (Method::Cooccurrence, true),
        (Method::SegmentPopular, true),
    ];
    for (method, exclude_bought) in configurations {
        let settings = Settings {
            method,
            exclude_bought,
            min_support: 5,
            als: AlsSettings::default(),
        };
        let r = Recommender::new(data.clone(), settings);
        r.prepare();
        // Untimed, and it warms the caches the timed passes meet.
        let mut sum = 0xcbf2_9ce4_8422_2325u64;
        for c in 0..customers {
            checksum(&mut sum, c, &r.recommend(c, k));
        }
        let mut best = f64::INFINITY;
        for _ in 0..PASSES {
            let started = Instant::now();
            for c in 0..customers {
                black_box(r.recommend(black_box(c), k));
            }
            best = best.min(started.elapsed().as_secs_f64());
        }
        println!(
            "{:<16} exclude_bought {:<5} k {k}: {:>9.0} customers/s ({:.3} s), checksum {sum:016x}",
            method.name(),
            exclude_bought,
            customers as f64 / best,
            best
        );
    }
}
