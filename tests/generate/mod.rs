//! The synthetic lake generator: the table contract, determinism, atomic
//! output, usage errors, and the behaviour it plants for segmentation.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::NaiveDate;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type, Int64Type};
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use microseg::Error;
use microseg::generate::{GenerateOptions, generate};

mod contract;
use contract::contract;

const AS_OF: &str = "2026-10-31";

fn options(customers: u64, seed: u64, out: PathBuf) -> GenerateOptions {
    GenerateOptions {
        customers,
        seed,
        out,
        months: 24,
        as_of: NaiveDate::parse_from_str(AS_OF, "%Y-%m-%d").unwrap(),
        threads: Some(2),
        sources: true,
        tables: None,
    }
}

fn quiet(_: u64, _: u64) {}

/// Share of (non-cancelled) revenue held by the top 5% of customers.
const TOP5_SHARE_SQL: &str = "WITH rev AS (SELECT c.customer_id, \
         coalesce(sum(CASE WHEN o.status <> 'cancelled' THEN o.amount END), 0) AS r \
         FROM customers c LEFT JOIN orders o ON o.customer_id = c.customer_id GROUP BY c.customer_id), \
         ranked AS (SELECT r, row_number() OVER (ORDER BY r DESC) AS rn, count(*) OVER () AS n FROM rev) \
         SELECT CAST(sum(CASE WHEN rn <= ceil(n * 0.05) THEN r ELSE 0 END) AS DOUBLE) \
         / CAST(sum(r) AS DOUBLE) FROM ranked";

pub(crate) fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Relative path -> bytes of every file in a lake.
pub(crate) fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    files_under(dir)
        .into_iter()
        .map(|p| {
            (
                p.strip_prefix(dir).unwrap().to_path_buf(),
                fs::read(&p).unwrap(),
            )
        })
        .collect()
}

async fn register(ctx: &SessionContext, lake: &Path) {
    for (table, partition, _) in contract() {
        let name = if table == "_truth/personas" {
            "personas"
        } else {
            table
        };
        let mut opts = ParquetReadOptions::default();
        if let Some(key) = partition {
            opts = opts.table_partition_cols(vec![(key.to_string(), DataType::Utf8)]);
        }
        ctx.register_parquet(name, lake.join(table).to_str().unwrap(), opts)
            .await
            .unwrap_or_else(|e| panic!("register {table}: {e}"));
    }
}

