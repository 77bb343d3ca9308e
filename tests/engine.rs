//! The Engine: one entry point for SQL over a lake.

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::Int64Type;
use microseg::{Engine, EngineOptions};

use crate::fixtures::{SMALL_LAKE_CUSTOMERS, small_lake_str};

async fn open() -> Engine {
    Engine::open(&small_lake_str(), EngineOptions::default())
        .await
        .expect("open small lake")
}

#[tokio::test]
async fn every_generated_table_is_registered_and_queryable() {
    let engine = open().await;
    let mut names: Vec<&str> = engine
        .lake()
        .tables
        .iter()
        .map(|t| t.name.as_str())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "campaign_sends",
            "consents",
            "customers",
            "drink_ratings",
            "events",
            "order_items",
            "orders",
            "products",
            "src_crm_contacts",
            "src_loyalty_cards",
            "src_newsletter",
            "src_support_contacts",
            "src_web_accounts",
            "stores",
            "tickets"
        ]
    );
    let batches = engine
        .sql("SELECT count(*) AS n, count(DISTINCT customer_id) AS d FROM customers")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let n = batches[0].column(0).as_primitive::<Int64Type>().value(0);
    let d = batches[0].column(1).as_primitive::<Int64Type>().value(0);
    assert_eq!(n as u64, SMALL_LAKE_CUSTOMERS);
    assert_eq!(d, n, "customer_id is unique");
}

#[tokio::test]
async fn partition_columns_are_queryable_and_pruned() {
    let engine = open().await;
    let df = engine
        .sql("SELECT order_month, count(*) FROM orders WHERE order_month = '2026-10' GROUP BY order_month")
        .await
        .unwrap();
    let batches = df.collect().await.unwrap();
    assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 1);
    // The partition filter must reach the scan, not be applied after reading every file.
    let plan = engine
        .sql("EXPLAIN SELECT sum(amount) FROM orders WHERE order_month = '2026-10'")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let text = datafusion::arrow::util::pretty::pretty_format_batches(&plan)
        .unwrap()
        .to_string();
    assert!(
        text.contains("order_month=2026-10"),
        "partition pruning missing from plan:\n{text}"
    );
    assert!(
        !text.contains("order_month=2025-01"),
        "unpruned partition in plan:\n{text}"
    );
}

#[tokio::test]
async fn show_lake_is_our_statement() {
    let engine = open().await;
    let batches = engine
        .sql("show lake;")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    assert_eq!(rows, engine.lake().tables.len());
    let schema = batches[0].schema();
    assert_eq!(schema.field(0).name(), "table_name");
    let parts = batches[0].column_by_name("partition_columns").unwrap();
    let names = batches[0].column_by_name("table_name").unwrap();
    let names =
        datafusion::arrow::compute::cast(names, &datafusion::arrow::datatypes::DataType::Utf8)
            .unwrap();
    let parts =
        datafusion::arrow::compute::cast(parts, &datafusion::arrow::datatypes::DataType::Utf8)
            .unwrap();
    let (names, parts) = (names.as_string::<i32>(), parts.as_string::<i32>());
    let rows = batches[0]
        .column_by_name("rows")
        .unwrap()
        .as_primitive::<datafusion::arrow::datatypes::UInt64Type>();
    let customers = (0..names.len())
        .find(|&i| names.value(i) == "customers")
        .unwrap();
    assert_eq!(
        rows.value(customers),
        SMALL_LAKE_CUSTOMERS,
        "row counts come from the footers"
    );
    let orders = (0..names.len())
        .find(|&i| names.value(i) == "orders")
        .unwrap();
    assert_eq!(parts.value(orders), "order_month");
}

#[tokio::test]
async fn one_statement_per_call() {
    let engine = open().await;
    let err = engine
        .sql("SELECT 1; SELECT 2")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("unexpected") && err.contains("one statement at a time"),
        "{err}"
    );
}

#[tokio::test]
async fn ddl_and_set_run_through_the_same_entry_point() {
    let engine = open().await;
    engine
        .sql("CREATE VIEW big_spenders AS SELECT customer_id FROM orders WHERE amount > 100")
        .await
        .unwrap();
    let n = engine
        .sql("SELECT count(*) FROM big_spenders")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(n[0].num_rows(), 1);
    engine
        .sql("SET datafusion.execution.batch_size = 1024")
        .await
        .unwrap();
    let v = engine
        .sql("SHOW datafusion.execution.batch_size")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let value = datafusion::arrow::compute::cast(
        v[0].column(1),
        &datafusion::arrow::datatypes::DataType::Utf8,
    )
    .unwrap();
    assert_eq!(value.as_string::<i32>().value(0), "1024");
}

#[tokio::test]
async fn unknown_table_and_column_errors_name_them() {
    let engine = open().await;
    let err = engine
        .sql("SELECT * FROM nonexistent_table")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("nonexistent_table"), "{err}");
    let err = engine
        .sql("SELECT no_such_column FROM orders")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("no_such_column"), "{err}");
}

#[tokio::test]
async fn over_the_memory_limit_is_a_clear_error_not_an_oom() {
    let options = EngineOptions {
        memory_limit: Some("2MiB".into()),
        target_partitions: Some(1),
        ..Default::default()
    };
    let engine = Engine::open(&small_lake_str(), options).await.unwrap();
    assert_eq!(engine.settings().memory_limit, 2 << 20);
    // A hash join's build side cannot spill: 2M rows must exceed 2 MiB.
    let df = engine
        .sql(
            "SELECT count(*) FROM generate_series(1, 2000000) a(v) \
             JOIN generate_series(1, 2000000) b(w) ON a.v = b.w",
        )
        .await
        .unwrap();
    let err = df.collect().await.unwrap_err().to_string();
    assert!(err.contains("Resources exhausted"), "{err}");
}

#[tokio::test]
async fn settings_from_flags_reach_the_session() {
    let options = EngineOptions {
        time_zone: Some("Europe/Berlin".into()),
        target_partitions: Some(3),
        ..Default::default()
    };
    let engine = Engine::open(&small_lake_str(), options).await.unwrap();
    let state = engine.session().state();
    let config = state.config().options();
    assert_eq!(config.execution.target_partitions, 3);
    assert_eq!(config.execution.time_zone.as_deref(), Some("Europe/Berlin"));
}
