use super::*;

/// Customers 1..4 and their items, one row each, day = position.
fn rows(
    baskets: &[(&str, &[&str], Option<&str>)],
) -> (Vec<String>, Vec<String>, Vec<String>, Vec<Row>) {
    let mut customers = Vec::new();
    let mut items: Vec<String> = Vec::new();
    let mut segments: Vec<String> = Vec::new();
    let mut out = Vec::new();
    for (c, basket, segment) in baskets {
        customers.push(c.to_string());
        let segment = segment.map_or(NO_SEGMENT, |s| {
            if !segments.iter().any(|x| x == s) {
                segments.push(s.to_string());
            }
            segments.iter().position(|x| x == s).unwrap_or(0) as u32
        });
        for item in *basket {
            if !items.iter().any(|x| x == item) {
                items.push(item.to_string());
            }
            out.push(Row {
                customer: customers.len() as u32 - 1,
                item: items.iter().position(|x| x == item).unwrap_or(0) as u32,
                weight: 1.0,
                day: out.len() as f64,
                segment,
            });
        }
    }
    (customers, items, segments, out)
}

fn model(baskets: &[(&str, &[&str], Option<&str>)], settings: Settings) -> Recommender {
    let (customers, items, segments, rows) = rows(baskets);
    let segmented = baskets.iter().any(|b| b.2.is_some());
    let data = build(
        customers,
        true,
        items,
        false,
        segmented.then_some(segments),
        rows,
        None,
    );
    Recommender::new(data, settings)
}

fn settings(method: Method, exclude_bought: bool) -> Settings {
    Settings {
        method,
        exclude_bought,
        min_support: 1,
        als: AlsSettings::default(),
    }
}

const SHOP: [(&str, &[&str], Option<&str>); 4] = [
    ("1", &["a", "b"], None),
    ("2", &["a", "b", "c"], None),
    ("3", &["a", "c"], None),
    ("4", &["d"], None),
];

#[test]
fn association_statistics_by_their_definitions() {
    let r = model(&SHOP, settings(Method::Blend, false));
    let a = r.item("a").unwrap();
    let stats = associations(&r, a, None);
    // b and c are each bought with a by 2 of 4 customers; a by 3, b and c by 2.
    assert_eq!(stats.len(), 2);
    let b = &stats[0];
    assert_eq!(r.data.items[b.item as usize], "b");
    assert_eq!(b.both, 2);
    assert!((b.support - 0.5).abs() < 1e-12);
    assert!((b.confidence - 2.0 / 3.0).abs() < 1e-12);
    // lift = 0.5 / (0.75 · 0.5)
    assert!((b.lift - 4.0 / 3.0).abs() < 1e-12);
    // Zhang: (0.5 − 0.375) / max(0.5 · 0.25, 0.75 · (0.5 − 0.5)) = 1
    assert!((b.zhang - 1.0).abs() < 1e-12);
    // d is never bought with a: not listed.
    assert!(associations(&r, r.item("d").unwrap(), None).is_empty());
}

#[test]
fn cooccurrence_scores_are_summed_cosines() {
    let r = model(&SHOP, settings(Method::Cooccurrence, true));
    let recs = r.recommend(r.customer("1").unwrap(), 5);
    // Customer 1 has a and b; c scores cos(a,c) + cos(b,c) = 2/√6 + 1/2,
    // mostly through a; a and b are bought, so left out.
    assert_eq!(recs.len(), 1);
    assert_eq!(r.data.items[recs[0].item as usize], "c");
    assert_eq!(r.reason(recs[0].source), "also_bought:a");
    assert!((recs[0].score - 1.0).abs() < 1e-12);
    let kept = model(&SHOP, settings(Method::Cooccurrence, false));
    let recs = kept.recommend(kept.customer("1").unwrap(), 5);
    let top = 2.0 / 6f64.sqrt() + 0.5;
    let score = |item: &str| {
        recs.iter()
            .find(|x| kept.data.items[x.item as usize] == item)
            .map(|x| x.score)
            .unwrap()
    };
    assert!((score("b") - 2.0 / 6f64.sqrt() / top).abs() < 1e-12);
    assert!((score("a") - 2.0 / 6f64.sqrt() / top).abs() < 1e-12);
}

