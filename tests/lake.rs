//! The customer lake: discovery, config, validation errors, and every kind
//! of location (local, file://, memory://, S3 on moto).

use std::path::Path;

use datafusion::arrow::array::{Decimal128Array, Float64Array, Int64Array, StringArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::prelude::SessionContext;
use microseg::Error;
use microseg::lake::{Lake, LakeLocation, memory_store};
use object_store::ObjectStoreExt;
use tempfile::TempDir;

use crate::support::moto::Moto;
use crate::support::{
    assert_contains_all, batch, col, parquet_bytes, sql, write_bytes, write_parquet,
};

fn customers() -> datafusion::arrow::array::RecordBatch {
    batch(vec![
        ("customer_id", col(Int64Array::from(vec![1, 2, 3]))),
        ("name", col(StringArray::from(vec!["ann", "bob", "cy"]))),
    ])
}

fn orders(
    ids: Vec<i64>,
    customers: Vec<i64>,
    cents: Vec<i128>,
) -> datafusion::arrow::array::RecordBatch {
    batch(vec![
        ("order_id", col(Int64Array::from(ids))),
        ("customer_id", col(Int64Array::from(customers))),
        (
            "amount",
            col(Decimal128Array::from(cents)
                .with_precision_and_scale(12, 2)
                .unwrap()),
        ),
    ])
}

/// A lake with a flat table `customers`, a partitioned table `orders`,
/// and the clutter real lakes have.
fn shop_lake() -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write_parquet(&root.join("customers/part-0.parquet"), &customers());
    write_bytes(&root.join("customers/_SUCCESS"), b"");
    write_bytes(&root.join("customers/.part-0.parquet.crc"), b"crc");
    write_parquet(
        &root.join("orders/order_month=2025-01/part-0.parquet"),
        &orders(vec![10, 11], vec![1, 2], vec![1050, 2000]),
    );
    write_parquet(
        &root.join("orders/order_month=2025-02/part-0.parquet"),
        &orders(vec![12], vec![1], vec![999]),
    );
    write_bytes(&root.join("orders/order_month=2025-02/_SUCCESS"), b"");
    write_bytes(&root.join("orders/_SUCCESS"), b"");
    // A writer's scratch folder inside a table is not data.
    write_bytes(
        &root.join("orders/_temporary/0/part-9.parquet"),
        b"half written",
    );
    // Not tables: ours, the generator's ground truth, hidden, no Parquet at all.
    write_parquet(&root.join("_microseg/state.parquet"), &customers());
    write_parquet(&root.join("_truth/segments.parquet"), &customers());
    write_parquet(&root.join(".hidden/x.parquet"), &customers());
    write_bytes(&root.join("notes/readme.txt"), b"hello");
    dir
}

async fn open_err(location: &str) -> String {
    match Lake::open(location, None).await {
        Ok(lake) => panic!("{location} opened with tables {:?}", names(&lake)),
        Err(e) => e.to_string(),
    }
}

fn names(lake: &Lake) -> Vec<&str> {
    lake.tables.iter().map(|t| t.name.as_str()).collect()
}

fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

async fn registered(lake: &Lake) -> SessionContext {
    let ctx = SessionContext::new();
    lake.register(&ctx).await.unwrap();
    ctx
}

