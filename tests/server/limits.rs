//! Streaming and the server's limits: dropped streams, cancellation,
//! concurrency, timeouts and memory caps.

use std::sync::Arc;

use arrow_flight::FlightInfo;
use arrow_flight::sql::client::FlightSqlServiceClient;
use datafusion::arrow::array::{Array, Int64Array};
use futures::TryStreamExt;
use microseg::server::{AuthMode, ServeOptions, start};
use microseg::{Engine, EngineOptions};
use tonic::transport::Channel;

use super::{
    Client, Runtime, fetch, message, open_server, open_server_watched, single_i64, status,
};
use crate::fixtures::{SMALL_LAKE_CUSTOMERS, small_lake_copy};

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
