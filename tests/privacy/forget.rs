//! `microseg forget` / `FORGET CUSTOMER`: after it, the person is absent
//! from every table, every Delta version and `table_at`, other people's
//! values are unchanged (against a reference read from the raw Parquet
//! files with the parquet crate alone, before the forget), and the list
//! holds no plain id.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use datafusion::arrow::array::{AsArray, RecordBatch};
use datafusion::arrow::datatypes::{Decimal128Type, Int64Type};
use datafusion::arrow::util::display::array_value_to_string;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use microseg::{Engine, EngineOptions};
use sha2::{Digest, Sha256};

use crate::fixtures::small_lake_copy;

const TABLE: &str = "segments.customer_segments";
const FOLDER: &str = "segments/customer_segments";

fn microseg(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_microseg"))
        .args(args)
        .env_remove("MICROSEG_LAKE")
        .output()
        .expect("run microseg")
}

fn ok(o: &std::process::Output) -> String {
    assert!(
        o.status.success(),
        "failed: {}{}",
        String::from_utf8_lossy(&o.stderr),
        String::from_utf8_lossy(&o.stdout)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Materializes the daily job at two dates: a Delta table with two versions.
fn materialize(lake: &Path) {
    let job = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sql/jobs/daily_segments.toml");
    for date in ["2025-09-30", "2025-10-31"] {
        ok(&microseg(&[
            "materialize",
            "--lake",
            lake.to_str().unwrap(),
            job.to_str().unwrap(),
            "--as-of",
            date,
        ]));
    }
}

/// Every Parquet file under `dir`.
fn parquet_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "parquet") {
                out.push(path);
            }
        }
    }
    out
}