#[test]
fn buy_again_ranks_by_decayed_weight() {
    let (customers, items, _, mut rows) = rows(&[("1", &["x", "y", "y"], None)]);
    // y twice, but its first purchase 30 days before x; half-life 10 days.
    rows[0].day = 100.0;
    rows[1].day = 70.0;
    rows[2].day = 71.0;
    let data = build(customers, true, items, false, None, rows, Some(10.0));
    let x = data.items.iter().position(|i| i == "x").unwrap();
    let y = 1 - x;
    let w = |i: usize| data.weight[data.item.iter().position(|&j| j as usize == i).unwrap()];
    assert!((w(x) - 1.0).abs() < 1e-12);
    assert!((w(y) - (0.5f64.powf(3.0) + 0.5f64.powf(2.9))).abs() < 1e-12);
    let r = Recommender::new(data, settings(Method::BuyAgain, false));
    let recs = r.recommend(0, 10);
    assert_eq!(
        recs.iter().map(|x| x.item as usize).collect::<Vec<_>>(),
        [x, y]
    );
    assert!(recs.iter().all(|x| x.source == Source::BuyAgain));
}

#[test]
fn order_of_rows_does_not_matter() {
    let (customers, items, segments, rows) = rows(&SHOP);
    let a = build(
        customers.clone(),
        true,
        items.clone(),
        false,
        Some(segments.clone()),
        rows.clone(),
        Some(7.0),
    );
    let mut reversed = rows;
    reversed.reverse();
    let b = build(
        customers,
        true,
        items,
        false,
        Some(segments),
        reversed,
        Some(7.0),
    );
    assert_eq!(a, b);
}

#[test]
fn numeric_keys_sort_as_numbers() {
    let (sorted, index) = canonical(vec!["10".into(), "9".into(), "100".into()], true);
    assert_eq!(sorted, ["9", "10", "100"]);
    assert_eq!(index, [1, 0, 2]);
}

#[test]
fn micro_segment_parents() {
    assert_eq!(
        parent_label("city=Leeds|channel=app").as_deref(),
        Some("city=Leeds|channel=*")
    );
    assert_eq!(parent_label("city=Leeds|channel=*"), None);
    assert_eq!(parent_label("city=*|channel=*"), None);
    assert_eq!(parent_label("Champions"), None);
}

#[test]
fn small_segments_back_off_to_their_parent() {
    let shop: [(&str, &[&str], Option<&str>); 5] = [
        ("1", &["tea"], Some("city=Leeds|channel=app")),
        ("2", &["tea"], Some("city=Leeds|channel=app")),
        ("3", &["ale"], Some("city=Leeds|channel=web")),
        ("4", &["ale"], Some("city=York|channel=web")),
        ("5", &["ale"], Some("city=York|channel=web")),
    ];
    let r = model(
        &shop,
        Settings {
            method: Method::SegmentPopular,
            exclude_bought: false,
            min_support: 2,
            als: AlsSettings::default(),
        },
    );
    // Customer 3's cell has one customer: Leeds as a whole (3 customers,
    // tea 2, ale 1) decides.
    let recs = r.recommend(r.customer("3").unwrap(), 1);
    assert_eq!(r.data.items[recs[0].item as usize], "tea");
    assert_eq!(r.reason(recs[0].source), "popular_in:city=Leeds|channel=*");
    // Customer 4's cell is large enough.
    let recs = r.recommend(r.customer("4").unwrap(), 1);
    assert_eq!(r.reason(recs[0].source), "popular_in:city=York|channel=web");
    // Unknown customers: a named cell's favourites, or everyone's (ale 3, tea 2).
    let fav = r.favourites(None, 2);
    assert_eq!(r.data.items[fav[0].item as usize], "ale");
    assert_eq!(r.reason(fav[0].source), "popular");
    let fav = r.favourites(Some("city=Leeds|channel=app"), 1);
    assert_eq!(r.data.items[fav[0].item as usize], "tea");
    // Within Leeds, ale is bought by 1 of 3 customers.
    let leeds = r.segments().node("city=Leeds|channel=*");
    let tea = r.item("tea").unwrap();
    assert!(associations(&r, tea, leeds).is_empty());
}

