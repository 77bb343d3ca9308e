//! `microseg serve` and `microseg users`.

use std::io::Read;
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::{ClusterTarget, LakeArgs};
use crate::error::{Error, Result};
use crate::server::users::{Role, UsersFile, parse_ttl};
use crate::server::{AuthMode, Limits, ServeOptions};

/// Arguments of `microseg serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    lake: LakeArgs,
    #[command(flatten)]
    cluster: ClusterTarget,
    /// Address to listen on; loopback unless another is given.
    #[arg(long, default_value = "127.0.0.1:50051")]
    bind: SocketAddr,
    /// Also serve the web app (login, live report, segment explorer, SQL box) on this address.
    #[arg(long)]
    http: Option<SocketAddr>,
    /// Users file (make one with `microseg users add`).
    #[arg(long, env = "MICROSEG_USERS", default_value = "users.toml")]
    users: PathBuf,
    /// PEM certificate (chain) for TLS; needs --tls-key.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key for TLS; needs --tls-cert.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Accept everyone as an analyst. Local experiments only.
    #[arg(long, conflicts_with = "users")]
    insecure_no_auth: bool,
    /// Lifetime of the bearer token a Handshake returns, e.g. 12h.
    #[arg(long, default_value = "12h")]
    session_ttl: String,
    /// Queries running at once; more wait in a queue.
    #[arg(long, default_value_t = 32)]
    max_concurrent_queries: usize,
    /// How long a query may wait in the queue, e.g. 30s.
    #[arg(long, default_value = "30s")]
    queue_timeout: String,
    /// Longest a query may take, planning, DDL and updates included, from
    /// the call that starts it to its last batch, e.g. 1h.
    #[arg(long, default_value = "1h")]
    query_timeout: String,
    /// Memory one query may hold, e.g. 2GiB or 25% (of the engine's
    /// memory limit); no cap by default.
    #[arg(long)]
    query_memory_limit: Option<String>,
}

/// Runs the server until Ctrl-C.
pub async fn serve(args: ServeArgs) -> Result<()> {
    let auth = if args.insecure_no_auth {
        AuthMode::InsecureNoAuth
    } else {
        AuthMode::Users(args.users.clone())
    };
    if args.max_concurrent_queries == 0 {
        return Err(Error::Usage(
            "--max-concurrent-queries must be at least 1".into(),
        ));
    }
    let named = |flag: &str, text: &str| {
        parse_ttl(text).map_err(|e| Error::Usage(format!("--{flag}: {e}")))
    };
    let options = ServeOptions {
        bind: args.bind,
        auth,
        tls: args.tls_cert.clone().zip(args.tls_key.clone()),
        session_ttl: named("session-ttl", &args.session_ttl)?,
        limits: Limits {
            max_concurrent: args.max_concurrent_queries,
            queue_timeout: named("queue-timeout", &args.queue_timeout)?,
            query_timeout: named("query-timeout", &args.query_timeout)?,
            query_memory: None,
        },
    };
    // Check the users file before the (possibly slow) lake open.
    let users = match &options.auth {
        AuthMode::Users(path) => Some(UsersFile::load(path)?),
        _ => None,
    };
    let engine = args.cluster.open(&args.lake).await?;
    if let Some(users) = &users {
        check_marketers(&engine, users).await?;
    }
    let mut options = options;
    if let Some(text) = &args.query_memory_limit {
        // A percentage is of the engine's pool, which all queries share.
        let pool = engine.settings().memory_limit;
        let limit = crate::lake::parse_memory_limit(text, pool as u64)
            .map_err(|e| Error::Usage(format!("--query-memory-limit: {e}")))?;
        options.limits.query_memory = Some(limit);
    }
    if engine.privacy().roles.reader.min_group_size == 0 {
        eprintln!(
            "\n\
             ******************************************************************\n\
             WARNING: [privacy.roles.reader] min_group_size = 0: the reader rule\n\
             is OFF. Readers see customer-level rows, personal columns included.\n\
             ******************************************************************\n"
        );
    }
    let web_engine = engine.new_session();
    let mut server = crate::server::start(engine, options.clone()).await?;
    let mut web = match args.http {
        Some(bind) => Some(
            crate::web::start(
                web_engine,
                crate::web::WebOptions {
                    bind,
                    auth: options.auth.clone(),
                    tls: options.tls.clone(),
                    session_ttl: options.session_ttl,
                    limits: options.limits.clone(),
                },
            )
            .await?,
        ),
        None => None,
    };
    if args.insecure_no_auth {
        eprintln!(
            "\n\
             ******************************************************************\n\
             WARNING: --insecure-no-auth: ANYONE who can reach {} has full\n\
             analyst rights on this lake, without a password. Local experiments only.\n\
             ******************************************************************\n",
            server.addr
        );
    }
    let scheme = if options.tls.is_some() {
        "grpc+tls"
    } else {
        "grpc"
    };
    eprintln!(
        "serving {} on {scheme}://{} (Ctrl-C to stop)",
        args.lake.lake, server.addr
    );
    if let Some(web) = &web {
        let scheme = if options.tls.is_some() {
            "https"
        } else {
            "http"
        };
        eprintln!("web app on {scheme}://{}/", web.addr);
    }
    let web_done = async {
        match &mut web {
            Some(web) => web.wait().await,
            None => std::future::pending().await,
        }
    };
    let result = tokio::select! {
        result = server.wait() => result,
        result = web_done => result,
        _ = tokio::signal::ctrl_c() => {
            eprintln!("stopping");
            server.shutdown().await
        }
    };
    if let Some(web) = web.take() {
        web.shutdown().await?;
    }
    result
}