#[tokio::test]
async fn local_lake_with_flat_and_partitioned_tables() {
    let dir = shop_lake();
    let lake = Lake::open(path_str(dir.path()), None).await.unwrap();
    assert_eq!(names(&lake), ["customers", "orders"]);

    let orders = lake.table("orders").unwrap();
    assert_eq!(
        orders.partition_cols,
        [("order_month".to_string(), DataType::Utf8)]
    );
    assert_eq!((orders.files, orders.rows), (2, 3));
    assert_eq!(orders.folder, "orders");
    assert!(
        orders.url.starts_with("file:///") && orders.url.ends_with("/orders/"),
        "{}",
        orders.url
    );
    assert_eq!(
        orders.schema.field_with_name("amount").unwrap().data_type(),
        &DataType::Decimal128(12, 2)
    );
    let customers = lake.table("customers").unwrap();
    assert!(customers.partition_cols.is_empty());
    assert_eq!((customers.files, customers.rows), (1, 3));

    let ctx = registered(&lake).await;
    // Footers read at open are handed to the session, not fetched again.
    let cached = ctx.runtime_env().cache_manager.get_file_metadata_cache();
    assert_eq!(cached.len(), 3);
    assert_eq!(
        sql(
            &ctx,
            "SELECT o.order_month, c.name, o.amount FROM orders o JOIN customers c USING (customer_id) \
             ORDER BY o.order_id"
        )
        .await,
        [
            "+-------------+------+--------+",
            "| order_month | name | amount |",
            "+-------------+------+--------+",
            "| 2025-01     | ann  | 10.50  |",
            "| 2025-01     | bob  | 20.00  |",
            "| 2025-02     | ann  | 9.99   |",
            "+-------------+------+--------+",
        ]
    );
    // Partition pruning works on the partition column.
    assert_eq!(
        sql(
            &ctx,
            "SELECT count(*) AS n FROM orders WHERE order_month = '2025-02'"
        )
        .await,
        ["+---+", "| n |", "+---+", "| 1 |", "+---+"]
    );
}

#[tokio::test]
async fn hidden_and_dataless_folders_are_not_tables() {
    let dir = shop_lake();
    let lake = Lake::open(path_str(dir.path()), None).await.unwrap();
    let ctx = registered(&lake).await;
    for table in [
        "_microseg",
        "_truth",
        ".hidden",
        "microseg",
        "truth",
        "hidden",
        "notes",
    ] {
        assert!(
            !ctx.table_exist(table).unwrap_or(false),
            "{table} should not be registered"
        );
    }
    // `_SUCCESS`, `.crc` and `_temporary/` would each break a scan if read.
    assert_eq!(
        sql(&ctx, "SELECT count(*) AS n FROM customers").await,
        ["+---+", "| n |", "+---+", "| 3 |", "+---+"]
    );
}

#[tokio::test]
async fn config_renames_and_skips_tables() {
    let dir = shop_lake();
    write_bytes(&dir.path().join("broken/bad.parquet"), b"not parquet");
    write_bytes(
        &dir.path().join("microseg.toml"),
        br#"
[tables.customers]
name = "clients"

[tables.broken]
skip = true
"#,
    );
    let lake = Lake::open(path_str(dir.path()), None).await.unwrap();
    assert_eq!(names(&lake), ["clients", "orders"]);
    assert_eq!(lake.table("clients").unwrap().folder, "customers");
    assert!(
        lake.config
            .source
            .as_deref()
            .unwrap()
            .ends_with("microseg.toml")
    );
    let ctx = registered(&lake).await;
    assert_eq!(
        sql(&ctx, "SELECT name FROM clients WHERE customer_id = 2").await,
        ["+------+", "| name |", "+------+", "| bob  |", "+------+"]
    );
    assert!(!ctx.table_exist("customers").unwrap());
    assert!(!ctx.table_exist("broken").unwrap());
}

#[tokio::test]
async fn config_unknown_key_is_an_error_naming_key_and_file() {
    let dir = shop_lake();
    let config = dir.path().join("microseg.toml");
    write_bytes(&config, b"[tables.customers]\nrename = \"clients\"\n");
    let err = open_err(path_str(dir.path())).await;
    assert_contains_all(&err, &["rename", "microseg.toml", path_str(dir.path())]);

    write_bytes(&config, b"[engine]\nmemory_limt = \"1GiB\"\n");
    let err = open_err(path_str(dir.path())).await;
    assert_contains_all(&err, &["memory_limt", "microseg.toml"]);
}

#[tokio::test]
async fn config_for_a_missing_folder_is_an_error() {
    let dir = shop_lake();
    write_bytes(
        &dir.path().join("microseg.toml"),
        b"[tables.custmers]\nname = \"clients\"\n",
    );
    let err = open_err(path_str(dir.path())).await;
    assert_contains_all(
        &err,
        &["custmers", "microseg.toml", "no folder", "customers"],
    );

    write_bytes(
        &dir.path().join("microseg.toml"),
        b"[tables._truth]\nskip = true\n",
    );
    let err = open_err(path_str(dir.path())).await;
    assert_contains_all(&err, &["tables._truth", "never tables"]);
}