#[test]
fn blend_reason_is_the_largest_part() {
    let r = model(&SHOP, settings(Method::Blend, false));
    let recs = r.recommend(r.customer("1").unwrap(), 4);
    // Own items (weight 1 each, scaled 1) lead; c comes through a.
    assert_eq!(recs[0].source, Source::BuyAgain);
    assert_eq!(recs[1].source, Source::BuyAgain);
    let c = recs
        .iter()
        .find(|x| r.data.items[x.item as usize] == "c")
        .unwrap();
    assert_eq!(r.reason(c.source), "also_bought:a");
}

/// Method `als`: two groups of customers with their own items; a
/// customer gets the unbought item of their own group, reason `als`, and a
/// customer of no interactions would fall back to popularity.
#[test]
fn als_recommends_within_the_taste_group() {
    let baskets: Vec<(&str, &[&str], Option<&str>)> = vec![
        ("1", &["a", "b", "c"], None),
        ("2", &["a", "b", "c"], None),
        ("3", &["a", "b"], None),
        ("4", &["x", "y", "z"], None),
        ("5", &["x", "y", "z"], None),
        ("6", &["x", "y"], None),
    ];
    let mut s = settings(Method::Als, true);
    s.als = AlsSettings {
        factors: 2,
        regularization: 0.05,
        alpha: 4.0,
        iterations: 20,
        seed: 1,
    };
    let m = model(&baskets, s);
    let names = |recs: &[Recommendation]| -> Vec<String> {
        recs.iter()
            .map(|r| m.data.items[r.item as usize].clone())
            .collect()
    };
    let three = m.recommend(m.customer("3").unwrap(), 1);
    assert_eq!(names(&three), ["c"]);
    assert_eq!(m.reason(three[0].source), "als");
    let six = m.recommend(m.customer("6").unwrap(), 1);
    assert_eq!(names(&six), ["z"]);
}

/// Stored factors are used as given (a lake does not refit them when it
/// opens); factors of the wrong shape are ignored and fitted again.
#[test]
fn stored_factors_are_used_not_refitted() {
    let baskets: Vec<(&str, &[&str], Option<&str>)> = vec![
        ("1", &["a", "b"], None),
        ("2", &["a"], None),
        ("3", &["b"], None),
    ];
    let mut s = settings(Method::Als, true);
    s.als.factors = 1;
    let fitted = model(&baskets, s.clone());
    let two = fitted.customer("2").unwrap();
    // Customer "2" gets "b" from any fit; factors that make "b" worthless
    // and give every customer a positive factor leave nothing but "b" to
    // rank, so its score shows which factors were used.
    let items: Vec<f64> = fitted
        .data
        .items
        .iter()
        .map(|i| if i == "b" { 0.0 } else { 1.0 })
        .collect();
    let given = (vec![1.0; 3], items);
    let r = Recommender::with_factors(fitted.data.clone(), s.clone(), Some(given.clone()));
    assert_eq!(r.factors(), Some(&given));
    let recs = r.recommend(two, 1);
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].score, 0.0);
    let wrong = Recommender::with_factors(fitted.data.clone(), s, Some((vec![1.0], vec![1.0])));
    assert_eq!(wrong.factors(), fitted.factors());
}

