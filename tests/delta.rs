//! Delta tables as the catalog serves them: every statement, view, table
//! function and prepared statement reads the newest complete version, and
//! `table_at` reads any version, parameters included.
//!
//! The lake is tiny and written with delta-rs directly: version `k` of
//! `segments.tiny` holds `rows(k)` customers with one order each, dated
//! 2025-01-01, of amount `k`, and a `run` column equal to `k`. So an answer
//! comes from one complete version exactly when it carries one `run`
//! value and that version's row count.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, AsArray, Date32Array, Float64Array, Int64Array, RecordBatch,
};
use datafusion::arrow::datatypes::{DataType, Field, Int64Type, Schema};
use microseg::delta::{self, At};
use microseg::lake::LakeLocation;
use microseg::{Engine, EngineOptions};

const TABLE: &str = "segments.tiny";
const FOLDER: &str = "segments/tiny";

/// Customers in version `k`: different from one version to the next.
fn rows(k: i64) -> i64 {
    3 + k % 7
}

fn batch(k: i64) -> RecordBatch {
    let n = rows(k);
    let schema = Arc::new(Schema::new(vec![
        Field::new("customer_id", DataType::Int64, false),
        Field::new("order_date", DataType::Date32, false),
        Field::new("amount", DataType::Float64, false),
        Field::new("run", DataType::Int64, false),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from_iter_values(1..=n)),
            Arc::new(Date32Array::from_iter_values((0..n).map(|_| 20089))),
            Arc::new(Float64Array::from_iter_values((0..n).map(|_| k as f64))),
            Arc::new(Int64Array::from_iter_values((0..n).map(|_| k))),
        ],
    )
    .unwrap()
}

/// Commits version `k` (overwriting the table) and returns its number.
async fn write(location: &LakeLocation, k: i64) -> u64 {
    let table = match delta::latest_version(location, FOLDER).await.unwrap() {
        Some(_) => delta::open(location, FOLDER, &At::Latest).await.unwrap(),
        None => delta::uninitialized(location, FOLDER).unwrap(),
    };
    let written = table
        .write(vec![batch(k)])
        .with_save_mode(deltalake_core::protocol::SaveMode::Overwrite)
        .await
        .unwrap();
    written.version().unwrap() as u64
}

/// A lake with a `customers` Parquet table (a lake needs one) and
/// version 0 of `segments.tiny`.
async fn tiny_lake() -> (tempfile::TempDir, LakeLocation) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("customers")).unwrap();
    let file = std::fs::File::create(dir.path().join("customers/part-0.parquet")).unwrap();
    let customers = batch(0);
    let mut writer =
        datafusion::parquet::arrow::ArrowWriter::try_new(file, customers.schema(), None).unwrap();
    writer.write(&customers).unwrap();
    writer.close().unwrap();
    let location = LakeLocation::parse(&dir.path().to_string_lossy()).unwrap();
    assert_eq!(write(&location, 0).await, 0);
    (dir, location)
}

async fn open(dir: &tempfile::TempDir) -> Engine {
    Engine::open(&dir.path().to_string_lossy(), EngineOptions::default())
        .await
        .expect("open lake")
}

async fn query(engine: &Engine, sql: &str) -> Result<Vec<RecordBatch>, String> {
    let df = engine.sql(sql).await.map_err(|e| format!("{sql}: {e}"))?;
    df.collect().await.map_err(|e| format!("{sql}: {e}"))
}

/// The first row's columns, as i64.
async fn row(engine: &Engine, sql: &str) -> Vec<i64> {
    let batches = query(engine, sql).await.unwrap();
    first_row(&batches)
}

fn first_row(batches: &[RecordBatch]) -> Vec<i64> {
    let b = batches.iter().find(|b| b.num_rows() > 0).expect("a row");
    (0..b.num_columns())
        .map(|i| {
            let c = datafusion::arrow::compute::cast(b.column(i), &DataType::Int64).unwrap();
            let c = c.as_primitive::<Int64Type>();
            assert!(!c.is_null(0), "NULL in column {i}");
            c.value(0)
        })
        .collect()
}