/// With marketers in the users file the consent table must be usable (the
/// error names the column at fault); a purpose no consent record has gets
/// a warning: that marketer's audience is empty.
async fn check_marketers(engine: &crate::engine::Engine, users: &UsersFile) -> Result<()> {
    let marketers: Vec<(&String, &str)> = users
        .users
        .iter()
        .filter(|(_, u)| u.role == Role::Marketer)
        .map(|(name, u)| (name, u.purpose.as_deref().unwrap_or_default()))
        .collect();
    if marketers.is_empty() {
        return Ok(());
    }
    let purposes = engine.consent_purposes().await?;
    for (name, purpose) in marketers {
        if !purposes.iter().any(|p| p == purpose) {
            eprintln!(
                "warning: marketer {name}: no consent record has purpose {purpose:?} (known: {}): their audience is empty",
                purposes.join(", ")
            );
        }
    }
    Ok(())
}

/// `microseg users …`: manage the users file without editing it.
#[derive(Debug, Args)]
pub struct UsersArgs {
    #[command(subcommand)]
    command: UsersCommand,
    /// Users file.
    #[arg(
        long,
        env = "MICROSEG_USERS",
        default_value = "users.toml",
        global = true
    )]
    users: PathBuf,
}

#[derive(Debug, Subcommand)]
enum UsersCommand {
    /// Add a user; the password is read from standard input.
    Add {
        /// User name.
        name: String,
        /// analyst (everything), reader (aggregates only) or marketer
        /// (customer-level rows of the customers who consented to --purpose).
        #[arg(long)]
        role: String,
        /// A marketer's purpose: a `purpose` value of the consent table.
        #[arg(long)]
        purpose: Option<String>,
    },
    /// Print a new API token for a user (only its hash is stored).
    Token {
        /// User name.
        name: String,
        /// Lifetime, e.g. 30d or 12h; no expiry when absent.
        #[arg(long)]
        ttl: Option<String>,
    },
    /// Remove a user and all their tokens.
    Remove {
        /// User name.
        name: String,
    },
}

/// Runs a `users` subcommand.
pub fn users(args: UsersArgs) -> Result<()> {
    let path = &args.users;
    match args.command {
        UsersCommand::Add {
            name,
            role,
            purpose,
        } => {
            let role: Role = role.parse()?;
            // Checked before the password is read.
            if role == Role::Marketer && purpose.is_none() {
                return Err(Error::Usage(format!(
                    "user {name}: a marketer needs --purpose (e.g. --purpose email_marketing)"
                )));
            }
            let mut file = UsersFile::load_or_empty(path)?;
            let mut input = String::new();
            if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
                eprintln!("password for {name} (one line, then Ctrl-D):");
            }
            std::io::stdin()
                .read_to_string(&mut input)
                .map_err(|e| Error::Usage(format!("cannot read the password from stdin: {e}")))?;
            // One line: the password, without its line ending.
            let password = input.lines().next().unwrap_or("");
            file.add_user(&name, role, purpose.as_deref(), password)?;
            file.save(path)?;
            eprintln!("added {role} {name} to {}", path.display());
        }
        UsersCommand::Token { name, ttl } => {
            let ttl = ttl
                .as_deref()
                .map(|t| parse_ttl(t).map_err(|e| Error::Usage(format!("--ttl: {e}"))))
                .transpose()?;
            let mut file = UsersFile::load(path)?;
            let token = file.add_token(&name, ttl)?;
            file.save(path)?;
            println!("{token}");
        }
        UsersCommand::Remove { name } => {
            let mut file = UsersFile::load(path)?;
            file.remove_user(&name)?;
            file.save(path)?;
            eprintln!("removed {name} from {}", path.display());
        }
    }
    Ok(())
}