/// A generated shop: `customers` customers (every ninth without rows),
/// `items` items on a skewed catalogue, `micro_segment` cells of very
/// different sizes (some below `min_support` 4, so they back off) and
/// customers without a segment. `ties` gives every row weight 1 and no
/// decay, so many scores are equal and the tie-break decides; otherwise
/// weights vary (a few zero or negative) and decay with a half-life.
fn generated(customers: usize, items: usize, ties: bool, seed: u64) -> Interactions {
    let mut state = seed;
    let mut next = move |n: u64| {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) % n
    };
    let segments: Vec<String> = [
        "city=Leeds|channel=app",
        "city=Leeds|channel=web",
        "city=York|channel=app",
        "city=York|channel=web",
        "city=Hull|channel=app",
        "Champions",
    ]
    .map(String::from)
    .to_vec();
    let mut rows = Vec::new();
    for c in 0..customers {
        // Hull is rare, so its cell is below min_support.
        let segment = match next(40) {
            0..=3 => NO_SEGMENT,
            4 => 4,
            5..=14 => 0,
            15..=22 => 1,
            23..=28 => 2,
            29..=34 => 3,
            _ => 5,
        };
        if c % 9 == 8 {
            continue;
        }
        for _ in 0..1 + next(25) {
            let u = next(1 << 20) as f64 / f64::from(1 << 20);
            let item = ((u * u * items as f64) as usize + segment as usize % 7 * 13) % items;
            let weight = match (ties, next(30)) {
                (true, _) => 1.0,
                (false, 0) => 0.0,
                (false, 1) => -0.5,
                (false, w) => w as f64 / 4.0,
            };
            rows.push(Row {
                customer: c as u32,
                item: item as u32,
                weight,
                day: next(400) as f64,
                segment,
            });
        }
    }
    build(
        (0..customers).map(|c| c.to_string()).collect(),
        true,
        (0..items).map(|i| format!("i{i}")).collect(),
        false,
        Some(segments),
        rows,
        (!ties).then_some(60.0),
    )
}

/// Item, the three parts, and the item of the customer's that contributed
/// most co-occurrence.
type ReferenceCandidate = (u32, [f64; 3], Option<(u32, f64)>);

/// The scoring as first written: candidates in a hash map, every one
/// ranked by a full sort. The fast path must give exactly its lists.
fn reference(r: &Recommender, c: usize, k: usize, method: Method) -> Vec<Recommendation> {
    let bought = &r.data.item[r.data.range(c)];
    let exclude = r.settings.exclude_bought;
    let by_score = |a: &Recommendation, b: &Recommendation| {
        b.score.total_cmp(&a.score).then(a.item.cmp(&b.item))
    };
    let w = match method {
        Method::BuyAgain => [1.0, 0.0, 0.0],
        Method::Cooccurrence => [0.0, 1.0, 0.0],
        Method::SegmentPopular => [0.0, 0.0, 1.0],
        Method::Blend => BLEND,
        Method::Als => {
            let Some(scores) = r.als_scores(c) else {
                return reference(r, c, k, Method::SegmentPopular);
            };
            let mut out: Vec<Recommendation> = scores
                .iter()
                .enumerate()
                .filter(|(i, _)| !(exclude && bought.binary_search(&(*i as u32)).is_ok()))
                .map(|(i, &score)| Recommendation {
                    item: i as u32,
                    score,
                    source: Source::Als,
                })
                .collect();
            out.sort_by(by_score);
            out.truncate(k);
            return out;
        }
    };
    let own = &r.data.weight[r.data.range(c)];
    let max_own = own.iter().copied().fold(0.0, f64::max);
    let mut at: HashMap<u32, usize> = HashMap::new();
    let mut candidates: Vec<ReferenceCandidate> = Vec::new();
    let mut slot = |item: u32, candidates: &mut Vec<ReferenceCandidate>| {
        *at.entry(item).or_insert_with(|| {
            candidates.push((item, [0.0; 3], None));
            candidates.len() - 1
        })
    };
    if w[0] > 0.0 && max_own > 0.0 {
        for (&i, &x) in bought.iter().zip(own) {
            let s = slot(i, &mut candidates);
            candidates[s].1[0] = x / max_own;
        }
    }
    if w[1] > 0.0 && max_own > 0.0 {
        for (&i, &x) in bought.iter().zip(own) {
            for &(j, sim) in r.neighbours_of(i as usize) {
                let contribution = x / max_own * sim;
                let s = slot(j, &mut candidates);
                let cand = &mut candidates[s];
                cand.1[1] += contribution;
                if cand.2.is_none_or(|(_, best)| contribution > best) {
                    cand.2 = Some((i, contribution));
                }
            }
        }
        let top = candidates.iter().map(|c| c.1[1]).fold(0.0, f64::max);
        if top > 0.0 {
            for c in &mut candidates {
                c.1[1] /= top;
            }
        }
    }
    let node = r.segments().resolve(r.data.segment_of[c]);
    if w[2] > 0.0 {
        let (list, _) = r.segments().popular(node);
        let top = list.first().map_or(0.0, |p| p.1);
        for &(j, _) in list.iter().take(k + bought.len()) {
            slot(j, &mut candidates);
        }
        if top > 0.0 {
            for c in &mut candidates {
                c.1[2] = r.segments().popularity(node, c.0) / top;
            }
        }
    }
    let popular = node.map_or(Source::Popular, Source::PopularIn);
    let mut out: Vec<Recommendation> = candidates
        .into_iter()
        .filter(|(i, _, _)| !(exclude && bought.binary_search(i).is_ok()))
        .filter_map(|(item, parts, via)| {
            let weighted = [0, 1, 2].map(|s| w[s] * parts[s]);
            let score: f64 = weighted.iter().sum();
            if score <= 0.0 {
                return None;
            }
            let best = (0..3).fold(0, |b, s| if weighted[s] > weighted[b] { s } else { b });
            let source = match best {
                0 => Source::BuyAgain,
                1 => Source::AlsoBought(via.map_or(item, |v| v.0)),
                _ => popular,
            };
            Some(Recommendation {
                item,
                score,
                source,
            })
        })
        .collect();
    out.sort_by(by_score);
    out.truncate(k);
    out
}