#[tokio::test]
async fn config_engine_section_is_parsed() {
    let dir = shop_lake();
    write_bytes(
        &dir.path().join("microseg.toml"),
        br#"
[engine]
memory_limit = "2GiB"
spill_dir = "/tmp/microseg-spill"
target_partitions = 3
time_zone = "+01:00"
batch_size = 4096
"#,
    );
    let lake = Lake::open(path_str(dir.path()), None).await.unwrap();
    let engine = &lake.config.engine;
    assert_eq!(engine.memory_limit.as_deref(), Some("2GiB"));
    assert_eq!(engine.memory_limit_bytes(0).unwrap(), Some(2 << 30));
    assert_eq!(
        engine.spill_dir.as_deref(),
        Some(Path::new("/tmp/microseg-spill"))
    );
    assert_eq!(engine.target_partitions, Some(3));
    assert_eq!(engine.time_zone.as_deref(), Some("+01:00"));
    assert_eq!(engine.batch_size, Some(4096));

    write_bytes(
        &dir.path().join("microseg.toml"),
        b"[engine]\nmemory_limit = \"lots\"\n",
    );
    let err = open_err(path_str(dir.path())).await;
    assert_contains_all(&err, &["engine.memory_limit", "lots", "microseg.toml"]);
}

#[tokio::test]
async fn config_override_replaces_the_lake_config() {
    let dir = shop_lake();
    write_bytes(
        &dir.path().join("microseg.toml"),
        b"[tables.customers]\nname = \"clients\"\n",
    );
    let elsewhere = tempfile::tempdir().unwrap();
    let override_path = elsewhere.path().join("other.toml");
    write_bytes(&override_path, b"[tables.orders]\nname = \"purchases\"\n");
    let lake = Lake::open(path_str(dir.path()), Some(&override_path))
        .await
        .unwrap();
    assert_eq!(names(&lake), ["customers", "purchases"]);

    let missing = elsewhere.path().join("missing.toml");
    let err = Lake::open(path_str(dir.path()), Some(&missing))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Config { .. }), "{err}");
    assert_contains_all(&err.to_string(), &["missing.toml", "cannot read"]);
}

#[tokio::test]
async fn partition_column_types_are_configurable() {
    let dir = tempfile::tempdir().unwrap();
    for (year, id) in [(2024, 1), (2025, 2)] {
        write_parquet(
            &dir.path()
                .join(format!("events/year={year}/part-0.parquet")),
            &batch(vec![("id", col(Int64Array::from(vec![id])))]),
        );
    }
    write_bytes(
        &dir.path().join("microseg.toml"),
        b"[tables.events]\npartition_types = { year = \"Int32\" }\n",
    );
    let lake = Lake::open(path_str(dir.path()), None).await.unwrap();
    assert_eq!(
        lake.table("events").unwrap().partition_cols,
        [("year".to_string(), DataType::Int32)]
    );
    let ctx = registered(&lake).await;
    assert_eq!(
        sql(
            &ctx,
            "SELECT id, year + 1 AS next FROM events WHERE year > 2024"
        )
        .await,
        [
            "+----+------+",
            "| id | next |",
            "+----+------+",
            "| 2  | 2026 |",
            "+----+------+"
        ]
    );

    // A value that is not of the declared type is caught at open.
    write_parquet(
        &dir.path().join("events/year=next/part-0.parquet"),
        &batch(vec![("id", col(Int64Array::from(vec![3])))]),
    );
    let err = open_err(path_str(dir.path())).await;
    assert_contains_all(
        &err,
        &["events/year=next/part-0.parquet", "year=next", "Int32"],
    );

    // Typing a column that is not a partition column is a config error.
    write_bytes(
        &dir.path().join("microseg.toml"),
        b"[tables.events]\npartition_types = { month = \"Int32\" }\n",
    );
    let err = open_err(path_str(dir.path())).await;
    assert_contains_all(&err, &["partition_types.month", "microseg.toml"]);
}

