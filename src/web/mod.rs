//! `microseg serve --http HOST:PORT`: the same server process serves a
//! small web app (axum, the version tonic already brings) over the same
//! lake, users, roles and limits as Flight SQL.
//!
//! - this file: the server, login and logout, the session cookie and the
//!   per-session CSRF token.
//! - [`runner`]: how a page's SQL runs (the Flight SQL path: role check,
//!   reader rules, slots, timeout, memory cap, audit).
//! - [`pages`]: the live report and the SQL box.
//! - [`explorer`]: the segment explorer.
//!
//! A web session is a Flight SQL [`Session`] (the user's own engine
//! session; a reader's carries the reader rules) plus a CSRF token. The
//! cookie is HttpOnly, SameSite=Strict, Secure under TLS, and lives as long
//! as `--session-ttl`; every POST also checks the token.

pub mod explorer;
pub mod pages;
pub mod runner;
mod tls;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::report::assets;
use crate::report::html::esc;
use crate::server::AuthMode;
use crate::server::limits::{Gate, Limits};
use crate::server::session::Session;
use crate::server::users::{Identity, Role, UsersFile, new_secret};

/// The session cookie's name.
pub const COOKIE: &str = "microseg_session";

/// What the web app needs besides the engine.
#[derive(Debug, Clone)]
pub struct WebOptions {
    /// Address to listen on.
    pub bind: SocketAddr,
    /// Who may log in (the same users file as Flight SQL).
    pub auth: AuthMode,
    /// PEM certificate chain and key: HTTPS (and a Secure cookie) when given.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// How long a login lasts.
    pub session_ttl: Duration,
    /// The Flight SQL server's query limits.
    pub limits: Limits,
}

/// A logged-in browser.
pub struct WebSession {
    /// The Flight SQL session: user, role, engine session.
    pub session: Arc<Session>,
    /// Sent back with every POST.
    pub csrf: String,
}

/// Shared by every request.
pub struct AppState {
    base: Arc<Engine>,
    users: Option<PathBuf>,
    sessions: Mutex<HashMap<String, Arc<WebSession>>>,
    options: WebOptions,
    /// Slots, timeout and memory cap of the pages' queries.
    pub gate: Gate,
}

impl AppState {
    /// The session of the request's cookie, if it is valid: not expired,
    /// and its user still in the users file with the same role (and purpose).
    fn current(&self, headers: &HeaderMap) -> Option<Arc<WebSession>> {
        let id = cookie(headers, COOKIE)?;
        let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        let web = sessions.get(&id)?.clone();
        let user = &web.session.user;
        let still_there = match &self.users {
            None => true,
            Some(path) => UsersFile::load(path)
                .ok()
                .and_then(|f| {
                    f.users
                        .get(&user.name)
                        .map(|u| u.role == user.role && u.purpose == user.purpose)
                })
                .unwrap_or(false),
        };
        if web.session.expired() || !still_there {
            sessions.remove(&id);
            return None;
        }
        Some(web)
    }

    fn open(&self, identity: Identity) -> String {
        let id = new_secret("msw_");
        let web = WebSession {
            session: Arc::new(Session::new(identity, &self.base, self.options.session_ttl)),
            csrf: new_secret("csrf_"),
        };
        let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        sessions.retain(|_, s| !s.session.expired());
        sessions.insert(id.clone(), Arc::new(web));
        id
    }

    fn set_cookie(&self, id: &str, max_age: u64) -> HeaderValue {
        let secure = if self.options.tls.is_some() {
            "; Secure"
        } else {
            ""
        };
        let text =
            format!("{COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}");
        HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
    }
}

/// `name`'s value in the request's Cookie headers.
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// Equal tokens, compared in time independent of where they differ.
pub fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The headers every page carries: nothing may load from elsewhere, no
/// framing. Vega compiles its expressions with `Function`, hence
/// 'unsafe-eval'; the page's own scripts are inline.
fn secured(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval'; \
             style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'",
        ),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// An HTML page response.
pub fn html(status: StatusCode, body: String) -> Response {
    secured(
        (
            status,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            body,
        )
            .into_response(),
    )
}

/// A logged-in request, or the redirect to the login page.
pub fn require(
    state: &AppState,
    headers: &HeaderMap,
) -> std::result::Result<Arc<WebSession>, Box<Response>> {
    state
        .current(headers)
        .ok_or_else(|| Box::new(secured(Redirect::to("/login").into_response())))
}

/// The navigation bar of a logged-in page (logout is a POST with the token).
pub fn nav(web: &WebSession) -> String {
    format!(
        "<nav><a href=\"/report\">Report</a><a href=\"/explorer\">Explorer</a><a href=\"/sql\">SQL</a>\
         <span id=\"whoami\">{} ({})</span> \
         <form class=\"inline\" method=\"post\" action=\"/logout\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">\
         <button type=\"submit\">Log out</button></form></nav>",
        esc(&web.session.user.name),
        web.session.user.role,
        esc(&web.csrf)
    )
}

/// A running web server, until [`RunningWeb::shutdown`].
pub struct RunningWeb {
    /// The address it listens on.
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<()>>,
}