/// Every customer of two generated shops, every method, both settings of
/// `exclude_bought` and several k: the same items, score bits and reasons
/// as [`reference`]. The shops alternate, so state one model leaves behind
/// on the thread meets a model of another size.
#[test]
fn scoring_matches_the_reference_bit_for_bit() {
    let shops = [generated(320, 110, true, 7), generated(280, 70, false, 11)];
    let methods = [
        Method::BuyAgain,
        Method::Cooccurrence,
        Method::SegmentPopular,
        Method::Blend,
        Method::Als,
    ];
    let key = |recs: &[Recommendation]| -> Vec<(u32, u64, Source)> {
        recs.iter()
            .map(|x| (x.item, x.score.to_bits(), x.source))
            .collect()
    };
    let mut seen = std::collections::HashSet::new();
    let mut ties = 0;
    for method in methods {
        for exclude_bought in [false, true] {
            let mut s = settings(method, exclude_bought);
            s.min_support = 4;
            s.als.factors = 4;
            s.als.iterations = 3;
            let models: Vec<Recommender> = shops
                .iter()
                .map(|data| Recommender::new(data.clone(), s.clone()))
                .collect();
            let mut compared = 0;
            for c in 0..320 {
                for (m, r) in models.iter().enumerate() {
                    if c >= r.data.customers.len() {
                        continue;
                    }
                    for k in [0, 1, 3, 10, 40, 1000] {
                        let want = reference(r, c, k, method);
                        let got = r.recommend(c, k);
                        assert_eq!(
                            key(&got),
                            key(&want),
                            "shop {m}, {method:?}, exclude_bought {exclude_bought}, customer {c}, k {k}"
                        );
                        compared += want.len();
                        ties += want.windows(2).filter(|p| p[0].score == p[1].score).count();
                        for x in &want {
                            seen.insert(std::mem::discriminant(&x.source));
                        }
                    }
                }
            }
            // Buy-again leaving bought items out has nothing to rank.
            let empty = method == Method::BuyAgain && exclude_bought;
            assert_eq!(
                compared > 1000,
                !empty,
                "{method:?}, exclude_bought {exclude_bought}: {compared} compared"
            );
        }
    }
    // The shops reach every reason, and the tie-break matters.
    assert_eq!(seen.len(), 5);
    assert!(ties > 1000, "{ties} ties");
}

/// Threads scoring one model at once each keep their own working memory:
/// every list is still the reference's.
#[test]
fn scoring_on_many_threads_matches_the_reference() {
    let r = Recommender::new(generated(300, 90, true, 3), settings(Method::Blend, true));
    std::thread::scope(|scope| {
        for t in 0..4 {
            let r = &r;
            scope.spawn(move || {
                for c in (t..r.data.customers.len()).step_by(2) {
                    assert_eq!(r.recommend(c, 5), reference(r, c, 5, Method::Blend));
                }
            });
        }
    });
}