#[tokio::test]
async fn missing_lake_is_an_error_with_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-lake");
    let err = open_err(path_str(&missing)).await;
    assert_contains_all(&err, &["does not exist", path_str(&missing)]);

    let file = dir.path().join("file.parquet");
    write_parquet(&file, &customers());
    let err = open_err(path_str(&file)).await;
    assert_contains_all(&err, &["not a directory", path_str(&file)]);
}

#[tokio::test]
async fn empty_lake_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = open_err(path_str(dir.path())).await;
    assert_contains_all(&err, &["is empty: no folder with Parquet files under it"]);

    // Only hidden folders and folders without Parquet: still empty.
    write_parquet(&dir.path().join("_truth/x.parquet"), &customers());
    write_bytes(&dir.path().join("notes/readme.txt"), b"hi");
    write_bytes(&dir.path().join("microseg.toml"), b"");
    let err = open_err(path_str(dir.path())).await;
    assert_contains_all(&err, &["is empty", path_str(dir.path())]);
}

#[tokio::test]
async fn files_with_different_column_types_name_both_files_and_the_column() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("orders/a.parquet");
    let b = dir.path().join("orders/b.parquet");
    write_parquet(&a, &orders(vec![1], vec![1], vec![100]));
    write_parquet(
        &b,
        &batch(vec![
            ("order_id", col(Int64Array::from(vec![2]))),
            ("customer_id", col(Int64Array::from(vec![1]))),
            ("amount", col(Float64Array::from(vec![1.5]))),
        ]),
    );
    let err = open_err(path_str(dir.path())).await;
    assert_contains_all(
        &err,
        &[
            "table orders",
            path_str(&a),
            path_str(&b),
            "column amount",
            "Decimal128(12, 2)",
            "Float64",
        ],
    );
}

#[tokio::test]
async fn files_with_different_columns_name_both_files_and_the_column() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("orders/a.parquet");
    let b = dir.path().join("orders/b.parquet");
    write_parquet(&a, &orders(vec![1], vec![1], vec![100]));
    write_parquet(
        &b,
        &batch(vec![
            ("order_id", col(Int64Array::from(vec![2]))),
            ("customer_id", col(Int64Array::from(vec![1]))),
        ]),
    );
    let err = open_err(path_str(dir.path())).await;
    assert_contains_all(
        &err,
        &[&format!(
            "file {} lacks column amount present in file {}",
            path_str(&b),
            path_str(&a)
        )],
    );

    // And the other way round: the later file has an extra column.
    write_parquet(
        &b,
        &batch(vec![
            ("order_id", col(Int64Array::from(vec![2]))),
            ("customer_id", col(Int64Array::from(vec![1]))),
            (
                "amount",
                col(Decimal128Array::from(vec![5])
                    .with_precision_and_scale(12, 2)
                    .unwrap()),
            ),
            ("channel", col(StringArray::from(vec!["web"]))),
        ]),
    );
    let err = open_err(path_str(dir.path())).await;
    assert_contains_all(
        &err,
        &[&format!(
            "file {} lacks column channel present in file {}",
            path_str(&a),
            path_str(&b)
        )],
    );
}

#[tokio::test]
async fn corrupt_parquet_file_is_named() {
    let dir = shop_lake();
    let bad = dir.path().join("orders/order_month=2025-03/part-0.parquet");
    write_bytes(&bad, b"this is not a parquet file at all");
    let err = open_err(path_str(dir.path())).await;
    assert_contains_all(&err, &[path_str(&bad), "not a valid Parquet file"]);

    // An empty file too.
    write_bytes(&bad, b"");
    let err = open_err(path_str(dir.path())).await;
    assert_contains_all(&err, &[path_str(&bad)]);
}