/// The raw files' batches, read by the parquet crate alone.
fn raw(dir: &Path) -> Vec<RecordBatch> {
    parquet_files(dir)
        .into_iter()
        .flat_map(|f| {
            ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&f).unwrap())
                .unwrap()
                .build()
                .unwrap()
                .map(|b| b.unwrap())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Per customer: orders and the sum of amounts in cents, from raw files.
fn order_totals(batches: &[RecordBatch]) -> BTreeMap<i64, (i64, i128)> {
    let mut totals = BTreeMap::new();
    for b in batches {
        let ids = b
            .column_by_name("customer_id")
            .unwrap()
            .as_primitive::<Int64Type>();
        let amounts = b
            .column_by_name("amount")
            .unwrap()
            .as_primitive::<Decimal128Type>();
        for i in 0..b.num_rows() {
            let e = totals.entry(ids.value(i)).or_insert((0, 0));
            e.0 += 1;
            e.1 += amounts.value(i);
        }
    }
    totals
}

async fn collect(engine: &Engine, sql: &str) -> Result<Vec<RecordBatch>, String> {
    match engine.sql(sql).await {
        Ok(df) => df.collect().await.map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    }
}

/// Rows as sorted text lines, for comparing results as bags.
fn lines(batches: &[RecordBatch]) -> Vec<String> {
    let mut out = Vec::new();
    for b in batches {
        for row in 0..b.num_rows() {
            let cells: Vec<String> = b
                .columns()
                .iter()
                .map(|c| array_value_to_string(c, row).unwrap())
                .collect();
            out.push(cells.join("|"));
        }
    }
    out.sort();
    out
}

fn count_of(batches: &[RecordBatch]) -> i64 {
    batches[0].column(0).as_primitive::<Int64Type>().value(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forget_erases_one_customer_everywhere_and_no_one_else() {
    let lake = small_lake_copy();
    let root = lake.path().to_str().unwrap().to_string();
    materialize(lake.path());
    let before = Engine::open(&root, EngineOptions::default()).await.unwrap();
    // A customer in both snapshots of the Delta table and with orders.
    let victim = count_of(
        &collect(
            &before,
            &format!(
                "SELECT CAST(max(customer_id) AS BIGINT) FROM (SELECT customer_id FROM {TABLE} \
                 GROUP BY customer_id HAVING count(DISTINCT as_of) = 2)"
            ),
        )
        .await
        .unwrap(),
    );
    // Every statement of the two runs is in the audit log; each run's
    // target query read orders and wrote rows.
    let audit = |sql: &'static str| {
        let before = &before;
        async move { count_of(&collect(before, sql).await.unwrap()) }
    };
    let all = audit("SELECT count(*) FROM audit_log").await;
    assert!(all > 2, "{all}");
    assert_eq!(
        audit("SELECT count(*) FROM audit_log WHERE source = 'materialize' AND role = 'job' AND outcome = 'ok'").await,
        all
    );
    assert_eq!(
        audit("SELECT count(*) FROM audit_log WHERE rows > 0 AND array_has(tables, 'orders') AND statement LIKE '%rfm%'").await,
        2
    );
    let in_delta = count_of(
        &collect(
            &before,
            &format!("SELECT count(*) FROM {TABLE} WHERE customer_id = {victim}"),
        )
        .await
        .unwrap(),
    );
    assert_eq!(in_delta, 2);
    // References, taken before the forget.
    let mut orders_ref = order_totals(&raw(&lake.path().join("orders")));
    let victim_orders = orders_ref.remove(&victim).expect("the victim has orders").0;
    let delta_ref = lines(
        &collect(
            &before,
            &format!("SELECT * FROM {TABLE} WHERE customer_id <> {victim}"),
        )
        .await
        .unwrap(),
    );
    drop(before);

    // The command, with the id written as an analyst might (padded).
    let report = ok(&microseg(&[
        "forget",
        "--lake",
        &root,
        "--customer",
        &format!(" 0{victim}"),
        "--reason",
        "erasure request 17",
        "--format",
        "csv",
    ]));
    assert!(
        report.contains("_microseg/suppressed,suppression list,0,,,,added"),
        "{report}"
    );
    assert!(
        report.contains(&format!("{TABLE},delta,2,2,")),
        "two rows removed in a delete commit (version 2):\n{report}"
    );
    assert!(
        report.contains(&format!(
            "orders,parquet,{victim_orders},,,,needs deletion upstream"
        )),
        "{report}"
    );

    // Not one file of the Delta table holds the victim any more, so no
    // version can bring them back; the versions before the forget are gone.
    for b in raw(&lake.path().join(FOLDER)) {
        let ids = b
            .column_by_name("customer_id")
            .unwrap()
            .as_primitive::<Int64Type>();
        assert!(ids.iter().all(|id| id != Some(victim)));
    }
    let after = Engine::open(&root, EngineOptions::default()).await.unwrap();
    for version in [0, 1] {
        let err = collect(
            &after,
            &format!("SELECT * FROM table_at('{TABLE}', {version})"),
        )
        .await
        .unwrap_err();
        assert!(
            err.to_lowercase().contains("not found") || err.contains("No such file"),
            "{err}"
        );
    }
    assert_eq!(
        lines(
            &collect(&after, &format!("SELECT * FROM table_at('{TABLE}', 2)"))
                .await
                .unwrap()
        ),
        delta_ref
    );
    assert_eq!(
        lines(
            &collect(&after, &format!("SELECT * FROM {TABLE}"))
                .await
                .unwrap()
        ),
        delta_ref
    );

    // Every table with the key, through the engine and through the CLI.
    for table in [
        "customers",
        "orders",
        "order_items",
        "events",
        "tickets",
        "consents",
        "campaign_sends",
        TABLE,
    ] {
        let sql = format!("SELECT count(*) FROM {table} WHERE customer_id = {victim}");
        assert_eq!(
            count_of(&collect(&after, &sql).await.unwrap()),
            0,
            "{table}"
        );
        let cli = ok(&microseg(&[
            "sql", "--lake", &root, "-q", "--format", "csv", "-c", &sql,
        ]));
        assert_eq!(cli.lines().nth(1), Some("0"), "{table}: {cli}");
    }
    // Other customers' values are unchanged, scans without the key included.
    let got = collect(
        &after,
        "SELECT customer_id, count(*), CAST(sum(amount) * 100 AS BIGINT) FROM orders GROUP BY customer_id",
    )
    .await
    .unwrap();
    let mut seen = BTreeMap::new();
    for b in &got {
        let ids = b.column(0).as_primitive::<Int64Type>();
        let n = b.column(1).as_primitive::<Int64Type>();
        let s = b.column(2).as_primitive::<Int64Type>();
        for i in 0..b.num_rows() {
            seen.insert(ids.value(i), (n.value(i), s.value(i) as i128));
        }
    }
    assert_eq!(seen, orders_ref);
    let total: i64 = orders_ref.values().map(|v| v.0).sum();
    assert_eq!(
        count_of(
            &collect(&after, "SELECT count(*) FROM orders")
                .await
                .unwrap()
        ),
        total
    );
    let cents: i128 = orders_ref.values().map(|v| v.1).sum();
    let sum = collect(
        &after,
        "SELECT CAST(sum(amount) * 100 AS BIGINT) FROM orders",
    )
    .await
    .unwrap();
    assert_eq!(count_of(&sum) as i128, cents);

    // The list: one entry named by SHA-256(salt ‖ id), no plain id anywhere.
    let salt_hex = std::fs::read_to_string(lake.path().join("_microseg/suppression_salt")).unwrap();
    let salt: Vec<u8> = (0..64)
        .step_by(2)
        .map(|i| u8::from_str_radix(&salt_hex[i..i + 2], 16).unwrap())
        .collect();
    let mut hasher = Sha256::new();
    hasher.update(&salt);
    hasher.update(victim.to_string().as_bytes());
    let expected: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let entries: Vec<String> = std::fs::read_dir(lake.path().join("_microseg/suppressed"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    // Beside it, SipHash-1-3 of the id under the first 16 bytes of
    // SHA-256("microseg suppression fast hash" ‖ salt), as 16 hex digits.
    let mut hasher = Sha256::new();
    hasher.update(b"microseg suppression fast hash");
    hasher.update(&salt);
    let derived = hasher.finalize();
    let key: [u8; 16] = derived[..16].try_into().unwrap();
    let mut sip = siphasher::sip::SipHasher13::new_with_key(&key);
    std::hash::Hasher::write(&mut sip, victim.to_string().as_bytes());
    let fast = std::hash::Hasher::finish(&sip);
    assert_eq!(entries, vec![format!("{expected}-{fast:016x}.json")]);
    let record: serde_json::Value = serde_json::from_slice(
        &std::fs::read(lake.path().join("_microseg/suppressed").join(&entries[0])).unwrap(),
    )
    .unwrap();
    let keys: Vec<&String> = record.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["forgotten_at", "reason"]);

    // Again, as a statement: already on the list, nothing left to remove.
    let again = lines(
        &collect(&after, &format!("FORGET CUSTOMER {victim}"))
            .await
            .unwrap(),
    );
    assert!(
        again.iter().any(|l| l.contains("already on the list")),
        "{again:?}"
    );
    assert!(
        again
            .iter()
            .any(|l| l.starts_with(&format!("{TABLE}|delta|0|"))),
        "{again:?}"
    );

    // An entry written before the fast hash existed (`<sha>.json`) still
    // hides the person, and is still "already on the list".
    let dir = lake.path().join("_microseg/suppressed");
    std::fs::rename(dir.join(&entries[0]), dir.join(format!("{expected}.json"))).unwrap();
    let older = Engine::open(&root, EngineOptions::default()).await.unwrap();
    let seen = order_totals(
        &collect(&older, "SELECT customer_id, amount FROM orders")
            .await
            .unwrap(),
    );
    assert!(!seen.contains_key(&victim));
    assert_eq!(seen, orders_ref);
    let again = lines(
        &collect(&older, &format!("FORGET CUSTOMER {victim}"))
            .await
            .unwrap(),
    );
    assert!(
        again.iter().any(|l| l.contains("already on the list")),
        "{again:?}"
    );
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_ids_bad_ids_and_unwritable_lakes() {
    let lake = small_lake_copy();
    let root = lake.path().to_str().unwrap().to_string();
    // Found nowhere: said so, and suppressed anyway.
    let o = microseg(&["forget", "--lake", &root, "--customer", "987654321"]);
    ok(&o);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("was found in no table of the lake"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(
        std::fs::read_dir(lake.path().join("_microseg/suppressed"))
            .unwrap()
            .count(),
        1
    );

    // Not an id of the key's type: refused before anything is written.
    let engine = Engine::open(&root, EngineOptions::default()).await.unwrap();
    let err = collect(&engine, "FORGET CUSTOMER 'abc'").await.unwrap_err();
    assert!(
        err.contains("customer id \"abc\" is not a valid Int64"),
        "{err}"
    );
    for (sql, expected) in [
        ("FORGET CUSTOMER customer_id", "a literal, not a column"),
        ("FORGET CUSTOMER", "expected the customer id"),
        ("FORGET 42", "expected CUSTOMER"),
    ] {
        let err = collect(&engine, sql).await.unwrap_err();
        assert!(err.contains(expected), "{sql}: {err}");
    }
    assert_eq!(
        std::fs::read_dir(lake.path().join("_microseg/suppressed"))
            .unwrap()
            .count(),
        1
    );

    // A lake where the salt cannot be written (tests run as root, so file
    // modes do not stop writes; a folder in the salt's place does): a clear
    // error naming the object, and nothing suppressed.
    let other = small_lake_copy();
    std::fs::create_dir_all(other.path().join("_microseg/suppression_salt/x")).unwrap();
    let o = microseg(&[
        "forget",
        "--lake",
        other.path().to_str().unwrap(),
        "--customer",
        "1",
    ]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("_microseg/suppression_salt"), "{err}");
    assert!(!other.path().join("_microseg/suppressed").exists());
}
