//! Serving over TLS.

use arrow_flight::sql::client::FlightSqlServiceClient;
use microseg::server::{AuthMode, ServeOptions, start};
use microseg::{Engine, EngineOptions};
use tonic::transport::Channel;

use super::{single_i64, users_file};
use crate::fixtures::{SMALL_LAKE_CUSTOMERS, small_lake_copy};

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