#[tokio::test]
async fn inconsistent_partition_layouts_are_errors_naming_the_file() {
    let data = || orders(vec![1], vec![1], vec![100]);

    // A file missing the partition level.
    let dir = tempfile::tempdir().unwrap();
    write_parquet(
        &dir.path().join("orders/order_month=2025-01/a.parquet"),
        &data(),
    );
    let stray = dir.path().join("orders/stray.parquet");
    write_parquet(&stray, &data());
    let err = open_err(path_str(dir.path())).await;
    assert_contains_all(
        &err,
        &[
            "table orders",
            path_str(&stray),
            "not partitioned",
            "partitioned by (order_month)",
        ],
    );

    // A file under a different key.
    let dir = tempfile::tempdir().unwrap();
    write_parquet(
        &dir.path().join("orders/order_month=2025-01/a.parquet"),
        &data(),
    );
    let other = dir.path().join("orders/month=2025-02/a.parquet");
    write_parquet(&other, &data());
    let err = open_err(path_str(dir.path())).await;
    assert_contains_all(&err, &[path_str(&other), "(month)", "(order_month)"]);

    // A file one level deeper than the others.
    let dir = tempfile::tempdir().unwrap();
    write_parquet(&dir.path().join("orders/y=2025/a.parquet"), &data());
    let deeper = dir.path().join("orders/y=2025/m=01/a.parquet");
    write_parquet(&deeper, &data());
    let err = open_err(path_str(dir.path())).await;
    assert_contains_all(&err, &[path_str(&deeper), "(y, m)", "(y)"]);

    // A plain sub-folder is not a partition.
    let dir = tempfile::tempdir().unwrap();
    let nested = dir.path().join("orders/backup/a.parquet");
    write_parquet(&nested, &data());
    let err = open_err(path_str(dir.path())).await;
    assert_contains_all(
        &err,
        &[
            path_str(&nested),
            "\"backup\"",
            "not a key=value partition folder",
        ],
    );
}

#[tokio::test]
async fn nested_partitions_are_columns() {
    let dir = tempfile::tempdir().unwrap();
    write_parquet(
        &dir.path().join("orders/y=2025/m=01/a.parquet"),
        &orders(vec![1], vec![1], vec![100]),
    );
    write_parquet(
        &dir.path().join("orders/y=2025/m=02/a.parquet"),
        &orders(vec![2], vec![1], vec![200]),
    );
    let lake = Lake::open(path_str(dir.path()), None).await.unwrap();
    let ctx = registered(&lake).await;
    assert_eq!(
        sql(&ctx, "SELECT y, m, order_id FROM orders ORDER BY order_id").await,
        [
            "+------+----+----------+",
            "| y    | m  | order_id |",
            "+------+----+----------+",
            "| 2025 | 01 | 1        |",
            "| 2025 | 02 | 2        |",
            "+------+----+----------+",
        ]
    );
}

#[tokio::test]
async fn table_names_must_be_identifiers_unless_renamed() {
    let dir = tempfile::tempdir().unwrap();
    write_parquet(&dir.path().join("Order-Items/a.parquet"), &customers());
    let err = open_err(path_str(dir.path())).await;
    assert_contains_all(&err, &["\"Order-Items\"", "not a valid table name", "'-'"]);

    write_bytes(
        &dir.path().join("microseg.toml"),
        b"[tables.Order-Items]\nname = \"order_items\"\n",
    );
    let lake = Lake::open(path_str(dir.path()), None).await.unwrap();
    assert_eq!(names(&lake), ["order_items"]);
    assert_eq!(lake.tables[0].folder, "Order-Items");

    // Upper case folders are lower-cased.
    let dir = tempfile::tempdir().unwrap();
    write_parquet(&dir.path().join("Customers/a.parquet"), &customers());
    let lake = Lake::open(path_str(dir.path()), None).await.unwrap();
    let ctx = registered(&lake).await;
    assert_eq!(
        sql(&ctx, "SELECT count(*) AS n FROM customers").await[3],
        "| 3 |"
    );
}