async fn query(ctx: &SessionContext, sql: &str) -> Vec<RecordBatch> {
    ctx.sql(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .collect()
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

fn col_f64(batches: &[RecordBatch], i: usize) -> Vec<f64> {
    batches
        .iter()
        .flat_map(|b| {
            let c: ArrayRef = cast(b.column(i), &DataType::Float64).unwrap();
            let c = c.as_primitive::<Float64Type>().clone();
            (0..c.len()).map(move |r| if c.is_null(r) { f64::NAN } else { c.value(r) })
        })
        .collect()
}

fn col_str(batches: &[RecordBatch], i: usize) -> Vec<String> {
    batches
        .iter()
        .flat_map(|b| {
            let c: ArrayRef = cast(b.column(i), &DataType::Utf8).unwrap();
            let c = c.as_string::<i32>().clone();
            (0..c.len()).map(move |r| c.value(r).to_string())
        })
        .collect()
}

pub(crate) async fn scalar(ctx: &SessionContext, sql: &str) -> f64 {
    let b = query(ctx, sql).await;
    let v = col_f64(&b, 0);
    assert_eq!(v.len(), 1, "{sql}: expected one row");
    v[0]
}

async fn count(ctx: &SessionContext, sql: &str) -> i64 {
    let b = query(ctx, sql).await;
    let c: ArrayRef = cast(b[0].column(0), &DataType::Int64).unwrap();
    c.as_primitive::<Int64Type>().value(0)
}

/// Per-persona map of a (persona, value) query.
async fn by_persona(ctx: &SessionContext, sql: &str) -> BTreeMap<String, f64> {
    let b = query(ctx, sql).await;
    col_str(&b, 0).into_iter().zip(col_f64(&b, 1)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lake_honours_contract_and_plants_behaviour() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    let customers = 2_000u64;
    let last_seen = AtomicU64::new(0);
    let report = generate(&options(customers, 42, lake.clone()), &|done, total| {
        assert_eq!(total, customers);
        last_seen.fetch_max(done, Ordering::Relaxed);
    })
    .unwrap();
    assert_eq!(
        last_seen.load(Ordering::Relaxed),
        customers,
        "progress reaches the total"
    );
    let mut failures: Vec<String> = Vec::new();
    let mut check = |ok: bool, what: String| {
        if !ok {
            failures.push(what);
        }
    };

    // Atomic output: only the finished lake is left in the parent folder.
    let siblings: Vec<_> = fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    check(
        siblings == vec![std::ffi::OsString::from("lake")],
        format!("leftovers next to the lake: {siblings:?}"),
    );

    // Every table, with exactly the contracted columns and types in every file.
    for (table, partition, want) in contract() {
        let reported = report.tables.iter().find(|t| t.table == table);
        check(
            reported.is_some_and(|t| t.rows > 0 && t.files > 0),
            format!("{table}: missing from report or empty: {reported:?}"),
        );
        let files = files_under(&lake.join(table));
        check(!files.is_empty(), format!("{table}: no files"));
        let mut rows = 0u64;
        for f in &files {
            let name = f.file_name().unwrap().to_str().unwrap();
            check(
                name.starts_with("part-") && name.ends_with(".parquet"),
                format!("{table}: unexpected file {}", f.display()),
            );
            if let Some(key) = partition {
                let dir = f
                    .parent()
                    .unwrap()
                    .file_name()
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .to_string();
                let ok = dir.strip_prefix(&format!("{key}=")).is_some_and(|m| {
                    m.len() == 7
                        && NaiveDate::parse_from_str(&format!("{m}-01"), "%Y-%m-%d").is_ok()
                });
                check(ok, format!("{table}: bad partition folder {dir}"));
            }
            let builder =
                ParquetRecordBatchReaderBuilder::try_new(fs::File::open(f).unwrap()).unwrap();
            rows += builder.metadata().file_metadata().num_rows() as u64;
            let got: Vec<(String, DataType)> = builder
                .schema()
                .fields()
                .iter()
                .map(|fl| (fl.name().clone(), fl.data_type().clone()))
                .collect();
            let want: Vec<(String, DataType)> = want
                .iter()
                .map(|(n, t)| (n.to_string(), t.clone()))
                .collect();
            check(
                got == want,
                format!(
                    "{table}: schema of {}:\n got {got:?}\nwant {want:?}",
                    f.display()
                ),
            );
            for rg in builder.metadata().row_groups() {
                check(
                    rg.num_rows() <= 128 * 1024,
                    format!("{table}: row group of {} rows", rg.num_rows()),
                );
            }
        }
        check(
            reported.is_none_or(|t| t.rows == rows),
            format!(
                "{table}: report says {:?} rows, files hold {rows}",
                reported.map(|t| t.rows)
            ),
        );
    }
    check(
        report.total_rows() == report.tables.iter().map(|t| t.rows).sum::<u64>(),
        "total_rows".into(),
    );

    let ctx = SessionContext::new();
    register(&ctx, &lake).await;

    let n = count(&ctx, "SELECT count(DISTINCT customer_id) FROM customers").await;
    let ids = count(
        &ctx,
        "SELECT count(*) FROM customers WHERE customer_id BETWEEN 1 AND 2000",
    )
    .await;
    check(
        n == 2000 && ids == 2000,
        format!("customer ids: {n} distinct, {ids} in 1..=2000"),
    );
    let n = count(
        &ctx,
        "SELECT count(*) - count(DISTINCT email) FROM customers",
    )
    .await;
    check(n == 0, format!("{n} duplicate emails"));
    let n = count(&ctx, "SELECT count(*) FROM products").await;
    check((300..=2000).contains(&n), format!("{n} products"));
    let n = count(&ctx, "SELECT count(DISTINCT category) FROM products").await;
    check(n == 7, format!("{n} product categories"));
    let beer = count(
        &ctx,
        "SELECT count(DISTINCT subcategory) FROM products WHERE category = 'beverages' AND subcategory IN \
         ('lager','craft_beer','regional_beer','cider','wine','soft_drinks')",
    )
    .await;
    check(
        beer == 6,
        format!("{beer} of the six beverage subcategories"),
    );
    let n = count(&ctx, "SELECT count(*) FROM stores").await;
    check((12..=80).contains(&n), format!("{n} stores"));
    let n = count(
        &ctx,
        "SELECT count(*) FROM stores s WHERE s.city NOT IN (SELECT city FROM customers)",
    )
    .await;
    check(n == 0, format!("{n} stores in cities without customers"));

    // Orders are consistent with their items.
    let n = count(
        &ctx,
        "SELECT count(*) FROM orders o JOIN (SELECT order_id, sum(quantity * unit_price) AS total, \
         sum(quantity) AS qty FROM order_items GROUP BY order_id) i ON o.order_id = i.order_id \
         WHERE o.amount <> i.total - o.discount OR o.n_items <> i.qty",
    )
    .await;
    check(
        n == 0,
        format!("{n} orders whose amount/n_items disagree with their items"),
    );
    let n = count(
        &ctx,
        "SELECT count(*) FROM orders WHERE order_id NOT IN (SELECT order_id FROM order_items)",
    )
    .await;
    check(n == 0, format!("{n} orders without items"));
    let n = count(
        &ctx,
        "SELECT count(*) - count(DISTINCT order_id) FROM orders",
    )
    .await;
    check(n == 0, format!("{n} duplicate order ids"));
    let n = count(
        &ctx,
        "SELECT count(*) FROM order_items i JOIN orders o ON o.order_id = i.order_id \
         WHERE i.order_month <> o.order_month OR i.customer_id <> o.customer_id",
    )
    .await;
    check(
        n == 0,
        format!("{n} items in another month or customer than their order"),
    );
    let n = count(
        &ctx,
        "SELECT count(*) FROM order_items i LEFT JOIN products p ON p.sku = i.sku \
         WHERE p.sku IS NULL OR p.price <> i.unit_price OR p.category <> i.category",
    )
    .await;
    check(n == 0, format!("{n} items not matching the product table"));
    let n = count(
        &ctx,
        "SELECT count(*) FROM orders WHERE (channel = 'store') <> (store_id IS NOT NULL) \
         OR (channel = 'store') <> (device = 'pos') OR channel NOT IN ('web','app','store') \
         OR status NOT IN ('completed','returned','cancelled') OR discount < 0 OR amount <= 0",
    )
    .await;
    check(
        n == 0,
        format!("{n} orders with inconsistent channel/device/store/status"),
    );

    // Time: nothing after as_of, nothing before the window, partitions match timestamps.
    for (table, col) in [
        ("orders", "order_ts"),
        ("events", "event_ts"),
        ("tickets", "created_ts"),
        ("campaign_sends", "sent_ts"),
        ("consents", "ts"),
        ("customers", "signup_ts"),
        ("personas", "life_event_ts"),
    ] {
        let n = count(
            &ctx,
            &format!("SELECT count(*) FROM {table} WHERE {col} >= TIMESTAMP '2026-11-01 00:00:00'"),
        )
        .await;
        check(n == 0, format!("{n} {table}.{col} after as_of"));
    }
    for (table, col) in [
        ("orders", "order_ts"),
        ("events", "event_ts"),
        ("tickets", "created_ts"),
    ] {
        let n = count(
            &ctx,
            &format!("SELECT count(*) FROM {table} WHERE {col} < TIMESTAMP '2024-11-01 00:00:00'"),
        )
        .await;
        check(
            n == 0,
            format!("{n} {table}.{col} before the 24-month window"),
        );
    }
    for (table, key, col) in [
        ("orders", "order_month", "order_ts"),
        ("events", "event_month", "event_ts"),
    ] {
        let n = count(
            &ctx,
            &format!("SELECT count(*) FROM {table} WHERE {key} <> to_char({col}, '%Y-%m')"),
        )
        .await;
        check(
            n == 0,
            format!("{n} {table} rows in the wrong {key} partition"),
        );
        let months = count(&ctx, &format!("SELECT count(DISTINCT {key}) FROM {table}")).await;
        check(months == 24, format!("{table}: {months} months"));
    }
    let n = count(
        &ctx,
        "SELECT count(*) FROM customers c JOIN (SELECT customer_id, min(order_ts) AS first FROM orders \
         GROUP BY customer_id) o ON o.customer_id = c.customer_id WHERE o.first <= c.signup_ts",
    )
    .await;
    check(n == 0, format!("{n} customers ordering before signup"));
    let n = count(
        &ctx,
        "SELECT count(*) FROM events e JOIN customers c ON c.customer_id = e.customer_id WHERE e.event_ts < c.signup_ts",
    )
    .await;
    check(n == 0, format!("{n} events before signup"));

    // Heavy tail: the top 5% of customers hold roughly half the revenue.
    let share5 = scalar(&ctx, TOP5_SHARE_SQL).await;
    check(
        (0.35..=0.70).contains(&share5),
        format!("top-5% revenue share {share5:.3}"),
    );

    // Personas: at least 8, with clearly different order values.
    let aov = by_persona(
        &ctx,
        "SELECT p.persona, avg(CAST(o.amount AS DOUBLE)) FROM orders o JOIN personas p ON p.customer_id = o.customer_id \
         GROUP BY p.persona",
    )
    .await;
    let (lo, hi) = aov
        .values()
        .fold((f64::MAX, 0.0f64), |(l, h), v| (l.min(*v), h.max(*v)));
    check(
        aov.len() >= 8,
        format!("{} personas with orders", aov.len()),
    );
    check(
        hi > 3.0 * lo,
        format!("persona order values too similar: {aov:?}"),
    );
    let n = count(&ctx, "SELECT count(DISTINCT persona) FROM personas").await;
    check((8..=12).contains(&n), format!("{n} personas"));

    // Campaigns: ~10% holdout, conversions backed by real orders, effect differs by persona.
    let holdout = scalar(
        &ctx,
        "SELECT avg(CASE WHEN variant = 'holdout' THEN 1.0 ELSE 0.0 END) FROM campaign_sends",
    )
    .await;
    check(
        (0.07..=0.13).contains(&holdout),
        format!("holdout share {holdout:.3}"),
    );
    let n = count(
        &ctx,
        "SELECT count(*) FROM campaign_sends WHERE variant NOT IN ('treatment','holdout') \
         OR (variant = 'holdout' AND (opened OR clicked)) OR (clicked AND NOT opened) \
         OR (converted <> (revenue > 0))",
    )
    .await;
    check(n == 0, format!("{n} inconsistent campaign sends"));
    let n = count(
        &ctx,
        "WITH w AS (SELECT s.campaign_id, s.customer_id, count(o.order_id) AS k FROM campaign_sends s \
         LEFT JOIN orders o ON o.customer_id = s.customer_id AND o.status <> 'cancelled' \
         AND o.order_ts >= s.sent_ts AND o.order_ts < s.sent_ts + INTERVAL '7 days' \
         GROUP BY s.campaign_id, s.customer_id) \
         SELECT count(*) FROM w JOIN campaign_sends s ON s.campaign_id = w.campaign_id AND s.customer_id = w.customer_id \
         WHERE s.converted <> (w.k > 0)",
    )
    .await;
    check(
        n == 0,
        format!("{n} sends whose converted flag disagrees with orders"),
    );
    let n = count(
        &ctx,
        "WITH latest AS (SELECT c.granted, row_number() OVER (PARTITION BY s.campaign_id, s.customer_id \
         ORDER BY c.ts DESC) AS rn FROM campaign_sends s JOIN consents c ON c.customer_id = s.customer_id \
         AND c.purpose = 'email_marketing' AND c.ts <= s.sent_ts) \
         SELECT (SELECT count(*) FROM campaign_sends) - count(*) FROM latest WHERE rn = 1 AND granted",
    )
    .await;
    check(n == 0, format!("{n} sends without email consent"));
    let uplift = by_persona(
        &ctx,
        "SELECT p.persona, avg(CASE WHEN s.variant = 'treatment' THEN CAST(s.converted AS INT) END) \
         - avg(CASE WHEN s.variant = 'holdout' THEN CAST(s.converted AS INT) END) \
         FROM campaign_sends s JOIN personas p ON p.customer_id = s.customer_id GROUP BY p.persona",
    )
    .await;
    let get = |m: &BTreeMap<String, f64>, k: &str| m.get(k).copied().unwrap_or(f64::NAN);
    let (bargain, premium) = (
        get(&uplift, "bargain_hunter"),
        get(&uplift, "premium_loyalist"),
    );
    check(
        bargain > premium + 0.10,
        format!(
            "bargain_hunter uplift {bargain:.3} should beat premium_loyalist {premium:.3}: {uplift:?}"
        ),
    );
    check(
        premium.abs() < 0.08,
        format!("premium_loyalist uplift {premium:.3} should be about zero"),
    );

    // Seasonality: gifters buy in December; commuters in the morning, young parents late at night.
    let dec = scalar(
        &ctx,
        "SELECT CAST(sum(CASE WHEN date_part('month', o.order_ts) = 12 THEN 1 ELSE 0 END) AS DOUBLE) * 12 / count(*) \
         FROM orders o JOIN personas p ON p.customer_id = o.customer_id WHERE p.persona = 'seasonal_gifter'",
    )
    .await;
    check(
        dec > 2.5,
        format!("seasonal_gifter December index {dec:.2}"),
    );
    let hour_share = |persona: &str, from: i32, to: i32| {
        format!(
            "SELECT avg(CASE WHEN date_part('hour', o.order_ts) BETWEEN {from} AND {to} THEN 1.0 ELSE 0.0 END) \
             FROM orders o JOIN personas p ON p.customer_id = o.customer_id WHERE p.persona = '{persona}'"
        )
    };
    let commuter_morning = scalar(&ctx, &hour_share("app_first_commuter", 7, 8)).await;
    let parent_morning = scalar(&ctx, &hour_share("young_parent", 7, 8)).await;
    check(
        commuter_morning > 2.0 * parent_morning,
        format!("commuter 7-8h share {commuter_morning:.3} vs young parent {parent_morning:.3}"),
    );

    // Life events: moves come with an address change, babies with baby shopping.
    let share = scalar(
        &ctx,
        "SELECT avg(CASE WHEN life_event IS NULL THEN 0.0 ELSE 1.0 END) FROM personas",
    )
    .await;
    check(
        (0.05..=0.15).contains(&share),
        format!("life-event share {share:.3}"),
    );
    let n = count(
        &ctx,
        "SELECT count(*) FROM personas p WHERE p.life_event = 'moved' AND NOT EXISTS (SELECT 1 FROM events e \
         WHERE e.customer_id = p.customer_id AND e.event_type = 'address_change' AND e.event_ts = p.life_event_ts)",
    )
    .await;
    check(n == 0, format!("{n} moves without an address_change event"));
    let baby = by_persona(
        &ctx,
        "SELECT CASE WHEN o.order_ts >= p.life_event_ts THEN 'after' ELSE 'before' END, \
         avg(CASE WHEN i.category = 'baby' THEN 1.0 ELSE 0.0 END) \
         FROM order_items i JOIN orders o ON o.order_id = i.order_id \
         JOIN personas p ON p.customer_id = i.customer_id \
         WHERE p.life_event = 'baby' AND p.persona <> 'young_parent' GROUP BY 1",
    )
    .await;
    check(
        get(&baby, "after") > 2.0 * get(&baby, "before") + 0.05,
        format!("baby category share before/after the event: {baby:?}"),
    );

    // Abandoned carts: add_to_cart sessions without a purchase exist, most for bargain hunters.
    let carts = by_persona(
        &ctx,
        "SELECT p.persona, CAST(sum(CASE WHEN e.event_type = 'add_to_cart' THEN 1 ELSE 0 END) AS DOUBLE) \
         / sum(CASE WHEN e.event_type = 'purchase' THEN 1 ELSE 0 END) \
         FROM events e JOIN personas p ON p.customer_id = e.customer_id GROUP BY p.persona",
    )
    .await;
    check(
        get(&carts, "bargain_hunter") > get(&carts, "premium_loyalist"),
        format!("add_to_cart per purchase by persona: {carts:?}"),
    );
    let n = count(
        &ctx,
        "SELECT count(*) FROM events WHERE event_type = 'purchase'",
    )
    .await;
    let o = count(&ctx, "SELECT count(*) FROM orders").await;
    check(n == o, format!("{n} purchase events for {o} orders"));
    let n = count(
        &ctx,
        "SELECT count(DISTINCT event_type) FROM events WHERE event_type IN ('page_view','product_view','search',\
         'add_to_cart','remove_from_cart','checkout_start','purchase','email_open','email_click','app_open',\
         'wishlist_add','address_change')",
    )
    .await;
    check(n == 12, format!("{n} of 12 event types present"));

    // Tickets: sentiment visible in the text and correlated with csat.
    let csat = by_persona(
        &ctx,
        "SELECT CASE WHEN text LIKE '%not happy%' OR text LIKE '%disappointed%' OR text LIKE '%terrible%' \
         THEN 'negative' WHEN text LIKE '%thank%' OR text LIKE '%great%' THEN 'positive' ELSE 'other' END, \
         avg(CAST(csat AS DOUBLE)) FROM tickets GROUP BY 1",
    )
    .await;
    check(
        get(&csat, "positive") > get(&csat, "negative") + 1.5,
        format!("csat by sentiment: {csat:?}"),
    );
    let n = count(
        &ctx,
        "SELECT count(*) FROM tickets WHERE csat IS NOT NULL AND (csat < 1 OR csat > 5)",
    )
    .await;
    check(n == 0, format!("{n} csat values outside 1..5"));

    println!(
        "top-5% share {share5:.3}; December index {dec:.2}; 7-8h share commuter {commuter_morning:.3} \
         vs young parent {parent_morning:.3}\nAOV {aov:?}\nuplift {uplift:?}\nbaby share {baby:?}\n\
         add_to_cart per purchase {carts:?}\ncsat {csat:?}"
    );
    assert!(
        failures.is_empty(),
        "lake checks failed:\n- {}",
        failures.join("\n- ")
    );
}

#[test]
fn same_seed_same_bytes_other_seed_differs() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a");
    let b = tmp.path().join("b");
    let c = tmp.path().join("c");
    generate(&options(300, 7, a.clone()), &quiet).unwrap();
    let mut again = options(300, 7, b.clone());
    again.threads = Some(1);
    // An existing empty folder is accepted as the destination.
    fs::create_dir(&b).unwrap();
    generate(&again, &quiet).unwrap();
    generate(&options(300, 8, c.clone()), &quiet).unwrap();
    let (sa, sb, sc) = (snapshot(&a), snapshot(&b), snapshot(&c));
    assert!(sa.len() > 50, "{} files", sa.len());
    assert_eq!(sa.keys().collect::<Vec<_>>(), sb.keys().collect::<Vec<_>>());
    for (path, bytes) in &sa {
        assert!(
            sb[path] == *bytes,
            "{} differs between runs with the same seed",
            path.display()
        );
    }
    let customers = Path::new("customers/part-00000.parquet");
    assert_ne!(
        sa[customers], sc[customers],
        "another seed gives other customers"
    );
}

#[test]
fn usage_errors_name_the_option() {
    let tmp = tempfile::tempdir().unwrap();
    let mut o = options(0, 1, tmp.path().join("x"));
    match generate(&o, &quiet) {
        Err(Error::Usage(m)) => assert!(m.contains("--customers"), "{m}"),
        other => panic!("customers = 0 gave {other:?}"),
    }
    o.customers = 10;
    o.months = 0;
    match generate(&o, &quiet) {
        Err(Error::Usage(m)) => assert!(m.contains("--months"), "{m}"),
        other => panic!("months = 0 gave {other:?}"),
    }
    assert_eq!(
        fs::read_dir(tmp.path()).unwrap().count(),
        0,
        "nothing written on usage errors"
    );
}

#[test]
fn non_empty_out_is_rejected_and_left_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("lake");
    fs::create_dir(&out).unwrap();
    fs::write(out.join("keep.txt"), b"precious").unwrap();
    let err = generate(&options(10, 1, out.clone()), &quiet).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains(&out.display().to_string()) && msg.contains("not empty"),
        "{msg}"
    );
    assert_eq!(snapshot(&out).len(), 1);
    assert_eq!(fs::read(out.join("keep.txt")).unwrap(), b"precious");
    assert_eq!(
        fs::read_dir(tmp.path()).unwrap().count(),
        1,
        "no partial folder left behind"
    );
}
