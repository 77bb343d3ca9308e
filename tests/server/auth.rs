//! Logins, API tokens, session expiry, the users file and the commands
//! that manage it.

use arrow_flight::sql::client::FlightSqlServiceClient;
use datafusion::arrow::array::{Array, StringArray};
use datafusion::arrow::datatypes::DataType;
use microseg::server::users::UsersFile;
use microseg::server::{AuthMode, ServeOptions, start};
use microseg::{Engine, EngineOptions};
use tonic::transport::Channel;

use super::{client, fetch, fixture, logged_in, message, single_i64, users_file};
use crate::fixtures::{SMALL_LAKE_CUSTOMERS, small_lake_copy};

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