impl RunningWeb {
    /// Stops accepting and waits for the server to end.
    pub async fn shutdown(mut self) -> Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.wait().await
    }

    /// Waits until the server stops.
    pub async fn wait(&mut self) -> Result<()> {
        match (&mut self.task).await {
            Ok(result) => result,
            Err(e) => Err(Error::Usage(format!("the web server task failed: {e}"))),
        }
    }
}

/// The routes over `state`.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/", get(|| async { Redirect::to("/report") }))
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/report", get(pages::report))
        .route("/explorer", get(explorer::handler))
        .route("/sql", get(pages::sql_page).post(pages::sql_run))
        .route("/assets/{name}", get(asset))
        .with_state(state)
}

/// Binds, then serves the web app over `engine`'s lake in a background task.
pub async fn start(engine: Engine, options: WebOptions) -> Result<RunningWeb> {
    let users = match &options.auth {
        AuthMode::Users(path) => {
            UsersFile::load(path)?;
            Some(path.clone())
        }
        AuthMode::InsecureNoAuth => None,
    };
    let state = Arc::new(AppState {
        base: Arc::new(engine),
        users,
        sessions: Mutex::new(HashMap::new()),
        gate: Gate::new(options.limits.clone()),
        options: options.clone(),
    });
    let tls = match &options.tls {
        Some((cert, key)) => Some(tls::config(cert, key)?),
        None => None,
    };
    let listener = tokio::net::TcpListener::bind(options.bind)
        .await
        .map_err(|e| Error::Usage(format!("cannot listen on {}: {e}", options.bind)))?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let app = router(state);
    if let Some(config) = tls {
        let task = tokio::spawn(tls::serve(listener, app, config, stopped));
        return Ok(RunningWeb {
            addr,
            stop: Some(stop),
            task,
        });
    }
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
            .map_err(|e| Error::Usage(format!("web server on {addr}: {e}")))
    });
    Ok(RunningWeb {
        addr,
        stop: Some(stop),
        task,
    })
}

fn login_form(message: &str) -> String {
    let note = if message.is_empty() {
        String::new()
    } else {
        format!("<p class=\"error\" id=\"login-error\">{}</p>", esc(message))
    };
    let body = format!(
        "<h2>Log in</h2>{note}<form method=\"post\" action=\"/login\">\
         <p><label>User <input name=\"user\" id=\"user\" autocomplete=\"username\" required></label></p>\
         <p><label>Password <input name=\"password\" id=\"password\" type=\"password\" autocomplete=\"current-password\"></label></p>\
         <p><button type=\"submit\" id=\"login\">Log in</button></p></form>\
         <p>The users and roles of <code>microseg serve</code> (<code>microseg users add</code>).</p>"
    );
    crate::report::html::page(
        "microseg",
        "",
        &body,
        &[],
        crate::report::html::Scripts::Linked,
    )
}

async fn login_page() -> Response {
    html(StatusCode::OK, login_form(""))
}

#[derive(Deserialize)]
struct Login {
    user: String,
    #[serde(default)]
    password: String,
}

async fn login(State(state): State<Arc<AppState>>, Form(form): Form<Login>) -> Response {
    let identity = match &state.users {
        None => Some(Identity {
            name: "anonymous".into(),
            role: Role::Analyst,
            purpose: None,
        }),
        Some(path) => {
            let path = path.clone();
            // argon2 is slow on purpose: off the threads serving others.
            tokio::task::spawn_blocking(move || {
                UsersFile::load(&path)
                    .ok()
                    .and_then(|f| f.verify_password(&form.user, &form.password))
            })
            .await
            .ok()
            .flatten()
        }
    };
    let Some(identity) = identity else {
        return html(
            StatusCode::UNAUTHORIZED,
            login_form("Invalid user or password."),
        );
    };
    let id = state.open(identity);
    let ttl = state.options.session_ttl.as_secs().min(i32::MAX as u64);
    let mut response = secured(Redirect::to("/report").into_response());
    response
        .headers_mut()
        .insert(header::SET_COOKIE, state.set_cookie(&id, ttl));
    response
}

#[derive(Deserialize)]
struct Logout {
    csrf: String,
}

async fn logout(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Form(form): Form<Logout>,
) -> Response {
    let web = match require(&state, &headers) {
        Ok(web) => web,
        Err(redirect) => return *redirect,
    };
    if !same_token(&web.csrf, &form.csrf) {
        return html(StatusCode::FORBIDDEN, "invalid CSRF token".into());
    }
    if let Some(id) = cookie(&headers, COOKIE) {
        state
            .sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id);
    }
    let mut response = secured(Redirect::to("/login").into_response());
    response
        .headers_mut()
        .insert(header::SET_COOKIE, state.set_cookie("", 0));
    response
}

async fn asset(Path(name): Path<String>) -> Response {
    if name == "LICENSES" {
        return (
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            assets::LICENSES,
        )
            .into_response();
    }
    match assets::SCRIPTS.iter().find(|(n, _)| *n == name) {
        Some((_, text)) => (
            [
                (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
                (header::CACHE_CONTROL, "public, max-age=86400"),
            ],
            assets::script(text),
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such asset").into_response(),
    }
}