#[tokio::test]
async fn memory_lake() {
    let store = memory_store("lake-tests-memory");
    let put = |path: &str, bytes: Vec<u8>| {
        let store = store.clone();
        let path = object_store::path::Path::from(path);
        async move { store.put(&path, bytes.into()).await.unwrap() }
    };
    put("shop/customers/part-0.parquet", parquet_bytes(&customers())).await;
    put(
        "shop/orders/order_month=2025-01/part-0.parquet",
        parquet_bytes(&orders(vec![1, 2], vec![3, 3], vec![100, 250])),
    )
    .await;
    put(
        "shop/microseg.toml",
        b"[engine]\nbatch_size = 128\n".to_vec(),
    )
    .await;

    let lake = Lake::open("memory://lake-tests-memory/shop", None)
        .await
        .unwrap();
    assert_eq!(names(&lake), ["customers", "orders"]);
    assert_eq!(lake.config.engine.batch_size, Some(128));
    assert_eq!(
        lake.table("orders").unwrap().url,
        "memory://lake-tests-memory/shop/orders/"
    );
    let ctx = registered(&lake).await;
    assert_eq!(
        sql(&ctx, "SELECT c.name, sum(o.amount) AS total FROM orders o JOIN customers c USING (customer_id) GROUP BY c.name").await,
        ["+------+-------+", "| name | total |", "+------+-------+", "| cy   | 3.50  |", "+------+-------+"]
    );

    let err = open_err("memory://lake-tests-memory/nothing-here").await;
    assert_contains_all(
        &err,
        &["does not exist", "memory://lake-tests-memory/nothing-here/"],
    );
}

#[tokio::test]
async fn file_url_lake() {
    let dir = shop_lake();
    let url = format!("file://{}", path_str(dir.path()));
    let lake = Lake::open(&url, None).await.unwrap();
    assert_eq!(lake.location.original, url);
    let ctx = registered(&lake).await;
    assert_eq!(
        sql(&ctx, "SELECT count(*) AS n FROM orders").await[3],
        "| 3 |"
    );

    let err = open_err(&format!("{url}/nope")).await;
    assert_contains_all(&err, &["does not exist", "nope"]);
    let err = open_err("file://somehost/tmp").await;
    assert_contains_all(&err, &["not a host"]);
}

#[tokio::test]
async fn unknown_scheme_lists_the_supported_ones() {
    let err = open_err("ftp://example.com/lake").await;
    assert_contains_all(
        &err,
        &[
            "ftp://",
            "s3://",
            "gs://",
            "az://",
            "abfss://",
            "memory://",
            "file://",
        ],
    );
}

#[tokio::test]
async fn location_parsing() {
    let s3 = LakeLocation::parse_with_options(
        "s3://bucket/some/lake/",
        [
            ("aws_region", "eu-west-1"),
            ("aws_access_key_id", "x"),
            ("aws_secret_access_key", "y"),
        ],
    )
    .unwrap();
    assert_eq!(s3.store_url.as_str(), "s3://bucket/");
    assert_eq!(s3.prefix.as_ref(), "some/lake");
    assert_eq!(s3.url_of("orders"), "s3://bucket/some/lake/orders/");
    assert_eq!(s3.url_of(""), "s3://bucket/some/lake/");

    let spaced = LakeLocation::parse("memory://lake-tests-parse/my lake").unwrap();
    assert_eq!(spaced.prefix.as_ref(), "my lake");
    assert_eq!(spaced.url_of("t"), "memory://lake-tests-parse/my%20lake/t/");

    let cwd = LakeLocation::parse(".").unwrap();
    assert!(cwd.is_local());
    let here = std::env::current_dir().unwrap().canonicalize().unwrap();
    assert_eq!(cwd.url_of(""), format!("file://{}/", path_str(&here)));

    let err = LakeLocation::parse("s3:///lake").unwrap_err().to_string();
    assert_contains_all(&err, &["no bucket"]);

    let err = LakeLocation::parse_with_options("s3://bucket/lake", [("aws_no_such_option", "1")])
        .unwrap_err();
    assert!(matches!(err, Error::Config { .. }), "{err}");
    assert_contains_all(&err.to_string(), &["aws_no_such_option"]);

    let err = LakeLocation::parse_with_options(".", [("aws_region", "x")]).unwrap_err();
    assert_contains_all(
        &err.to_string(),
        &["aws_region", "local lakes take no store options"],
    );
}

