//! `microseg serve`: the lake over Arrow Flight SQL, for BI tools.
//!
//! - [`auth`]: Handshake (HTTP Basic → bearer), the bearer check in front of
//!   every call, sessions per token.
//! - [`users`]: the users file (argon2 password hashes, hashed API tokens).
//! - [`roles`]: what a reader may run, decided on the plan.
//! - [`service`]: the Flight SQL service (queries, updates, prepared statements).
//! - [`metadata`]: catalogs, schemas, tables, SqlInfo, XDBC types.
//! - [`limits`]: concurrent-query slots, timeouts, the per-query memory cap.
//! - [`wire`]: what clients receive: plain Arrow types, IPC schemas, statuses.
//! - [`memory`]: the per-query cap inside the engine's memory pool.

pub mod audit;
mod auth;
pub mod limits;
pub mod memory;
pub mod metadata;
pub mod prepared;
pub mod roles;
pub mod service;
pub mod session;
pub mod users;
pub mod wire;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use arrow_flight::flight_service_server::FlightServiceServer;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Identity, Server, ServerTlsConfig};

use crate::engine::Engine;
use crate::error::{Error, Result};
pub use limits::Limits;

/// How the server authenticates.
#[derive(Debug, Clone)]
pub enum AuthMode {
    /// Users from this users file.
    Users(PathBuf),
    /// Nobody is asked for anything (local experiments only).
    InsecureNoAuth,
}

/// Everything `microseg serve` needs besides the engine.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Address to listen on.
    pub bind: SocketAddr,
    /// Who may connect.
    pub auth: AuthMode,
    /// PEM certificate chain and private key for TLS; plain HTTP/2 without.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Lifetime of a Handshake's bearer token.
    pub session_ttl: Duration,
    /// Query limits.
    pub limits: Limits,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            bind: SocketAddr::from(([127, 0, 0, 1], 50051)),
            auth: AuthMode::Users(PathBuf::from("users.toml")),
            tls: None,
            session_ttl: Duration::from_secs(12 * 3600),
            limits: Limits::default(),
        }
    }
}

/// A server accepting connections, until [`RunningServer::shutdown`].
pub struct RunningServer {
    /// The address it listens on (the real port when 0 was asked for).
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<()>>,
}

impl RunningServer {
    /// Stops accepting, lets running calls finish, and returns the
    /// server's error if it failed.
    pub async fn shutdown(mut self) -> Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.wait().await
    }

    /// Waits until the server stops (for the command, which runs until
    /// interrupted).
    pub async fn wait(&mut self) -> Result<()> {
        match (&mut self.task).await {
            Ok(result) => result,
            Err(e) => Err(Error::Usage(format!("the server task failed: {e}"))),
        }
    }
}

/// Binds, then serves `engine` in a background task.
pub async fn start(engine: Engine, options: ServeOptions) -> Result<RunningServer> {
    let base = Arc::new(engine);
    let auth = Arc::new(match &options.auth {
        AuthMode::Users(path) => auth::Auth::with_users(path.clone(), base, options.session_ttl)?,
        AuthMode::InsecureNoAuth => auth::Auth::insecure(base, options.session_ttl),
    });
    let service = service::MicrosegFlightSql::new(auth.clone(), options.limits.clone())
        .map_err(|e| Error::Usage(e.message().to_string()))?;

    install_crypto_provider();
    let mut builder = Server::builder();
    if let Some((cert, key)) = &options.tls {
        let read = |path: &PathBuf, what: &str| {
            std::fs::read(path).map_err(|e| {
                Error::Usage(format!("cannot read TLS {what} {}: {e}", path.display()))
            })
        };
        let identity = Identity::from_pem(read(cert, "certificate")?, read(key, "key")?);
        builder = builder
            .tls_config(ServerTlsConfig::new().identity(identity))
            .map_err(|e| {
                Error::Usage(format!(
                    "TLS certificate {} / key {}: {e}",
                    cert.display(),
                    key.display()
                ))
            })?;
    }

    let listener = tokio::net::TcpListener::bind(options.bind)
        .await
        .map_err(|e| Error::Usage(format!("cannot listen on {}: {e}", options.bind)))?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let router = builder
        .layer(auth::AuthLayer::new(auth))
        .add_service(FlightServiceServer::new(service));
    let task = tokio::spawn(async move {
        router
            // Without TCP_NODELAY, Nagle's algorithm and delayed ACKs add
            // tens of milliseconds to every small response (measured with
            // benches/flight_load.py: p50 100 ms → 28 ms for count(*)).
            .serve_with_incoming_shutdown(
                TcpIncoming::from(listener).with_nodelay(Some(true)),
                async {
                    let _ = stopped.await;
                },
            )
            .await
            .map_err(|e| Error::Usage(format!("server on {addr}: {e}")))
    });
    Ok(RunningServer {
        addr,
        stop: Some(stop),
        task,
    })
}

/// Makes ring the process's TLS provider (for the server and for clients
/// in the same process), unless one was chosen already.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
