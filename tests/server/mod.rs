//! `microseg serve` in-process, driven by arrow-flight's Flight SQL client:
//! authentication, queries, updates, roles, prepared statements, sessions.
//! This module holds the shared helpers (a server on loopback, clients,
//! users files); each submodule holds one concern's tests.

mod audit;
mod auth;
mod limits;
mod metadata;
mod roles;
mod statements;
mod tls;

use std::path::Path;
use std::sync::Arc;

use arrow_flight::sql::client::FlightSqlServiceClient;
use arrow_flight::{FlightInfo, Ticket};
use datafusion::arrow::array::{Array, Int64Array, RecordBatch, StringArray};
use futures::TryStreamExt;
use microseg::server::users::{Role, UsersFile};
use microseg::server::{AuthMode, RunningServer, ServeOptions, start};
use microseg::{Engine, EngineOptions};
use tonic::transport::Channel;

use crate::fixtures::small_lake_copy;

type Client = FlightSqlServiceClient<Channel>;

/// A users file with an analyst, a reader and an API token of the analyst.
fn users_file(dir: &Path) -> (std::path::PathBuf, String) {
    let mut users = UsersFile::default();
    users
        .add_user("ana", Role::Analyst, None, "ana-pw")
        .unwrap();
    users
        .add_user("rita", Role::Reader, None, "rita-pw")
        .unwrap();
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

/// The error `sql` fails with, when planned or while its rows stream
/// (the privacy rule judges the plan that runs).
async fn query_err(c: &mut Client, sql: &str) -> String {
    let info = match c.execute(sql.to_string(), None).await {
        Ok(info) => info,
        Err(e) => return e.to_string(),
    };
    for endpoint in info.endpoint {
        let ticket: Ticket = endpoint.ticket.expect("endpoint has a ticket");
        let result = match c.do_get(ticket).await {
            Ok(stream) => stream.try_collect::<Vec<_>>().await.map(|_| ()),
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            return e.to_string();
        }
    }
    panic!("{sql}: expected an error")
}

fn message(e: impl std::fmt::Display) -> String {
    e.to_string()
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

fn pretty(batches: &[RecordBatch]) -> String {
    // The table schema column is binary IPC; names are what matter here.
    datafusion::arrow::util::pretty::pretty_format_batches(batches)
        .map(|t| t.to_string())
        .unwrap_or_default()
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

type Runtime = Arc<datafusion::execution::runtime_env::RuntimeEnv>;

/// The gRPC status a Flight call failed with.
fn status(err: arrow_flight::error::FlightError) -> tonic::Status {
    match err {
        arrow_flight::error::FlightError::Tonic(status) => *status,
        other => panic!("not a status: {other}"),
    }
}