/// Puts `files` (path under the bucket, bytes) into a moto bucket.
pub(crate) async fn upload(moto: &Moto, bucket: &str, files: Vec<(impl AsRef<str>, Vec<u8>)>) {
    let location =
        LakeLocation::parse_with_options(&format!("s3://{bucket}"), moto.options()).unwrap();
    for (path, bytes) in files {
        let path = path.as_ref();
        location
            .store
            .put(&object_store::path::Path::from(path), bytes.into())
            .await
            .unwrap_or_else(|e| panic!("uploading {path} to moto: {e}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_lake_on_moto() {
    let moto = Moto::start();
    moto.create_bucket("shop");
    upload(
        &moto,
        "shop",
        vec![
            ("lake/customers/part-0.parquet", parquet_bytes(&customers())),
            ("lake/customers/_SUCCESS", vec![]),
            (
                "lake/orders/order_month=2025-01/part-0.parquet",
                parquet_bytes(&orders(vec![10, 11], vec![1, 2], vec![1050, 2000])),
            ),
            (
                "lake/orders/order_month=2025-02/part-0.parquet",
                parquet_bytes(&orders(vec![12], vec![1], vec![999])),
            ),
            ("lake/_truth/segments.parquet", parquet_bytes(&customers())),
            (
                "lake/microseg.toml",
                b"[tables.customers]\nname = \"clients\"\n".to_vec(),
            ),
            // Outside the lake prefix: must not be seen.
            ("elsewhere/x/part-0.parquet", parquet_bytes(&customers())),
        ],
    )
    .await;

    let location = LakeLocation::parse_with_options("s3://shop/lake", moto.options()).unwrap();
    let lake = Lake::open_location(location, None).await.unwrap();
    assert_eq!(names(&lake), ["clients", "orders"]);
    assert_eq!(lake.table("orders").unwrap().url, "s3://shop/lake/orders/");
    let ctx = registered(&lake).await;
    assert_eq!(
        sql(
            &ctx,
            "SELECT o.order_month, c.name, o.amount FROM orders o JOIN clients c USING (customer_id) \
             ORDER BY o.order_id"
        )
        .await,
        [
            "+-------------+------+--------+",
            "| order_month | name | amount |",
            "+-------------+------+--------+",
            "| 2025-01     | ann  | 10.50  |",
            "| 2025-01     | bob  | 20.00  |",
            "| 2025-02     | ann  | 9.99   |",
            "+-------------+------+--------+",
        ]
    );

    let missing = LakeLocation::parse_with_options("s3://shop/no-lake", moto.options()).unwrap();
    let err = Lake::open_location(missing, None)
        .await
        .unwrap_err()
        .to_string();
    assert_contains_all(&err, &["does not exist", "s3://shop/no-lake/"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_lake_with_a_corrupt_file_names_the_key() {
    let moto = Moto::start();
    moto.create_bucket("broken");
    let mut files = vec![(
        "lake/customers/part-0.parquet".to_string(),
        parquet_bytes(&customers()),
    )];
    // Enough files that footers are read concurrently.
    for i in 0..20 {
        let data = parquet_bytes(&orders(vec![i], vec![1], vec![100]));
        files.push((format!("lake/orders/part-{i:02}.parquet"), data));
    }
    files.push((
        "lake/orders/part-07-bad.parquet".into(),
        b"PAR1 but not really".to_vec(),
    ));
    upload(&moto, "broken", files).await;

    let location = LakeLocation::parse_with_options("s3://broken/lake", moto.options()).unwrap();
    let err = Lake::open_location(location, None)
        .await
        .unwrap_err()
        .to_string();
    assert_contains_all(
        &err,
        &[
            "s3://broken/lake/orders/part-07-bad.parquet",
            "not a valid Parquet file",
        ],
    );
}

#[tokio::test]
async fn underscore_named_data_files_are_validated_because_datafusion_reads_them() {
    // DataFusion's listing filters by extension only, so `_extra.parquet`
    // is scanned; treating it as ignored would leave it unvalidated.
    let dir = tempfile::tempdir().unwrap();
    write_parquet(&dir.path().join("customers/part-0.parquet"), &customers());
    write_parquet(&dir.path().join("customers/_extra.parquet"), &customers());
    let lake = Lake::open(path_str(dir.path()), None).await.unwrap();
    assert_eq!(lake.table("customers").unwrap().rows, 6);
    let ctx = registered(&lake).await;
    assert_eq!(
        sql(&ctx, "SELECT count(*) AS n FROM customers").await[3],
        "| 6 |"
    );
}
