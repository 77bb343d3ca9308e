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
