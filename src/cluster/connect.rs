//! The client side: an engine whose plans run on a cluster.

use std::sync::Arc;
use std::time::Duration;

use ballista_core::extension::{SessionConfigExt, SessionStateExt};
use datafusion::execution::{FunctionRegistry, SessionStateBuilder};

use super::pin::PinDeltaTables;
use crate::engine::Engine;
use crate::error::{Error, Result};

/// How long a scheduler may take to accept a connection.
const CONNECT_WITHIN: Duration = Duration::from_secs(5);

/// `df://HOST:PORT`, the scheduler of a cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterAddress {
    pub host: String,
    pub port: u16,
}

impl ClusterAddress {
    /// Parses `df://HOST:PORT` (port 50050 when left out).
    pub fn parse(address: &str) -> Result<Self> {
        let bad = |why: &str| {
            Error::Usage(format!(
                "--cluster {address}: {why}: expected df://HOST:PORT"
            ))
        };
        let url = url::Url::parse(address).map_err(|e| bad(&e.to_string()))?;
        if url.scheme() != "df" {
            return Err(bad(&format!("unknown scheme {}://", url.scheme())));
        }
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| bad("no host"))?;
        if !(url.path().is_empty() || url.path() == "/") || url.query().is_some() {
            return Err(bad("unexpected path or query"));
        }
        Ok(Self {
            host: host.trim_matches(['[', ']']).to_string(),
            port: url.port().unwrap_or(50050),
        })
    }

    fn http(&self) -> String {
        if self.host.contains(':') {
            format!("http://[{}]:{}", self.host, self.port)
        } else {
            format!("http://{}:{}", self.host, self.port)
        }
    }
}

impl std::fmt::Display for ClusterAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "df://[{}]:{}", self.host, self.port)
        } else {
            write!(f, "df://{}:{}", self.host, self.port)
        }
    }
}

/// A TCP connection within [`CONNECT_WITHIN`], or an error naming `what`
/// and the address; Ballista's own clients would otherwise retry silently.
pub(super) async fn check_reachable(host: &str, port: u16, what: &str) -> Result<()> {
    let target = (host, port);
    match tokio::time::timeout(CONNECT_WITHIN, tokio::net::TcpStream::connect(target)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(Error::Usage(format!(
            "{what} {host}:{port} does not answer: {e}"
        ))),
        Err(_) => Err(Error::Usage(format!(
            "{what} {host}:{port} does not answer within {}s",
            CONNECT_WITHIN.as_secs()
        ))),
    }
}

/// `engine` with its queries executed on the cluster at `address`.
///
/// Planning stays here: the session keeps its tables, analyzer rule and
/// functions; only the query planner becomes Ballista's, which sends the
/// optimized plan to the scheduler, behind [`PinDeltaTables`]. Ballista's upgrade replaces the
/// function lists with DataFusion's, so the engine's are registered again.
pub async fn connect(engine: Engine, address: &str) -> Result<Engine> {
    let cluster = ClusterAddress::parse(address)?;
    let location = &engine.lake().location;
    if location.store_url.scheme() == "memory" {
        return Err(Error::Usage(format!(
            "--cluster {cluster}: the lake {} is in this process's memory, which executors cannot read: use a path or object store every cluster process can reach",
            location.original
        )));
    }
    check_reachable(
        &cluster.host,
        cluster.port,
        &format!("cluster {cluster}: scheduler"),
    )
    .await?;
    let (logical, physical) = super::codecs()?;
    let url = cluster.http();
    engine.with_session_state(move |state| {
        let scalar: Vec<_> = state.scalar_functions().values().cloned().collect();
        let aggregate: Vec<_> = state.aggregate_functions().values().cloned().collect();
        let window: Vec<_> = state.window_functions().values().cloned().collect();
        let config = state
            .config()
            .clone()
            .upgrade_for_ballista()
            .with_ballista_grpc_client_max_message_size(super::MAX_MESSAGE_BYTES)
            .with_ballista_logical_extension_codec(logical)
            .with_ballista_physical_extension_codec(physical)
            // Pulling learns the job id on submission (pushed statuses
            // name it only when a stage completes), so a query abandoned
            // at any time can be cancelled on the cluster.
            .set_bool(ballista_core::config::BALLISTA_CLIENT_PULL, true);
        let state = SessionStateBuilder::new_from_existing(state)
            .with_config(config)
            .build();
        let state = state.upgrade_for_ballista(url.clone())?;
        let planner = Arc::new(PinDeltaTables {
            inner: Arc::clone(state.query_planner()),
            scheduler_url: url,
        });
        // Field accesses pulled out as `__datafusion_extracted_N` columns
        // come back from protobuf with other names than the plan gives
        // its aggregates, and the scheduler refuses the plan; it
        // optimizes again on its side anyway.
        let rules: Vec<_> = state
            .optimizers()
            .iter()
            .filter(|r| {
                !matches!(
                    r.name(),
                    "extract_leaf_expressions" | "push_down_leaf_projections"
                )
            })
            .cloned()
            .collect();
        let mut state = SessionStateBuilder::new_from_existing(state)
            .with_query_planner(planner)
            .with_optimizer_rules(rules)
            .with_analyzer_rule(Arc::new(super::subqueries::NameScalarSubqueries))
            .build();
        for f in scalar {
            state.register_udf(f)?;
        }
        for f in aggregate {
            state.register_udaf(f)?;
        }
        for f in window {
            state.register_udwf(f)?;
        }
        Ok(state)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        let a = ClusterAddress::parse("df://sched.local:6000").unwrap();
        assert_eq!((a.host.as_str(), a.port), ("sched.local", 6000));
        assert_eq!(a.to_string(), "df://sched.local:6000");
        assert_eq!(ClusterAddress::parse("df://h").unwrap().port, 50050);
        assert_eq!(
            ClusterAddress::parse("df://[::1]:7").unwrap().http(),
            "http://[::1]:7"
        );
        for bad in ["http://h:1", "h:1", "df://", "df://h:1/x"] {
            let err = ClusterAddress::parse(bad).unwrap_err().to_string();
            assert!(err.contains(bad) && err.contains("df://HOST:PORT"), "{err}");
        }
    }
}
