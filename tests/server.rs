//! `microseg serve` in-process, driven by arrow-flight's Flight SQL client:
//! authentication, queries, updates, roles, prepared statements, sessions.

use std::path::Path;
use std::sync::Arc;

use arrow_flight::sql::client::FlightSqlServiceClient;
use arrow_flight::sql::{CommandGetDbSchemas, CommandGetTables};
use arrow_flight::{FlightInfo, Ticket};
use datafusion::arrow::array::{Array, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::DataType;
use futures::TryStreamExt;
use microseg::server::users::{Role, UsersFile};
use microseg::server::{AuthMode, RunningServer, ServeOptions, start};
use microseg::{Engine, EngineOptions};
use tonic::transport::Channel;

use crate::fixtures::{SMALL_LAKE_CUSTOMERS, small_lake_copy};
use crate::support::{batch, col, write_parquet};

type Client = FlightSqlServiceClient<Channel>;

/// A users file with an analyst, a reader and an API token of the analyst.
fn users_file(dir: &Path) -> (std::path::PathBuf, String) {
    let mut users = UsersFile::default();
    users.add_user("ana", Role::Analyst, "ana-pw").unwrap();
    users.add_user("rita", Role::Reader, "rita-pw").unwrap();
    let token = users.add_token("ana", None).unwrap();
    let path = dir.join("users.toml");
    users.save(&path).unwrap();
    (path, token)
}

struct Fixture {
    server: RunningServer,
    token: String,
    lake: tempfile::TempDir,
    _dir: tempfile::TempDir,
}

async fn fixture() -> Fixture {
    let lake = small_lake_copy();
    let dir = tempfile::tempdir().unwrap();
    let (users, token) = users_file(dir.path());
    let engine = Engine::open(lake.path().to_str().unwrap(), EngineOptions::default())
        .await
        .unwrap();
    let options = ServeOptions {
        bind: "127.0.0.1:0".parse().unwrap(),
        auth: AuthMode::Users(users),
        ..ServeOptions::default()
    };
    let server = start(engine, options).await.unwrap();
    Fixture {
        server,
        token,
        lake,
        _dir: dir,
    }
}

async fn client(f: &Fixture) -> Client {
    let channel = Channel::from_shared(format!("http://{}", f.server.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    FlightSqlServiceClient::new(channel)
}

async fn logged_in(f: &Fixture, user: &str, password: &str) -> Client {
    let mut c = client(f).await;
    c.handshake(user, password)
        .await
        .unwrap_or_else(|e| panic!("handshake as {user}: {e}"));
    c
}

async fn fetch(c: &mut Client, info: FlightInfo) -> Vec<RecordBatch> {
    let mut batches = Vec::new();
    for endpoint in info.endpoint {
        let ticket: Ticket = endpoint.ticket.expect("endpoint has a ticket");
        let stream = c.do_get(ticket).await.expect("do_get");
        batches.extend(stream.try_collect::<Vec<_>>().await.expect("stream"));
    }
    batches
}

async fn query(c: &mut Client, sql: &str) -> Vec<RecordBatch> {
    let info = c
        .execute(sql.to_string(), None)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    fetch(c, info).await
}

async fn single_i64(c: &mut Client, sql: &str) -> i64 {
    let batches = query(c, sql).await;
    let column = batches[0].column(0);
    column
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap_or_else(|| panic!("{sql}: not an Int64 column: {:?}", column.data_type()))
        .value(0)
}

fn message(e: impl std::fmt::Display) -> String {
    e.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_missing_and_wrong_credentials() {
    let f = fixture().await;
    let mut anonymous = client(&f).await;
    let err = message(
        anonymous
            .execute("SELECT 1".into(), None)
            .await
            .unwrap_err(),
    );
    assert!(err.contains("authentication required"), "{err}");

    let mut c = client(&f).await;
    let wrong = message(c.handshake("ana", "wrong").await.unwrap_err());
    assert!(wrong.contains("authentication required"), "{wrong}");
    let err = message(c.handshake("nobody", "ana-pw").await.unwrap_err());
    assert_eq!(err, wrong);
    // Nothing tells a wrong password from an unknown user.
    assert!(!err.contains("nobody") && !err.contains("unknown"), "{err}");

    c.set_token("msb_forged".into());
    let err = message(c.execute("SELECT 1".into(), None).await.unwrap_err());
    assert!(err.contains("authentication required"), "{err}");
    f.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_login_and_api_token_run_queries_with_our_functions() {
    let f = fixture().await;
    let mut c = logged_in(&f, "ana", "ana-pw").await;
    let n = single_i64(&mut c, "SELECT count(*) FROM customers").await;
    assert_eq!(n, SMALL_LAKE_CUSTOMERS as i64);

    // Schemas: FlightInfo and DoGet agree, and strings arrive as Utf8.
    let info = c
        .execute(
            "SELECT customer_id, rfm_code(5, 4, 3) AS code FROM customers LIMIT 3".into(),
            None,
        )
        .await
        .unwrap();
    let announced = info.clone().try_decode_schema().unwrap();
    let batches = fetch(&mut c, info).await;
    assert_eq!(batches[0].schema().as_ref(), &announced);
    assert_eq!(
        announced.field_with_name("code").unwrap().data_type(),
        &DataType::Utf8
    );
    let codes = batches[0]
        .column(1)
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap();
    assert_eq!(codes.value(0), "543");

    let mut t = client(&f).await;
    t.set_token(f.token.clone());
    let n = single_i64(&mut t, "SELECT count(*) FROM orders WHERE amount > 0").await;
    assert!(n > 0);
    f.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analyst_updates_and_reader_is_refused_by_plan() {
    let f = fixture().await;
    let mut ana = logged_in(&f, "ana", "ana-pw").await;
    let mut rita = logged_in(&f, "rita", "rita-pw").await;

    let n = ana
        .execute_update(
            "CREATE VIEW big_orders AS SELECT * FROM orders WHERE amount > 100".into(),
            None,
        )
        .await
        .unwrap();
    assert_eq!(n, 0);
    // Views are shared by every session of the lake, readers included.
    assert!(single_i64(&mut rita, "SELECT count(*) FROM big_orders").await > 0);

    ana.execute_update(
        "CREATE SEGMENT SET spenders ('big' WHEN amount > 100, ELSE 'small')".into(),
        None,
    )
    .await
    .unwrap();
    let n = single_i64(
        &mut rita,
        "SELECT count(*) FROM orders WHERE segment_of('spenders') = 'big'",
    )
    .await;
    assert!(n > 0);

    let refused = [
        "CREATE VIEW v2 AS SELECT 1",
        "DROP VIEW big_orders",
        "CREATE SEGMENT SET s2 ('x' WHEN true)",
        "DROP SEGMENT SET spenders",
        "SET datafusion.execution.batch_size = 10",
        "CREATE TABLE t AS SELECT 1 AS a",
        "DROP MODEL IF EXISTS nothing_here",
    ];
    for sql in refused {
        let err = message(rita.execute_update(sql.into(), None).await.unwrap_err());
        assert!(err.contains("role reader may not run"), "{sql}: {err}");
        // A query call refuses the same statement: the plan decides, not the API.
        let err = message(rita.execute(sql.into(), None).await.unwrap_err());
        assert!(err.contains("role reader may not run"), "{sql}: {err}");
    }
    // Hidden in a comment-laden text, a write is still a write.
    let err = message(
        rita.execute_update("/* SELECT */ CREATE VIEW v3 AS SELECT 1".into(), None)
            .await
            .unwrap_err(),
    );
    assert!(err.contains("DDL"), "{err}");

    // DML answers its row count; single and multi-row parameter batches too.
    ana.execute_update("CREATE TABLE picks (id BIGINT, label TEXT)".into(), None)
        .await
        .unwrap();
    let n = ana
        .execute_update("INSERT INTO picks VALUES (1, 'a'), (2, 'b')".into(), None)
        .await
        .unwrap();
    assert_eq!(n, 2);
    let mut insert = ana
        .prepare("INSERT INTO picks VALUES ($1, $2)".into(), None)
        .await
        .unwrap();
    let params = Arc::new(insert.parameter_schema().unwrap().clone());
    let rows = RecordBatch::try_new(
        params,
        vec![
            Arc::new(Int64Array::from(vec![3, 4, 5])),
            Arc::new(StringArray::from(vec!["c", "d", "e"])),
        ],
    )
    .unwrap();
    insert.set_parameters(rows).unwrap();
    assert_eq!(insert.execute_update().await.unwrap(), 3);
    insert.close().await.unwrap();
    assert_eq!(single_i64(&mut rita, "SELECT count(*) FROM picks").await, 5);
    let err = message(
        rita.execute_update("INSERT INTO picks VALUES (6, 'f')".into(), None)
            .await
            .unwrap_err(),
    );
    assert!(err.contains("DML"), "{err}");
    // A reader cannot prepare a write either.
    let err = message(
        rita.prepare("DELETE FROM picks WHERE id = $1".into(), None)
            .await
            .expect_err("refused"),
    );
    assert!(err.contains("role reader may not run"), "{err}");

    // A file outside the lake: readers may not read it, analysts may.
    let outside = tempfile::tempdir().unwrap();
    let file = outside.path().join("secret.parquet");
    write_parquet(
        &file,
        &batch(vec![("x", col(Int64Array::from(vec![1, 2])))]),
    );
    let sql = format!("SELECT count(*) FROM '{}'", file.display());
    let err = message(rita.execute(sql.clone(), None).await.unwrap_err());
    assert!(err.contains("outside the lake"), "{err}");
    assert_eq!(single_i64(&mut ana, &sql).await, 2);
    // ...and the lake's own files through a path are fine for readers.
    let inside = format!(
        "SELECT count(*) FROM '{}/customers/'",
        f.lake.path().display()
    );
    assert_eq!(
        single_i64(&mut rita, &inside).await,
        SMALL_LAKE_CUSTOMERS as i64
    );

    // The server survives failing statements.
    let err = message(
        ana.execute("SELECT no_such_column FROM orders".into(), None)
            .await
            .unwrap_err(),
    );
    assert!(err.contains("no_such_column"), "{err}");
    assert_eq!(single_i64(&mut ana, "SELECT 1::BIGINT").await, 1);
    f.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_persists_per_session_only() {
    let f = fixture().await;
    let mut one = logged_in(&f, "ana", "ana-pw").await;
    let mut two = logged_in(&f, "ana", "ana-pw").await;
    one.execute_update("SET datafusion.execution.batch_size = 77".into(), None)
        .await
        .unwrap();
    let show = "SELECT value FROM information_schema.df_settings WHERE name = 'datafusion.execution.batch_size'";
    let value = |batches: Vec<RecordBatch>| -> String {
        let column = batches[0]
            .column(0)
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap()
            .clone();
        column.value(0).to_string()
    };
    assert_eq!(value(query(&mut one, show).await), "77");
    assert_ne!(value(query(&mut two, show).await), "77");
    f.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepared_statements_bind_parameters() {
    let f = fixture().await;
    let mut c = logged_in(&f, "ana", "ana-pw").await;
    let mut prepared = c
        .prepare(
            "SELECT count(*) AS n FROM orders WHERE amount > $1 AND channel = $2".into(),
            None,
        )
        .await
        .unwrap();
    let params = prepared.parameter_schema().unwrap().clone();
    assert_eq!(params.fields().len(), 2, "{params:?}");
    assert_eq!(params.field(1).data_type(), &DataType::Utf8);
    let channel = single_string(&mut c, "SELECT min(channel) FROM orders").await;
    // amount's own type (a decimal), as a client reading the schema would bind.
    let amounts = datafusion::arrow::compute::cast(
        &datafusion::arrow::array::Float64Array::from(vec![0.0, 1e9]),
        params.field(0).data_type(),
    )
    .unwrap();
    let binding = RecordBatch::try_new(
        Arc::new(params),
        vec![
            amounts,
            Arc::new(StringArray::from(vec![channel.clone(), channel.clone()])),
        ],
    )
    .unwrap();
    prepared.set_parameters(binding).unwrap();
    let info = prepared.execute().await.unwrap();
    let batches = fetch(&mut c, info).await;
    let counts: Vec<i64> = batches
        .iter()
        .flat_map(|b| {
            b.column(0)
                .as_any()
                .downcast_ref::<Int64Array>()
                .unwrap()
                .iter()
                .flatten()
                .collect::<Vec<_>>()
        })
        .collect();
    // One result per parameter row, in order.
    assert_eq!(counts.len(), 2, "{counts:?}");
    assert!(counts[0] > 0 && counts[1] == 0, "{counts:?}");
    prepared.close().await.unwrap();

    let question = c.prepare("SELECT ? + 1 AS x".into(), None).await.unwrap();
    assert_eq!(question.parameter_schema().unwrap().fields().len(), 1);
    question.close().await.unwrap();
    f.server.shutdown().await.unwrap();
}

async fn single_string(c: &mut Client, sql: &str) -> String {
    let batches = query(c, sql).await;
    let column = batches[0].column(0);
    column
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap_or_else(|| panic!("{sql}: not Utf8: {:?}", column.data_type()))
        .value(0)
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_lists_every_catalog_schema_and_table() {
    let f = fixture().await;
    let mut ana = logged_in(&f, "ana", "ana-pw").await;
    ana.execute_update("CREATE VIEW recent AS SELECT * FROM orders".into(), None)
        .await
        .unwrap();
    let mut c = logged_in(&f, "rita", "rita-pw").await;
    let info = c.get_catalogs().await.unwrap();
    let batches = fetch(&mut c, info).await;
    assert!(batches.iter().map(|b| b.num_rows()).sum::<usize>() >= 1);

    let info = c
        .get_db_schemas(CommandGetDbSchemas::default())
        .await
        .unwrap();
    let text = pretty(&fetch(&mut c, info).await);
    assert!(
        text.contains("datafusion") && text.contains("public"),
        "{text}"
    );

    let info = c
        .get_tables(CommandGetTables {
            include_schema: true,
            ..Default::default()
        })
        .await
        .unwrap();
    let announced = info.clone().try_decode_schema().unwrap();
    let batches = fetch(&mut c, info).await;
    assert_eq!(batches[0].schema().as_ref(), &announced);
    let text = pretty(&batches);
    for table in [
        "customers",
        "orders",
        "recent",
        "df_settings",
        "TABLE",
        "VIEW",
    ] {
        assert!(text.contains(table), "{table} missing:\n{text}");
    }

    let info = c
        .get_tables(CommandGetTables {
            table_name_filter_pattern: Some("cust%".into()),
            table_types: vec!["TABLE".into()],
            ..Default::default()
        })
        .await
        .unwrap();
    let batches = fetch(&mut c, info).await;
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    assert_eq!(rows, 1, "{}", pretty(&batches));

    let info = c
        .get_xdbc_type_info(arrow_flight::sql::CommandGetXdbcTypeInfo { data_type: None })
        .await
        .unwrap();
    let text = pretty(&fetch(&mut c, info).await);
    assert!(
        text.contains("VARCHAR") && text.contains("TIMESTAMP"),
        "{text}"
    );
    let info = c
        .get_primary_keys(arrow_flight::sql::CommandGetPrimaryKeys {
            table: "orders".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let announced = info.clone().try_decode_schema().unwrap();
    let batches = fetch(&mut c, info).await;
    assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 0);
    assert!(batches.iter().all(|b| b.schema().as_ref() == &announced));

    // The lake declares no keys: empty, in the schema Flight SQL defines.
    let info = c
        .get_cross_reference(arrow_flight::sql::CommandGetCrossReference {
            pk_table: "customers".into(),
            fk_table: "orders".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let announced = info.clone().try_decode_schema().unwrap();
    let names: Vec<&str> = announced
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .collect();
    assert_eq!(
        names,
        [
            "pk_catalog_name",
            "pk_db_schema_name",
            "pk_table_name",
            "pk_column_name",
            "fk_catalog_name",
            "fk_db_schema_name",
            "fk_table_name",
            "fk_column_name",
            "key_sequence",
            "fk_key_name",
            "pk_key_name",
            "update_rule",
            "delete_rule"
        ]
    );
    let batches = fetch(&mut c, info).await;
    assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 0);
    assert!(batches.iter().all(|b| b.schema().as_ref() == &announced));

    let info = c.get_sql_info(vec![]).await.unwrap();
    assert!(!fetch(&mut c, info).await.is_empty());
    let info = c.get_table_types().await.unwrap();
    assert_eq!(fetch(&mut c, info).await[0].num_rows(), 2);
    f.server.shutdown().await.unwrap();
}

fn pretty(batches: &[RecordBatch]) -> String {
    // The table schema column is binary IPC; names are what matter here.
    datafusion::arrow::util::pretty::pretty_format_batches(batches)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_results_stream_and_a_dropped_stream_frees_its_memory() {
    let lake = small_lake_copy();
    let engine = Engine::open(lake.path().to_str().unwrap(), EngineOptions::default())
        .await
        .unwrap();
    let runtime = engine.session().runtime_env();
    let server = start(
        engine,
        ServeOptions {
            bind: "127.0.0.1:0".parse().unwrap(),
            auth: AuthMode::InsecureNoAuth,
            ..ServeOptions::default()
        },
    )
    .await
    .unwrap();
    let channel = Channel::from_shared(format!("http://{}", server.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut c = FlightSqlServiceClient::new(channel);

    // Many batches arrive one by one: a streamed result, not one blob.
    let info = c
        .execute(
            "SELECT o.*, g.value FROM orders o CROSS JOIN generate_series(1, 20) g".into(),
            None,
        )
        .await
        .unwrap();
    let ticket = info.endpoint[0].ticket.clone().unwrap();
    let mut stream = c.do_get(ticket).await.unwrap();
    let (mut batches, mut rows) = (0usize, 0usize);
    while let Some(batch) = stream.try_next().await.unwrap() {
        batches += 1;
        rows += batch.num_rows();
    }
    let orders = {
        let info = c
            .execute("SELECT count(*) FROM orders".into(), None)
            .await
            .unwrap();
        let b = fetch(&mut c, info).await;
        b[0].column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap()
            .value(0) as usize
    };
    assert_eq!(rows, orders * 20);
    assert!(batches > 1, "{batches} batch(es)");

    // A sort holds memory until its output is consumed; drop the stream
    // after one batch and the query must stop and give the memory back.
    let info = c
        .execute(
            "SELECT o.*, g.value FROM orders o CROSS JOIN generate_series(1, 50) g ORDER BY g.value DESC, o.amount".into(),
            None,
        )
        .await
        .unwrap();
    let ticket = info.endpoint[0].ticket.clone().unwrap();
    let mut stream = c.do_get(ticket).await.unwrap();
    assert!(stream.try_next().await.unwrap().is_some());
    assert!(runtime.memory_pool.reserved() > 0, "the sort holds memory");
    drop(stream);
    let freed = async {
        while runtime.memory_pool.reserved() > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(20), freed)
        .await
        .expect("memory released after the client dropped the stream");
    // And the server still answers.
    let info = c.execute("SELECT 1".into(), None).await.unwrap();
    assert_eq!(fetch(&mut c, info).await[0].num_rows(), 1);
    server.shutdown().await.unwrap();
}

/// A server without authentication (calls share one session) and `limits`.
async fn open_server(
    limits: microseg::server::Limits,
) -> (RunningServer, Client, tempfile::TempDir) {
    let (server, client, lake, _) = open_server_watched(limits).await;
    (server, client, lake)
}

/// [`open_server`], with the engine's runtime to watch its memory pool.
async fn open_server_watched(
    limits: microseg::server::Limits,
) -> (RunningServer, Client, tempfile::TempDir, Runtime) {
    let lake = small_lake_copy();
    let engine = Engine::open(lake.path().to_str().unwrap(), EngineOptions::default())
        .await
        .unwrap();
    let runtime = engine.session().runtime_env();
    let server = start(
        engine,
        ServeOptions {
            bind: "127.0.0.1:0".parse().unwrap(),
            auth: AuthMode::InsecureNoAuth,
            limits,
            ..ServeOptions::default()
        },
    )
    .await
    .unwrap();
    let channel = Channel::from_shared(format!("http://{}", server.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    (server, FlightSqlServiceClient::new(channel), lake, runtime)
}

async fn cancel(c: &mut Client, info: &FlightInfo) -> Result<(), tonic::Status> {
    use prost::Message;
    let action = arrow_flight::Action::new(
        "CancelFlightInfo",
        arrow_flight::CancelFlightInfoRequest::new(info.clone()).encode_to_vec(),
    );
    let mut results = c.inner_mut().do_action(action).await?.into_inner();
    let body = results.message().await?.expect("a CancelFlightInfoResult");
    let result = arrow_flight::CancelFlightInfoResult::decode(body.body).unwrap();
    assert_eq!(result.status, arrow_flight::CancelStatus::Cancelled as i32);
    Ok(())
}

const SLOW_SORT: &str = "SELECT o.*, g.value FROM orders o CROSS JOIN generate_series(1, 50) g ORDER BY g.value DESC, o.amount";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_flight_info_stops_pending_and_running_queries() {
    let (server, mut c, _lake) = open_server(Default::default()).await;

    // Cancelled before DoGet: the result is gone.
    let info = c.execute(SLOW_SORT.into(), None).await.unwrap();
    cancel(&mut c, &info).await.unwrap();
    let ticket = info.endpoint[0].ticket.clone().unwrap();
    let err = match c.do_get(ticket).await {
        Ok(stream) => message(stream.try_collect::<Vec<_>>().await.unwrap_err()),
        Err(e) => message(e),
    };
    assert!(err.contains("unknown or already fetched"), "{err}");
    // Twice: nothing left to cancel.
    let err = cancel(&mut c, &info).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound, "{err}");

    // Cancelled while streaming: the stream ends with Cancelled.
    let info = c.execute(SLOW_SORT.into(), None).await.unwrap();
    let ticket = info.endpoint[0].ticket.clone().unwrap();
    let mut stream = c.do_get(ticket).await.unwrap();
    assert!(stream.try_next().await.unwrap().is_some());
    cancel(&mut c, &info).await.unwrap();
    let err = loop {
        match stream.try_next().await {
            Ok(Some(_)) => continue,
            Ok(None) => panic!("the stream ended without saying it was cancelled"),
            Err(e) => break message(e),
        }
    };
    assert!(err.contains("cancelled"), "{err}");
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_and_time_limits_give_clear_errors() {
    let limits = microseg::server::Limits {
        max_concurrent: 1,
        queue_timeout: std::time::Duration::from_millis(300),
        query_timeout: std::time::Duration::from_secs(3600),
        query_memory: None,
    };
    let (server, mut c, _lake) = open_server(limits).await;
    // An announced, unfetched result holds the only slot.
    let first = c.execute("SELECT 1 AS a".into(), None).await.unwrap();
    let err = message(c.execute("SELECT 2".into(), None).await.unwrap_err());
    assert!(err.contains("queries are running"), "{err}");
    assert_eq!(fetch(&mut c, first).await[0].num_rows(), 1);
    // Fetched: the slot is free again.
    let info = c.execute("SELECT 2".into(), None).await.unwrap();
    assert_eq!(fetch(&mut c, info).await[0].num_rows(), 1);
    server.shutdown().await.unwrap();

    let limits = microseg::server::Limits {
        query_timeout: std::time::Duration::from_millis(1),
        ..Default::default()
    };
    let (server, mut c, _lake) = open_server(limits).await;
    // Planning counts too, so the limit may strike at GetFlightInfo already.
    let err = match c.execute(SLOW_SORT.into(), None).await {
        Ok(info) => {
            let ticket = info.endpoint[0].ticket.clone().unwrap();
            match c.do_get(ticket).await {
                Ok(stream) => message(stream.try_collect::<Vec<_>>().await.unwrap_err()),
                Err(e) => message(e),
            }
        }
        Err(e) => message(e),
    };
    assert!(err.contains("longer than the server's limit"), "{err}");
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_a_self_signed_certificate() {
    use tonic::transport::{Certificate, ClientTlsConfig};
    let dir = tempfile::tempdir().unwrap();
    let key = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let cert_path = dir.path().join("cert.pem");
    let key_path = dir.path().join("key.pem");
    std::fs::write(&cert_path, key.cert.pem()).unwrap();
    std::fs::write(&key_path, key.signing_key.serialize_pem()).unwrap();
    let (users, _) = users_file(dir.path());

    let lake = small_lake_copy();
    let engine = Engine::open(lake.path().to_str().unwrap(), EngineOptions::default())
        .await
        .unwrap();
    let server = start(
        engine,
        ServeOptions {
            bind: "127.0.0.1:0".parse().unwrap(),
            auth: AuthMode::Users(users),
            tls: Some((cert_path.clone(), key_path.clone())),
            ..ServeOptions::default()
        },
    )
    .await
    .unwrap();
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(key.cert.pem()))
        .domain_name("localhost");
    let channel = Channel::from_shared(format!("https://{}", server.addr))
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut c = FlightSqlServiceClient::new(channel);
    c.handshake("ana", "ana-pw").await.unwrap();
    assert_eq!(
        single_i64(&mut c, "SELECT count(*) FROM customers").await,
        SMALL_LAKE_CUSTOMERS as i64
    );

    // Plain HTTP/2 to a TLS port gets nowhere.
    let plain = Channel::from_shared(format!("http://{}", server.addr))
        .unwrap()
        .connect()
        .await;
    if let Ok(channel) = plain {
        let mut p = FlightSqlServiceClient::new(channel);
        assert!(p.handshake("ana", "ana-pw").await.is_err());
    }
    server.shutdown().await.unwrap();

    // A key that is not a key is reported with both file names.
    std::fs::write(&key_path, "not a key").unwrap();
    let engine = Engine::open(lake.path().to_str().unwrap(), EngineOptions::default())
        .await
        .unwrap();
    let (users, _) = users_file(dir.path());
    let err = start(
        engine,
        ServeOptions {
            bind: "127.0.0.1:0".parse().unwrap(),
            auth: AuthMode::Users(users),
            tls: Some((cert_path, key_path)),
            ..ServeOptions::default()
        },
    )
    .await
    .err()
    .expect("a broken key is refused");
    assert!(err.to_string().contains("key.pem"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_file_changes_apply_to_a_running_server() {
    let f = fixture().await;
    let users_path = f._dir.path().join("users.toml");
    let mut rita = logged_in(&f, "rita", "rita-pw").await;
    assert_eq!(single_i64(&mut rita, "SELECT 1::BIGINT").await, 1);

    // A token made while the server runs works at once...
    let mut file = UsersFile::load(&users_path).unwrap();
    let token = file.add_token("rita", None).unwrap();
    file.save(&users_path).unwrap();
    let mut t = client(&f).await;
    t.set_token(token.clone());
    assert_eq!(single_i64(&mut t, "SELECT 2::BIGINT").await, 2);

    // ...and removing the user ends both their Handshake session and token.
    file.remove_user("rita").unwrap();
    file.save(&users_path).unwrap();
    for c in [&mut rita, &mut t] {
        let err = message(c.execute("SELECT 1".into(), None).await.unwrap_err());
        assert!(err.contains("authentication required"), "{err}");
    }
    f.server.shutdown().await.unwrap();
}

#[test]
fn serve_and_users_commands_report_bad_input() {
    use std::process::Command;
    let bin = env!("CARGO_BIN_EXE_microseg");
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users.toml");
    let run = |args: &[&str], stdin: &str| {
        use std::io::Write;
        let mut child = Command::new(bin)
            .args(args)
            .env_remove("MICROSEG_USERS")
            .env_remove("MICROSEG_LAKE")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // A command that refuses its arguments exits without reading its
        // input: a broken pipe here is that, and its exit status says more.
        let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
        let out = child.wait_with_output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let u = users.to_str().unwrap();

    let (ok, _, err) = run(&["serve", "--lake", "nowhere", "--users", u], "");
    assert!(!ok && err.contains(u) && err.contains("users add"), "{err}");
    let (ok, _, err) = run(
        &["users", "add", "ana", "--role", "boss", "--users", u],
        "pw\n",
    );
    assert!(!ok && err.contains("boss"), "{err}");
    let (ok, _, err) = run(
        &["users", "add", "ana", "--role", "analyst", "--users", u],
        "",
    );
    assert!(!ok && err.contains("empty password"), "{err}");
    let (ok, _, err) = run(
        &["users", "add", "ana", "--role", "analyst", "--users", u],
        "pw\n",
    );
    assert!(ok, "{err}");
    let (ok, _, err) = run(
        &["users", "add", "ana", "--role", "reader", "--users", u],
        "pw\n",
    );
    assert!(!ok && err.contains("already exists"), "{err}");
    let (ok, _, err) = run(
        &["users", "token", "ana", "--ttl", "soon", "--users", u],
        "",
    );
    assert!(
        !ok && err.contains("--ttl") && err.contains("soon"),
        "{err}"
    );
    let (ok, token, err) = run(&["users", "token", "ana", "--ttl", "30d", "--users", u], "");
    assert!(ok && token.trim().starts_with("mst_"), "{err}");
    assert!(
        !std::fs::read_to_string(&users)
            .unwrap()
            .contains(token.trim())
    );
    let (ok, _, err) = run(&["users", "remove", "bob", "--users", u], "");
    assert!(!ok && err.contains("unknown user bob"), "{err}");
    let (ok, _, err) = run(&["users", "remove", "ana", "--users", u], "");
    assert!(ok, "{err}");
    let (ok, _, err) = run(
        &[
            "serve",
            "--lake",
            "nowhere",
            "--users",
            u,
            "--tls-cert",
            "c.pem",
        ],
        "",
    );
    assert!(!ok && err.contains("--tls-key"), "{err}");
    std::fs::write(&users, "[users.x]\nrole = \"analyst\"\nshoe_size = 9\n").unwrap();
    let (ok, _, err) = run(&["serve", "--lake", "nowhere", "--users", u], "");
    assert!(!ok && err.contains("shoe_size"), "{err}");
}

#[test]
fn insecure_no_auth_warns_loudly() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let lake = crate::fixtures::small_lake_str();
    let mut child = Command::new(env!("CARGO_BIN_EXE_microseg"))
        .args([
            "serve",
            "--lake",
            &lake,
            "--bind",
            "127.0.0.1:0",
            "--insecure-no-auth",
        ])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    for line in stderr.lines() {
        let line = line.unwrap();
        seen.push_str(&line);
        seen.push('\n');
        if line.starts_with("serving") {
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(seen.contains("WARNING: --insecure-no-auth"), "{seen}");
    assert!(
        seen.contains("serving") && seen.contains("127.0.0.1:"),
        "{seen}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshake_tokens_expire() {
    let lake = small_lake_copy();
    let dir = tempfile::tempdir().unwrap();
    let (users, _) = users_file(dir.path());
    let engine = Engine::open(lake.path().to_str().unwrap(), EngineOptions::default())
        .await
        .unwrap();
    let server = start(
        engine,
        ServeOptions {
            bind: "127.0.0.1:0".parse().unwrap(),
            auth: AuthMode::Users(users),
            session_ttl: std::time::Duration::from_secs(2),
            ..ServeOptions::default()
        },
    )
    .await
    .unwrap();
    let channel = Channel::from_shared(format!("http://{}", server.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut c = FlightSqlServiceClient::new(channel);
    c.handshake("ana", "ana-pw").await.unwrap();
    assert_eq!(single_i64(&mut c, "SELECT 1::BIGINT").await, 1);
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let err = message(c.execute("SELECT 1".into(), None).await.unwrap_err());
    assert!(err.contains("authentication required"), "{err}");
    // A new handshake gives a new token.
    c.clear_token();
    c.handshake("ana", "ana-pw").await.unwrap();
    assert_eq!(single_i64(&mut c, "SELECT 1::BIGINT").await, 1);
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_a_prepared_statement_frees_its_handle() {
    use arrow_flight::sql::{
        ActionClosePreparedStatementRequest, ActionCreatePreparedStatementRequest,
        ActionCreatePreparedStatementResult, Any, ProstMessageExt,
    };
    use prost::Message;
    let (server, mut c, _lake) = open_server(Default::default()).await;
    let create = ActionCreatePreparedStatementRequest {
        query: "SELECT $1::BIGINT + 1".into(),
        transaction_id: None,
    };
    let action =
        arrow_flight::Action::new("CreatePreparedStatement", create.as_any().encode_to_vec());
    let mut results = c.inner_mut().do_action(action).await.unwrap().into_inner();
    let body = results.message().await.unwrap().unwrap().body;
    let created: ActionCreatePreparedStatementResult =
        Any::decode(body).unwrap().unpack().unwrap().unwrap();
    let close = ActionClosePreparedStatementRequest {
        prepared_statement_handle: created.prepared_statement_handle.clone(),
    };
    let action =
        || arrow_flight::Action::new("ClosePreparedStatement", close.as_any().encode_to_vec());
    c.inner_mut().do_action(action()).await.unwrap();
    let err = c.inner_mut().do_action(action()).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound, "{err}");
    // Executing a closed statement names the problem.
    let query = arrow_flight::sql::CommandPreparedStatementQuery {
        prepared_statement_handle: created.prepared_statement_handle,
    };
    let descriptor = arrow_flight::FlightDescriptor::new_cmd(query.as_any().encode_to_vec());
    let err = c.inner_mut().get_flight_info(descriptor).await.unwrap_err();
    assert!(
        err.message().contains("unknown prepared statement"),
        "{err}"
    );
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_query_cannot_take_the_whole_pool() {
    let limits = microseg::server::Limits {
        query_memory: Some(64 * 1024),
        ..Default::default()
    };
    let (server, mut c, _lake) = open_server(limits).await;
    // A hash join's build side cannot spill: past the cap it fails cleanly.
    let info = c
        .execute(
            "SELECT count(*) FROM orders a JOIN orders b ON a.customer_id = b.customer_id".into(),
            None,
        )
        .await
        .unwrap();
    let ticket = info.endpoint[0].ticket.clone().unwrap();
    let err = match c.do_get(ticket).await {
        Ok(stream) => message(stream.try_collect::<Vec<_>>().await.unwrap_err()),
        Err(e) => message(e),
    };
    assert!(err.contains("per-query memory limit"), "{err}");
    // Small queries still run, and the server is fine.
    assert_eq!(
        single_i64(&mut c, "SELECT count(*) FROM customers").await,
        SMALL_LAKE_CUSTOMERS as i64
    );
    server.shutdown().await.unwrap();
}

/// A hash aggregate that holds memory and would run for hours.
const ENDLESS_AGGREGATE: &str =
    "SELECT value % 1000000 AS k, count(*) AS n FROM generate_series(1, 100000000000) GROUP BY k";

type Runtime = Arc<datafusion::execution::runtime_env::RuntimeEnv>;

/// Runs `call` while sampling the pool; its result and the most it held.
async fn with_peak_memory<T>(
    runtime: &Runtime,
    call: impl std::future::Future<Output = T>,
) -> (T, usize) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let peak = Arc::new(AtomicUsize::new(0));
    let sampler = {
        let (peak, runtime) = (peak.clone(), runtime.clone());
        tokio::spawn(async move {
            loop {
                peak.fetch_max(runtime.memory_pool.reserved(), Ordering::Relaxed);
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        })
    };
    // Without the limit the call would run for hours: fail, don't hang.
    let result = tokio::time::timeout(std::time::Duration::from_secs(60), call)
        .await
        .expect("the server answered within a minute");
    sampler.abort();
    (result, peak.load(Ordering::Relaxed))
}

async fn pool_drains(runtime: &Runtime) {
    let drained = async {
        while runtime.memory_pool.reserved() > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(20), drained)
        .await
        .expect("the stopped query gave its memory back");
}

/// The gRPC status a Flight call failed with.
fn status(err: arrow_flight::error::FlightError) -> tonic::Status {
    match err {
        arrow_flight::error::FlightError::Tonic(status) => *status,
        other => panic!("not a status: {other}"),
    }
}

fn expect_deadline(err: arrow_flight::error::FlightError) {
    let err = status(err);
    assert_eq!(err.code(), tonic::Code::DeadlineExceeded, "{err}");
    assert!(
        err.message().contains("limit of 1.5s (--query-timeout)"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_timeout_covers_ddl_updates_and_the_first_batch() {
    let limits = microseg::server::Limits {
        query_timeout: std::time::Duration::from_millis(1500),
        ..Default::default()
    };
    let (server, mut c, _lake, runtime) = open_server_watched(limits).await;

    // DDL runs at GetFlightInfo: the limit stops it there.
    let sql = format!("CREATE TABLE never AS {ENDLESS_AGGREGATE}");
    let (result, peak) = with_peak_memory(&runtime, c.execute(sql, None)).await;
    expect_deadline(result.expect_err("the statement ran out of time"));
    assert!(peak > 0, "the aggregate held memory while it ran");
    pool_drains(&runtime).await;
    let err = message(
        c.execute("SELECT * FROM never".into(), None)
            .await
            .unwrap_err(),
    );
    assert!(err.contains("never"), "{err}");

    // An update (DoPut) is stopped the same way.
    c.execute_update("CREATE TABLE sink (k BIGINT, n BIGINT)".into(), None)
        .await
        .unwrap();
    let sql = format!("INSERT INTO sink {ENDLESS_AGGREGATE}");
    let (result, peak) = with_peak_memory(&runtime, c.execute_update(sql, None)).await;
    expect_deadline(result.expect_err("the update ran out of time"));
    assert!(peak > 0, "the insert's aggregate held memory while it ran");
    pool_drains(&runtime).await;
    assert_eq!(single_i64(&mut c, "SELECT count(*) FROM sink").await, 0);

    // Planned in time, but the first batch would come too late.
    let info = c.execute(ENDLESS_AGGREGATE.into(), None).await.unwrap();
    let ticket = info.endpoint[0].ticket.clone().unwrap();
    let fetch_all = async {
        match c.do_get(ticket).await {
            Ok(stream) => stream.try_collect::<Vec<_>>().await.map(|_| ()),
            Err(e) => Err(e),
        }
    };
    let (result, _) = with_peak_memory(&runtime, fetch_all).await;
    expect_deadline(result.expect_err("the stream ran out of time"));
    pool_drains(&runtime).await;

    // The server is fine.
    assert_eq!(
        single_i64(&mut c, "SELECT count(*) FROM customers").await,
        SMALL_LAKE_CUSTOMERS as i64
    );
    server.shutdown().await.unwrap();
}

fn refused(err: arrow_flight::error::FlightError, what: &[&str]) {
    let err = status(err);
    assert_eq!(err.code(), tonic::Code::PermissionDenied, "{err}");
    for part in what {
        assert!(err.message().contains(part), "{part:?} not in: {err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reader_checks_reach_inner_queries_and_paths_before_they_run() {
    let f = fixture().await;
    let mut ana = logged_in(&f, "ana", "ana-pw").await;
    let mut rita = logged_in(&f, "rita", "rita-pw").await;
    let outside = tempfile::tempdir().unwrap();
    let file = outside.path().join("secret.parquet");
    write_parquet(
        &file,
        &batch(vec![(
            "amount",
            col(datafusion::arrow::array::Float64Array::from(vec![1.0, 2.0])),
        )]),
    );
    let secret = file.display().to_string();
    let missing = outside.path().join("missing.parquet").display().to_string();

    // A path outside the lake, in any statement form: analysts see it,
    // readers are refused before it is opened (a missing file is refused
    // the same way, so nothing is learnt about what exists).
    let columns = pretty(&query(&mut ana, &format!("DESCRIBE '{secret}'")).await);
    assert!(columns.contains("amount"), "{columns}");
    for sql in [
        format!("DESCRIBE '{secret}'"),
        format!("DESCRIBE '{missing}'"),
        format!("EXPLAIN SELECT * FROM '{secret}'"),
        format!("SELECT * FROM (SELECT amount FROM '{secret}') s WHERE amount > 0"),
    ] {
        let err = rita.execute(sql.clone(), None).await.unwrap_err();
        refused(err, &["role reader may not", "outside the lake"]);
    }
    let err = rita
        .execute(format!("DESCRIBE '{secret}'"), None)
        .await
        .unwrap_err();
    refused(err, &[&secret]);

    // A model to run lookalike and model_evaluate with, and the views an
    // analyst prepares for them (two read the file outside the lake).
    ana.execute_update(
        "CREATE MODEL spend OPTIONS (model_type 'kmeans', num_clusters 2, seed 1) AS SELECT CAST(amount AS DOUBLE) AS amount FROM orders".into(),
        None,
    )
    .await
    .unwrap();
    for view in [
        "CREATE VIEW seed5 AS SELECT CAST(amount AS DOUBLE) AS amount FROM orders LIMIT 5".to_string(),
        "CREATE VIEW order_candidates AS SELECT order_id, CAST(amount AS DOUBLE) AS amount FROM orders".to_string(),
        format!("CREATE VIEW secret_amounts AS SELECT amount FROM '{secret}'"),
        format!("CREATE VIEW secret_candidates AS SELECT 1 AS id, amount FROM '{secret}'"),
    ] {
        ana.execute_update(view.clone(), None)
            .await
            .unwrap_or_else(|e| panic!("{view}: {e}"));
    }
    // Relations a reader may read still work...
    let sql = "SELECT count(*) FROM lookalike('spend', seed5, order_candidates, 3)";
    assert_eq!(single_i64(&mut rita, sql).await, 3);
    let sql = "SELECT rows FROM model_evaluate('spend', seed5)";
    assert_eq!(single_i64(&mut rita, sql).await, 5);
    // ...and an analyst's may read the outside file.
    let sql = "SELECT rows FROM model_evaluate('spend', secret_amounts)";
    assert_eq!(single_i64(&mut ana, sql).await, 2);

    // The relations are planned into the statement: the policy judges the
    // whole plan, views included, before anything runs.
    let cases = [
        (
            "SELECT * FROM lookalike('spend', seed5, secret_candidates, 3)",
            vec!["role reader may not", "outside the lake", &secret],
        ),
        (
            "SELECT * FROM lookalike('spend', secret_amounts, order_candidates, 3)",
            vec!["role reader may not", "outside the lake", &secret],
        ),
        (
            "SELECT * FROM model_evaluate('spend', secret_amounts)",
            vec!["role reader may not", "outside the lake", &secret],
        ),
        (
            "EXPLAIN SELECT * FROM model_evaluate('spend', secret_amounts)",
            vec!["role reader may not", "outside the lake"],
        ),
    ];
    for (sql, what) in &cases {
        let err = rita.execute(sql.to_string(), None).await.unwrap_err();
        refused(err, what);
        let err = rita.prepare(sql.to_string(), None).await.unwrap_err();
        refused(err, what);
    }
    // Statements are no longer arguments: text is only ever a name, and
    // these name no table, for a reader as for an analyst.
    for sql in [
        "SELECT * FROM lookalike('spend', 'CREATE TABLE leak AS SELECT 1.0 AS amount', order_candidates, 3)",
        "SELECT * FROM model_evaluate('spend', 'CREATE VIEW leak AS SELECT 1.0 AS amount')",
        "SELECT * FROM model_evaluate('spend', 'SET datafusion.execution.batch_size = 1')",
    ] {
        let err = message(rita.execute(sql.into(), None).await.unwrap_err());
        assert!(err.contains("unknown table"), "{sql}: {err}");
        let err = message(ana.execute(sql.into(), None).await.unwrap_err());
        assert!(err.contains("unknown table"), "{sql}: {err}");
    }
    // Nothing the statements-as-text asked for happened.
    let err = message(
        ana.execute("SELECT * FROM leak".into(), None)
            .await
            .unwrap_err(),
    );
    assert!(err.contains("leak"), "{err}");
    let show = "SELECT value FROM information_schema.df_settings WHERE name = 'datafusion.execution.batch_size'";
    assert_ne!(single_string(&mut rita, show).await, "1");

    // CREATE MODEL's training query never runs for a reader: the statement
    // itself is refused first.
    let err = rita
        .execute_update(
            format!(
                "CREATE MODEL m2 OPTIONS (model_type 'kmeans', num_clusters 2) AS SELECT amount FROM '{secret}'"
            ),
            None,
        )
        .await
        .unwrap_err();
    refused(err, &["role reader may not run CREATE MODEL"]);
    f.server.shutdown().await.unwrap();
}