/// `count(*)`, `count(DISTINCT run)`, `min(run)` of a relation.
fn census(relation: &str) -> String {
    format!("SELECT count(*), count(DISTINCT run), min(run) FROM {relation}")
}

/// Through `rfm`: customers, and the least and greatest monetary (each
/// customer's one order is worth the run number).
fn rfm_census(table: &str) -> String {
    format!(
        "SELECT count(*), min(monetary), max(monetary) FROM rfm({table}, customer_id, order_date, amount)"
    )
}

/// Checks an answer of `census` or `rfm_census` comes from one complete
/// version and returns it.
#[track_caller]
fn one_version(what: &str, answer: &[i64], rfm: bool) -> i64 {
    let (count, run) = if rfm {
        assert_eq!(
            answer[1], answer[2],
            "{what}: two versions mixed: {answer:?}"
        );
        (answer[0], answer[1])
    } else {
        assert_eq!(answer[1], 1, "{what}: two versions mixed: {answer:?}");
        (answer[0], answer[2])
    };
    assert_eq!(
        count,
        rows(run),
        "{what}: version {run} incomplete: {answer:?}"
    );
    run
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn views_table_functions_and_other_sessions_see_the_next_version() {
    let (dir, location) = tiny_lake().await;
    let e = open(&dir).await;
    let other = e.new_session();
    query(
        &e,
        &format!("CREATE VIEW tiny_view AS SELECT * FROM {TABLE}"),
    )
    .await
    .unwrap();
    query(
        &e,
        &format!(
            "CREATE VIEW tiny_rfm AS SELECT * FROM rfm({TABLE}, customer_id, order_date, amount)"
        ),
    )
    .await
    .unwrap();
    for k in 0..3 {
        if k > 0 {
            assert_eq!(write(&location, k).await, k as u64);
        }
        for session in [&e, &other] {
            for relation in [TABLE, "tiny_view"] {
                let answer = row(session, &census(relation)).await;
                assert_eq!(one_version(relation, &answer, false), k, "{relation}");
            }
            let answer = row(session, &rfm_census(TABLE)).await;
            assert_eq!(one_version("rfm", &answer, true), k);
            let answer = row(
                session,
                "SELECT count(*), min(monetary), max(monetary) FROM tiny_rfm",
            )
            .await;
            assert_eq!(one_version("view over rfm", &answer, true), k);
        }
    }
    // A prepared statement planned before a commit runs on the newer version.
    query(&e, &format!("PREPARE newest AS {}", census(TABLE)))
        .await
        .unwrap();
    write(&location, 3).await;
    let answer = first_row(&query(&e, "EXECUTE newest").await.unwrap());
    assert_eq!(one_version("prepared", &answer, false), 3);

    // A Delta table committed after the lake was opened is found by name.
    let late = delta::uninitialized(&location, "segments/late").unwrap();
    late.write(vec![batch(5)]).await.unwrap();
    let answer = row(&other, &census("segments.late")).await;
    assert_eq!(one_version("segments.late", &answer, false), 5);
    // A Delta table cannot be replaced or dropped from a session.
    let err = query(&e, &format!("CREATE VIEW {TABLE} AS SELECT 1"))
        .await
        .unwrap_err();
    assert!(err.contains("already exists"), "{err}");

    // A view planned before a writer dropped a column it reads says so;
    // statements planned after see the new columns.
    query(
        &e,
        &format!("CREATE VIEW amounts AS SELECT customer_id, amount FROM {TABLE}"),
    )
    .await
    .unwrap();
    let full = batch(6);
    let narrower = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            full.schema().field(0).clone(),
            full.schema().field(3).clone(),
        ])),
        vec![Arc::clone(full.column(0)), Arc::clone(full.column(3))],
    )
    .unwrap();
    delta::open(&location, FOLDER, &At::Latest)
        .await
        .unwrap()
        .write(vec![narrower])
        .with_save_mode(deltalake_core::protocol::SaveMode::Overwrite)
        .with_schema_mode(deltalake_core::operations::write::SchemaMode::Overwrite)
        .await
        .unwrap();
    let err = query(&other, "SELECT * FROM amounts").await.unwrap_err();
    assert!(
        err.contains("Delta table segments.tiny") && err.contains("no column \"amount\""),
        "{err}"
    );
    let answer = row(&other, &census(TABLE)).await;
    assert_eq!(one_version("narrower", &answer, false), 6);
    let err = query(&other, &format!("SELECT amount FROM {TABLE}"))
        .await
        .unwrap_err();
    assert!(err.contains("amount"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn table_at_takes_names_versions_timestamps_and_parameters() {
    let (dir, location) = tiny_lake().await;
    for k in 1..=3 {
        write(&location, k).await;
    }
    let e = open(&dir).await;
    // Identifier (unquoted: normalized; quoted: as written) or string.
    for (relation, version) in [
        (format!("table_at({TABLE}, 1)"), 1),
        ("table_at(SEGMENTS.Tiny, 2)".to_string(), 2),
        ("table_at(\"segments\".\"tiny\", 0)".to_string(), 0),
        (format!("table_at('{TABLE}', 3)"), 3),
        ("table_at('segments.TINY', 1)".to_string(), 1),
    ] {
        let answer = row(&e, &census(&relation)).await;
        assert_eq!(
            one_version(&relation, &answer, false),
            version,
            "{relation}"
        );
    }
    for (sql, needle) in [
        (
            census("table_at(\"Segments\".\"Tiny\", 0)"),
            "Segments.Tiny is not a Delta table of the lake (Delta tables: segments.tiny)",
        ),
        (
            census("table_at('\"segments\".\"TINY\"', 0)"),
            "segments.TINY is not a Delta table",
        ),
        (census(&format!("table_at({TABLE}, 9)")), "version 9"),
        (census(&format!("table_at({TABLE}, -1)")), "must be ≥ 0"),
        (
            census(&format!("table_at({TABLE}, 'yesterday')")),
            "neither a version number nor a timestamp",
        ),
    ] {
        let err = query(&e, &sql).await.unwrap_err();
        assert!(err.contains(needle), "{sql}: expected {needle:?} in {err}");
    }

    // A timestamp reads the version current at that instant.
    let table = delta::open(&location, FOLDER, &At::Latest).await.unwrap();
    let snapshot = table.snapshot().unwrap();
    let stamps: Vec<i64> = (0..=3)
        .map(|v| snapshot.version_timestamp(v).expect("commit timestamp"))
        .collect();
    for v in 0..=3usize {
        let at = chrono::DateTime::from_timestamp_millis(stamps[v]).unwrap();
        let expected = (0..=3).rev().find(|&w| stamps[w] <= stamps[v]).unwrap() as i64;
        for argument in [
            format!("'{}'", at.to_rfc3339()),
            format!("TIMESTAMP '{}'", at.format("%Y-%m-%d %H:%M:%S%.3f")),
        ] {
            let relation = format!("table_at({TABLE}, {argument})");
            let answer = row(&e, &census(&relation)).await;
            assert_eq!(
                one_version(&relation, &answer, false),
                expected,
                "{relation}"
            );
        }
    }

    // Parameters: bound when the prepared statement runs.
    query(
        &e,
        &format!(
            "PREPARE at_version(BIGINT) AS {}",
            census(&format!("table_at({TABLE}, $1)"))
        ),
    )
    .await
    .unwrap();
    for version in [1, 2, 0] {
        let answer = first_row(
            &query(&e, &format!("EXECUTE at_version({version})"))
                .await
                .unwrap(),
        );
        assert_eq!(one_version("EXECUTE", &answer, false), version);
    }
    query(
        &e,
        &format!(
            "PREPARE at_time(VARCHAR) AS {}",
            census("table_at('segments.tiny', $1)")
        ),
    )
    .await
    .unwrap();
    let at = chrono::DateTime::from_timestamp_millis(stamps[1]).unwrap();
    let answer = first_row(
        &query(&e, &format!("EXECUTE at_time('{}')", at.to_rfc3339()))
            .await
            .unwrap(),
    );
    assert!(one_version("EXECUTE at_time", &answer, false) >= 1);
    let err = query(&e, "EXECUTE at_version(99)").await.unwrap_err();
    assert!(err.contains("version 99"), "{err}");

    // An older version is read under the current columns: a column added
    // later reads as NULL there.
    let wider = {
        let b = batch(4);
        let mut fields: Vec<Field> = b
            .schema()
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        fields.push(Field::new("extra", DataType::Int64, true));
        let mut columns = b.columns().to_vec();
        columns.push(Arc::new(Int64Array::from_iter_values(
            (0..b.num_rows() as i64).map(|i| i + 100),
        )));
        RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap()
    };
    delta::open(&location, FOLDER, &At::Latest)
        .await
        .unwrap()
        .write(vec![wider])
        .with_save_mode(deltalake_core::protocol::SaveMode::Overwrite)
        .with_schema_mode(deltalake_core::operations::write::SchemaMode::Merge)
        .await
        .unwrap();
    let answer = row(&e, &format!("SELECT count(extra), count(*) FROM {TABLE}")).await;
    assert_eq!(answer, vec![rows(4), rows(4)]);
    let answer = row(
        &e,
        &format!("SELECT count(extra), count(*), min(run) FROM table_at({TABLE}, 2)"),
    )
    .await;
    assert_eq!(answer, vec![0, rows(2), 2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_sessions_read_whole_versions_while_a_job_commits() {
    const QUERIES: usize = 200;
    const VERSIONS: i64 = 12;
    let (dir, location) = tiny_lake().await;
    let e = open(&dir).await;
    query(
        &e,
        &format!("CREATE VIEW tiny_view AS SELECT * FROM {TABLE}"),
    )
    .await
    .unwrap();
    // Readers never run ahead of the writer by more than a step, so each
    // sees several versions whatever the scheduling.
    let (committed, _) = tokio::sync::watch::channel(0i64);
    let committed = Arc::new(committed);
    let writer = {
        let committed = Arc::clone(&committed);
        let location = location.clone();
        tokio::spawn(async move {
            for k in 1..=VERSIONS {
                write(&location, k).await;
                committed.send_replace(k);
            }
        })
    };
    let mut readers = Vec::new();
    for _ in 0..2 {
        let session = e.new_session();
        let mut seen_commit = committed.subscribe();
        readers.push(tokio::spawn(async move {
            let mut runs = std::collections::BTreeSet::new();
            let mut errors = Vec::new();
            for i in 0..QUERIES {
                let floor = (i as i64 * VERSIONS) / QUERIES as i64;
                seen_commit.wait_for(|k| *k >= floor).await.unwrap();
                for (sql, rfm) in [
                    (census(TABLE), false),
                    (census("tiny_view"), false),
                    (rfm_census(TABLE), true),
                ] {
                    match query(&session, &sql).await {
                        Ok(batches) => {
                            let answer = first_row(&batches);
                            let run = one_version(&sql, &answer, rfm);
                            assert!(run >= floor, "{sql}: version {run} older than {floor}");
                            runs.insert(run);
                        }
                        Err(err) => errors.push(err),
                    }
                }
                // Two scans of the table in one statement read one version.
                let twice = format!(
                    "SELECT count(*) / 2, count(DISTINCT run), min(run) FROM (SELECT run FROM {TABLE} UNION ALL SELECT run FROM tiny_view)"
                );
                match query(&session, &twice).await {
                    Ok(batches) => {
                        one_version(&twice, &first_row(&batches), false);
                    }
                    Err(err) => errors.push(err),
                }
            }
            (runs, errors)
        }));
    }
    writer.await.unwrap();
    for reader in readers {
        let (runs, errors) = reader.await.unwrap();
        assert!(
            errors.is_empty(),
            "{} errors, first: {}",
            errors.len(),
            errors[0]
        );
        assert!(runs.len() > 2, "versions seen: {runs:?}");
    }
}
