//! The trigger views of `sql/triggers/` and the experiment readout of
//! `sql/experiments/`, loaded as an analyst would (file by file through
//! `Engine::split_script` and `Engine::sql`) and checked on the medium
//! generated lake against what the generator planted: `_truth/personas`
//! (persona, life event) or the planted behaviour recomputed in plain SQL
//! written differently from the view (other tables, other formulas).
//!
//! Each test prints precision and recall; the floors are explained where
//! they are asserted. "Now" is the latest event in the lake, as in the views.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::util::display::array_value_to_string;
use microseg::{Engine, EngineOptions};

use crate::fixtures::medium_lake;

async fn open() -> Engine {
    let lake = medium_lake().to_string_lossy().into_owned();
    Engine::open(&lake, EngineOptions::default())
        .await
        .unwrap_or_else(|e| panic!("open {lake}: {e}"))
}

fn library_file(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// Runs every statement of a library file, after replacing parameter
/// constants the way an analyst edits them; each `from` must occur, so a
/// renamed parameter fails here rather than silently testing the default.
async fn load(engine: &Engine, relative: &str, edits: &[(&str, &str)]) {
    let mut sql = std::fs::read_to_string(library_file(relative))
        .unwrap_or_else(|e| panic!("read {relative}: {e}"));
    for (from, to) in edits {
        assert!(sql.contains(from), "{relative} has no `{from}` to edit");
        sql = sql.replace(from, to);
    }
    for statement in engine.split_script(&sql).unwrap() {
        engine
            .sql(&statement.sql)
            .await
            .unwrap_or_else(|e| panic!("{relative} line {}: {e}", statement.line))
            .collect()
            .await
            .unwrap_or_else(|e| panic!("{relative} line {}: {e}", statement.line));
    }
}

/// Every row as text, in column order.
async fn rows(engine: &Engine, sql: &str) -> Vec<Vec<String>> {
    let batches: Vec<RecordBatch> = engine
        .sql(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .collect()
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let mut out = Vec::new();
    for b in &batches {
        for r in 0..b.num_rows() {
            out.push(
                b.columns()
                    .iter()
                    .map(|c| array_value_to_string(c, r).unwrap())
                    .collect(),
            );
        }
    }
    out
}

/// The customer ids in the first column of a query.
async fn customers(engine: &Engine, sql: &str) -> BTreeSet<i64> {
    rows(engine, sql)
        .await
        .iter()
        .map(|r| {
            r[0].parse()
                .unwrap_or_else(|_| panic!("not a customer id: {r:?}"))
        })
        .collect()
}

/// The answer key as a SQL relation (a URL table over the Parquet file).
fn truth_table() -> String {
    format!(
        "'{}'",
        Path::new(medium_lake())
            .join("_truth/personas/part-0.parquet")
            .display()
    )
}

/// Precision and recall of `found` against `truth`, printed under `name`.
fn score(name: &str, found: &BTreeSet<i64>, truth: &BTreeSet<i64>) -> (f64, f64) {
    let hits = found.intersection(truth).count() as f64;
    let precision = if found.is_empty() {
        0.0
    } else {
        hits / found.len() as f64
    };
    let recall = if truth.is_empty() {
        0.0
    } else {
        hits / truth.len() as f64
    };
    println!(
        "{name}: flagged {}, truth {}, both {hits}: precision {precision:.3}, recall {recall:.3}",
        found.len(),
        truth.len()
    );
    (precision, recall)
}

/// Asserts precision and recall floors, and that the truth is not trivially
/// small (a floor over three customers proves little).
fn assert_floors(
    name: &str,
    found: &BTreeSet<i64>,
    truth: &BTreeSet<i64>,
    min_truth: usize,
    floor: (f64, f64),
) {
    let (precision, recall) = score(name, found, truth);
    assert!(
        truth.len() >= min_truth,
        "{name}: only {} true customers; the check needs at least {min_truth}",
        truth.len()
    );
    assert!(
        precision >= floor.0,
        "{name}: precision {precision:.3} < {}",
        floor.0
    );
    assert!(
        recall >= floor.1,
        "{name}: recall {recall:.3} < {}",
        floor.1
    );
}

const NOW: &str = "(SELECT max(event_ts) FROM events)";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abandoned_cart_finds_the_planted_abandoned_sessions() {
    let engine = open().await;
    load(&engine, "sql/triggers/abandoned_cart.sql", &[]).await;
    let found = customers(&engine, "SELECT customer_id FROM trigger_abandoned_cart").await;
    // Planted: a purchase session's adds are followed by the order within its
    // 3–63 minutes, an abandoned session's adds by no order. So an add to cart
    // from 7 days to 24 hours before now with no order (orders table, not the
    // purchase events the view reads) at or after it is a planted abandoned
    // cart the customer did not come back to.
    let truth = customers(
        &engine,
        &format!(
            "SELECT DISTINCT a.customer_id FROM events a
             WHERE a.event_type = 'add_to_cart'
               AND a.event_ts >= {NOW} - INTERVAL '168 hours'
               AND a.event_ts <= {NOW} - INTERVAL '24 hours'
               AND NOT EXISTS (SELECT 1 FROM orders o
                               WHERE o.customer_id = a.customer_id AND o.order_ts >= a.event_ts)"
        ),
    )
    .await;
    // Planted directly (the sessions exist or not), so both at least 0.99:
    // the only legitimate differences are carts whose every product was
    // taken out again, which the generator never does outside purchases.
    // (A 12-hour wait instead of 24 already drops precision to 0.965.)
    assert_floors("abandoned_cart", &found, &truth, 50, (0.99, 0.99));

    // Every listed item was put in the cart by that customer in the week.
    let stray = rows(
        &engine,
        &format!(
            "WITH listed AS (SELECT customer_id, unnest(items) AS sku FROM trigger_abandoned_cart),
                  added AS (SELECT DISTINCT customer_id, sku FROM events
                            WHERE event_type = 'add_to_cart' AND event_ts >= {NOW} - INTERVAL '7 days')
             SELECT l.customer_id, l.sku FROM listed l
             LEFT JOIN added a ON a.customer_id = l.customer_id AND a.sku = l.sku
             WHERE a.sku IS NULL"
        ),
    )
    .await;
    assert!(stray.is_empty(), "items never added: {stray:?}");
    let empty = rows(
        &engine,
        "SELECT customer_id FROM trigger_abandoned_cart WHERE cardinality(items) = 0 OR cart_value <= 0 OR hours_since_cart < 24",
    )
    .await;
    assert!(
        empty.is_empty(),
        "carts without items, value or age: {empty:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browse_abandonment_matches_a_reference_and_favours_browsing_personas() {
    let engine = open().await;
    load(&engine, "sql/triggers/browse_abandonment.sql", &[]).await;
    let found = customers(
        &engine,
        "SELECT DISTINCT customer_id FROM trigger_browse_abandonment",
    )
    .await;
    // Not a planted label but a consequence of planted sessions, so the
    // reference recomputes the definition another way: views counted by a
    // window function, purchases found through orders' items one by one.
    let truth = customers(
        &engine,
        &format!(
            "WITH v AS (
               SELECT customer_id, category, event_ts,
                      count(*) OVER (PARTITION BY customer_id, category) AS n,
                      min(event_ts) OVER (PARTITION BY customer_id, category) AS first_ts
               FROM events
               WHERE event_type = 'product_view' AND category IS NOT NULL
                 AND event_ts BETWEEN {NOW} - INTERVAL '7 days' AND {NOW})
             SELECT DISTINCT v.customer_id FROM v
             WHERE v.n >= 3
               AND NOT EXISTS (SELECT 1 FROM order_items i JOIN orders o ON o.order_id = i.order_id
                               WHERE o.customer_id = v.customer_id AND i.category = v.category
                                 AND o.order_ts >= v.first_ts)"
        ),
    )
    .await;
    // Two formulations of one rule: anything below 0.99 is a logic error.
    assert_floors("browse_abandonment", &found, &truth, 50, (0.99, 0.99));

    // Planted: tech enthusiasts browse 2.5 sessions a month, store regulars
    // 0.1; the trigger must reflect that (by far, hence only "higher").
    let rate = rows(
        &engine,
        &format!(
            "SELECT p.persona, avg(CASE WHEN b.customer_id IS NULL THEN 0.0 ELSE 1.0 END)
             FROM {} p LEFT JOIN (SELECT DISTINCT customer_id FROM trigger_browse_abandonment) b
               ON b.customer_id = p.customer_id
             WHERE p.persona IN ('tech_enthusiast', 'store_regular') GROUP BY 1 ORDER BY 1",
            truth_table()
        ),
    )
    .await;
    println!("browse_abandonment share flagged by persona: {rate:?}");
    let share = |persona: &str| -> f64 {
        rate.iter().find(|r| r[0] == persona).unwrap()[1]
            .parse()
            .unwrap()
    };
    assert!(
        share("tech_enthusiast") > 2.0 * share("store_regular"),
        "{rate:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slipping_matches_a_lag_reference_and_catches_drop_outs() {
    let engine = open().await;
    load(&engine, "sql/triggers/slipping.sql", &[]).await;
    let found = customers(&engine, "SELECT customer_id FROM trigger_slipping").await;
    // The same rule through LAG and DataFusion's median instead of
    // interpurchase_stats.
    let truth = customers(
        &engine,
        &format!(
            "WITH g AS (
               SELECT customer_id, order_ts,
                      (date_part('epoch', order_ts)
                       - date_part('epoch', lag(order_ts) OVER (PARTITION BY customer_id ORDER BY order_ts))) / 86400.0 AS gap
               FROM orders WHERE status <> 'cancelled'),
             c AS (SELECT customer_id, count(*) AS n, median(gap) AS med, max(order_ts) AS last_ts FROM g GROUP BY 1)
             SELECT customer_id FROM c
             WHERE n >= 3 AND (date_part('epoch', {NOW}) - date_part('epoch', last_ts)) / 86400.0 > 2 * med"
        ),
    )
    .await;
    assert_floors("slipping", &found, &truth, 200, (0.99, 0.99));

    // Planted: BG/NBD drop-out, p ≈ 0.33 per purchase for the lapsed
    // persona against 1/81 for premium loyalists; most lapsed customers
    // have left, so they must be flagged far more often.
    let rate = rows(
        &engine,
        &format!(
            "SELECT p.persona, avg(CASE WHEN s.customer_id IS NULL THEN 0.0 ELSE 1.0 END)
             FROM {} p LEFT JOIN trigger_slipping s ON s.customer_id = p.customer_id
             JOIN (SELECT customer_id FROM orders WHERE status <> 'cancelled' GROUP BY 1 HAVING count(*) >= 3) o
               ON o.customer_id = p.customer_id
             WHERE p.persona IN ('lapsed', 'premium_loyalist') GROUP BY 1 ORDER BY 1",
            truth_table()
        ),
    )
    .await;
    println!("slipping share flagged (customers with 3+ purchases) by persona: {rate:?}");
    let share = |persona: &str| -> f64 {
        rate.iter().find(|r| r[0] == persona).unwrap()[1]
            .parse()
            .unwrap()
    };
    // A customer who is still buying is flagged too when the current wait
    // happens to be long: for exponential gaps P(wait > 2 × median) = 1/4,
    // and premium loyalists' rate varies over the year (share ≈ 0.43 on
    // this lake). Drop-outs add to that, so lapsed customers (≈ 0.58) must
    // stand clearly above; 0.08 is about two standard errors of the
    // difference at ~200 customers per persona.
    assert!(
        share("lapsed") > share("premium_loyalist") + 0.08,
        "{rate:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn life_events_recover_the_answer_key() {
    let engine = open().await;
    load(&engine, "sql/triggers/life_events.sql", &[]).await;
    let truth_of = |event: &str| {
        format!(
            "SELECT customer_id FROM {} WHERE life_event = '{event}'",
            truth_table()
        )
    };

    // Moves are planted directly (one address_change at the exact time), so
    // precision and recall at least 0.99, and the dates must be identical.
    let moved = customers(
        &engine,
        "SELECT customer_id FROM trigger_life_events WHERE life_event = 'moved'",
    )
    .await;
    let truth = customers(&engine, &truth_of("moved")).await;
    assert_floors("life_events moved", &moved, &truth, 100, (0.99, 0.99));
    let off = rows(
        &engine,
        &format!(
            "SELECT g.customer_id FROM trigger_life_events g JOIN {} t USING (customer_id)
             WHERE g.life_event = 'moved' AND g.event_ts <> t.life_event_ts",
            truth_table()
        ),
    )
    .await;
    assert!(off.is_empty(), "move dates differ from the key: {off:?}");

    // A new baby is only visible through purchases, and not always: a
    // customer who dropped out before the event buys nothing afterwards,
    // and 45% of later lines (85% in the burst) come from four baby
    // subcategories that occasional buyers, bargain hunters and young-parent
    // personas buy anyway. So precision is measured against the key and
    // recall against the detectable births (some essentials bought after the
    // event, none before); the floors are far below 0.9 on purpose and
    // guard the inference from getting worse: precision 0.25 is still >10×
    // the 2% base rate of births.
    let found = customers(
        &engine,
        "SELECT customer_id FROM trigger_life_events WHERE life_event = 'new_parent'",
    )
    .await;
    let births = customers(&engine, &truth_of("baby")).await;
    let detectable = customers(
        &engine,
        &format!(
            "WITH e AS (
               SELECT o.customer_id, o.order_ts FROM orders o JOIN order_items i ON i.order_id = o.order_id
               WHERE o.status <> 'cancelled' AND i.subcategory IN ('diapers', 'baby_food', 'strollers'))
             SELECT t.customer_id FROM {} t
             WHERE t.life_event = 'baby'
               AND EXISTS (SELECT 1 FROM e WHERE e.customer_id = t.customer_id AND e.order_ts >= t.life_event_ts)
               AND NOT EXISTS (SELECT 1 FROM e WHERE e.customer_id = t.customer_id AND e.order_ts < t.life_event_ts)",
            truth_table()
        ),
    )
    .await;
    let (precision, recall_all) = score("life_events new_parent vs all births", &found, &births);
    let (_, recall) = score(
        "life_events new_parent vs detectable births",
        &found,
        &detectable,
    );
    let base = births.len() as f64 / crate::fixtures::MEDIUM_LAKE_CUSTOMERS as f64;
    println!(
        "life_events new_parent: base rate {base:.3}, enrichment {:.1}x",
        precision / base
    );
    assert!(
        detectable.len() >= 30,
        "{} detectable births",
        detectable.len()
    );
    assert!(precision >= 0.25, "new_parent precision {precision:.3}");
    assert!(
        precision >= 10.0 * base,
        "new_parent precision {precision:.3} vs base {base:.3}"
    );
    assert!(
        recall >= 0.35,
        "new_parent recall of detectable births {recall:.3}"
    );
    assert!(recall_all > 0.0);
    // For detectable births the first essentials order follows the birth:
    // within 120 days (the burst lasts about three months). Customers who
    // bought essentials before (gifts, older children) are dated at their
    // first such order, which is not the birth.
    let listed = detectable
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let late = rows(
        &engine,
        &format!(
            "SELECT g.customer_id, g.event_ts, t.life_event_ts FROM trigger_life_events g JOIN {} t USING (customer_id)
             WHERE g.life_event = 'new_parent' AND t.customer_id IN ({listed})
               AND (g.event_ts < t.life_event_ts OR g.event_ts > t.life_event_ts + INTERVAL '120 days')",
            truth_table()
        ),
    )
    .await;
    assert!(
        late.is_empty(),
        "new_parent dates far from the birth: {late:?}"
    );
}

/// Great-circle distance written out (not the haversine_km function).
fn distance_km_sql(lat1: &str, lon1: &str, lat2: &str, lon2: &str) -> String {
    format!(
        "2 * 6371.0088 * asin(sqrt(
            power(sin(radians({lat2} - {lat1}) / 2), 2)
            + cos(radians({lat1})) * cos(radians({lat2})) * power(sin(radians({lon2} - {lon1}) / 2), 2)))"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn near_store_now_matches_a_plain_distance_reference() {
    // The default hour holds only a handful of app users on this lake, so
    // the check runs on the default and on a window widened to a week the way
    // an analyst would edit it.
    for (window, min_truth) in [("1 hour", 1), ("7 days", 100)] {
        let engine = open().await;
        let edit = format!("INTERVAL '{window}' AS window");
        load(
            &engine,
            "sql/triggers/near_store_now.sql",
            &[("INTERVAL '1 hour' AS window", edit.as_str())],
        )
        .await;
        let found = customers(&engine, "SELECT customer_id FROM trigger_near_store_now").await;
        let distance = distance_km_sql("e.lat", "e.lon", "s.lat", "s.lon");
        let truth = customers(
            &engine,
            &format!(
                "SELECT DISTINCT e.customer_id FROM events e CROSS JOIN stores s
                 WHERE e.channel = 'app' AND e.lat IS NOT NULL
                   AND e.event_ts > {NOW} - INTERVAL '{window}' AND e.event_ts <= {NOW}
                   AND {distance} <= 1.6"
            ),
        )
        .await;
        // The same geometry computed twice: only rounding at exactly 1.6 km
        // could differ.
        assert_floors(
            &format!("near_store_now ({window})"),
            &found,
            &truth,
            min_truth,
            (0.99, 0.99),
        )
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unhappy_finds_the_planted_negative_tickets() {
    // Planted: each ticket's sentiment is drawn first and its text comes
    // from that sentiment's templates; these phrases occur only in the
    // negative ones (src/generate/text.rs). csat ≤ 2 is only ever drawn for
    // negative tickets.
    const NEGATIVE: [&str; 8] = [
        " disappointed with ",
        "Not happy at all with ",
        " was terrible and nobody answered",
        " frustrated: ",
        "I am not satisfied with ",
        "Very bad experience with ",
        " is not working and I am ",
        "I am not happy with ",
    ];
    let negative = NEGATIVE
        .iter()
        .map(|p| format!("strpos(text, '{p}') > 0"))
        .collect::<Vec<_>>()
        .join(" OR ");
    // 30 days hold a few dozen unhappy customers here; a year adds a sample
    // large enough for the floor to mean something.
    for (days, min_truth) in [(30, 20), (365, 300)] {
        let engine = open().await;
        let edit = format!("INTERVAL '{days} days' AS lookback");
        load(
            &engine,
            "sql/triggers/unhappy.sql",
            &[("INTERVAL '30 days' AS lookback", edit.as_str())],
        )
        .await;
        let found = customers(&engine, "SELECT customer_id FROM trigger_unhappy").await;
        let truth = customers(
            &engine,
            &format!(
                "SELECT DISTINCT customer_id FROM tickets
                 WHERE created_ts >= {NOW} - INTERVAL '{days} days' AND created_ts <= {NOW}
                   AND ({negative})"
            ),
        )
        .await;
        // The negative label is planted directly and the sentiment lexicon
        // is meant to read these templates right (negations included), so
        // at least 0.9 each.
        assert_floors(
            &format!("unhappy ({days} days)"),
            &found,
            &truth,
            min_truth,
            (0.9, 0.9),
        );
    }
}

/// One row of lift_by_segment: (uplift points, ci low, ci high, p value).
async fn lift_rows(engine: &Engine) -> BTreeMap<String, (f64, f64, f64, f64, f64)> {
    rows(
        engine,
        "SELECT segment, uplift_pts, ci_low_pts, ci_high_pts, coalesce(p_value, 1.0), holdout_rate FROM lift_by_segment",
    )
    .await
    .into_iter()
    .map(|r| {
        let f = |i: usize| -> f64 { r[i].parse().unwrap_or_else(|_| panic!("{r:?}")) };
        (r[0].clone(), (f(1), f(2), f(3), f(4), f(5)))
    })
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lift_by_segment_recovers_the_planted_campaign_effect() {
    // As shipped: RFM segments, plus the pooled '(all)' row.
    let engine = open().await;
    load(&engine, "sql/experiments/lift_by_segment.sql", &[]).await;
    let by_rfm = lift_rows(&engine).await;
    for (segment, row) in &by_rfm {
        println!(
            "lift by rfm segment {segment}: (uplift pts, ci low, ci high, p, holdout rate) = {row:?}"
        );
    }
    let all = by_rfm["(all)"];
    // Most personas gain from mail, so pooled it is clearly positive.
    assert!(all.0 > 0.0 && all.1 > 0.0 && all.3 < 1e-6, "(all): {all:?}");
    assert!(by_rfm.len() >= 8, "segments: {:?}", by_rfm.keys());

    // The same readout by the hidden persona, swapping the segment view as
    // the file's header describes: the planted effects must come back.
    let engine = open().await;
    let persona_view = format!(
        "SELECT customer_id, persona AS segment FROM {};",
        truth_table()
    );
    load(
        &engine,
        "sql/experiments/lift_by_segment.sql",
        &[(
            "SELECT customer_id, segment FROM rfm(orders, customer_id, order_ts, amount);",
            persona_view.as_str(),
        )],
    )
    .await;
    let by_persona = lift_rows(&engine).await;
    // Planted u per persona (sql/README.md): expected uplift ≈ u × (1 −
    // holdout conversion). With a fixed seed the 95% intervals either hold
    // the planted value or not, deterministically; they all do here, and a
    // change that biases the readout moves them off.
    let planted = [
        ("premium_loyalist", 0.0),
        ("bargain_hunter", 0.25),
        ("lapsed", 0.12),
        ("new_customer", 0.15),
        ("seasonal_gifter", 0.10),
        ("app_first_commuter", 0.02),
        ("craft_beer_aficionado", 0.04),
        ("young_parent", 0.05),
        ("occasional", 0.05),
        ("store_regular", 0.01),
    ];
    for (persona, u) in planted {
        let (uplift, low, high, p, holdout) = by_persona[persona];
        let expected = 100.0 * u * (1.0 - holdout);
        println!(
            "lift {persona}: uplift {uplift:.2} pts (95% {low:.2}..{high:.2}, p {p:.2e}), planted ≈ {expected:.2}"
        );
        assert!(
            low <= expected && expected <= high,
            "{persona}: planted {expected:.2} pts outside {low:.2}..{high:.2}"
        );
    }
    let bargain = by_persona["bargain_hunter"];
    assert!(
        bargain.1 > 10.0 && bargain.3 < 1e-9,
        "bargain_hunter: {bargain:?}"
    );
    // Tech enthusiasts lose 60% of their organic orders when mailed.
    let tech = by_persona["tech_enthusiast"];
    println!("lift tech_enthusiast: {tech:?}");
    assert!(
        tech.0 < 0.0 && tech.2 < 0.0 && tech.3 < 0.01,
        "tech_enthusiast: {tech:?}"
    );
}
