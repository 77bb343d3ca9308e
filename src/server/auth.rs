//! Authentication: HTTP Basic at Handshake buys a bearer token; every other
//! call must carry a valid bearer (a Handshake token or a static API token).
//!
//! The check is a tower layer in front of the whole Flight service, so no
//! call can forget it; it hands the call's [`Session`] to the service in
//! the request's extensions.

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex, RwLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use base64::Engine as _;
use tonic::Status;
use tonic::body::Body;

use super::session::Session;
use super::users::{Identity, Role, UsersFile, new_secret, sha256_hex};
use crate::engine::Engine;

/// The one path that is reachable without a bearer token.
const HANDSHAKE_PATH: &str = "/arrow.flight.protocol.FlightService/Handshake";

/// The same words for every failure, so a caller learns nothing about
/// which names exist or why a token failed.
pub fn unauthenticated() -> Status {
    Status::unauthenticated("authentication required: invalid or missing credentials")
}

/// Who may connect and the sessions they hold.
pub struct Auth {
    users: Option<UsersSource>,
    sessions: Mutex<HashMap<String, Arc<Session>>>,
    base: Arc<Engine>,
    session_ttl: Duration,
    /// With `--insecure-no-auth`: the session of calls without a token.
    anonymous: Option<Arc<Session>>,
}

/// The users file, re-read when it changes so `microseg users …` takes
/// effect on a running server (new tokens work, removed users are out).
struct UsersSource {
    path: PathBuf,
    cached: RwLock<(Option<FileVersion>, Arc<UsersFile>)>,
}

/// What tells one version of the users file from the next: `users …`
/// commands replace the file (a new inode), editors may keep it.
type FileVersion = (SystemTime, u64, u64);

fn file_version(path: &std::path::Path) -> Option<FileVersion> {
    let meta = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(&meta);
    #[cfg(not(unix))]
    let inode = 0;
    Some((meta.modified().ok()?, meta.len(), inode))
}

impl UsersSource {
    fn current(&self) -> Arc<UsersFile> {
        let modified = file_version(&self.path);
        {
            let cached = self.cached.read().unwrap_or_else(|e| e.into_inner());
            if cached.0 == modified {
                return cached.1.clone();
            }
        }
        let mut cached = self.cached.write().unwrap_or_else(|e| e.into_inner());
        match UsersFile::load(&self.path) {
            Ok(file) => *cached = (modified, Arc::new(file)),
            // A half-edited file must not lock everyone out, nor let
            // anyone in: keep the last good one and say so.
            Err(e) => {
                log::warn!("keeping the previous users: {e}");
                eprintln!("warning: keeping the previous users: {e}");
                cached.0 = modified;
            }
        }
        cached.1.clone()
    }
}

impl Auth {
    /// Authentication against the users file at `path` (read now, so a
    /// broken file stops the server from starting).
    pub fn with_users(
        path: PathBuf,
        base: Arc<Engine>,
        session_ttl: Duration,
    ) -> crate::Result<Auth> {
        let file = UsersFile::load(&path)?;
        let modified = file_version(&path);
        Ok(Auth {
            users: Some(UsersSource {
                path,
                cached: RwLock::new((modified, Arc::new(file))),
            }),
            sessions: Mutex::new(HashMap::new()),
            base,
            session_ttl,
            anonymous: None,
        })
    }

    /// No authentication: every caller is an analyst.
    pub fn insecure(base: Arc<Engine>, session_ttl: Duration) -> Auth {
        let anonymous = Session::new(anonymous(), &base, session_ttl);
        Auth {
            users: None,
            sessions: Mutex::new(HashMap::new()),
            base,
            session_ttl,
            anonymous: Some(Arc::new(anonymous)),
        }
    }

    /// Handshake: checks the `authorization` header and returns the bearer
    /// token for the new session. Basic credentials make a new session;
    /// a valid bearer is accepted as it is.
    pub async fn handshake(
        self: &Arc<Self>,
        authorization: Option<&str>,
    ) -> Result<String, Status> {
        self.sweep();
        let Some(users) = &self.users else {
            return Ok(self.open_session(anonymous()));
        };
        let Some(header) = authorization else {
            return Err(unauthenticated());
        };
        if let Some((name, password)) = basic_credentials(header) {
            let file = users.current();
            // argon2 takes tens of milliseconds of CPU on purpose: keep it
            // off the threads that serve other calls.
            let identity =
                tokio::task::spawn_blocking(move || file.verify_password(&name, &password))
                    .await
                    .map_err(|_| Status::internal("password check failed"))?
                    .ok_or_else(unauthenticated)?;
            return Ok(self.open_session(identity));
        }
        let token = bearer(header).ok_or_else(unauthenticated)?;
        self.session_for_token(token)?;
        Ok(token.to_string())
    }

    /// The session of a non-Handshake call, from its `authorization` header.
    pub fn session(&self, authorization: Option<&str>) -> Result<Arc<Session>, Status> {
        if let Some(anonymous) = &self.anonymous {
            // Without auth, a Handshake token still selects its own session
            // (so SET persists per connection); anything else shares one.
            let known = authorization
                .and_then(bearer)
                .and_then(|t| self.session_for_token(t).ok());
            return Ok(known.unwrap_or_else(|| anonymous.clone()));
        }
        let token = authorization.and_then(bearer).ok_or_else(unauthenticated)?;
        self.session_for_token(token)
    }

    fn session_for_token(&self, token: &str) -> Result<Arc<Session>, Status> {
        let current_users = self.users.as_ref().map(UsersSource::current);
        let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(session) = sessions.get(token) {
            let user_still_there = current_users.as_ref().is_none_or(|file| {
                file.users.get(&session.user.name).is_some_and(|u| {
                    u.role == session.user.role && u.purpose == session.user.purpose
                })
            });
            if session.expired() || !user_still_there {
                sessions.remove(token);
                return Err(unauthenticated());
            }
            return Ok(session.clone());
        }
        // A static API token: checked against the file at every call, so
        // removing it (or its user) or its expiry takes effect at once.
        let identity = current_users
            .as_ref()
            .and_then(|file| file.verify_token(token))
            .ok_or_else(unauthenticated)?;
        let key = format!("api:{}", sha256_hex(token));
        let session = sessions
            .entry(key)
            .or_insert_with(|| {
                Arc::new(Session::new(
                    identity.clone(),
                    &self.base,
                    // Lives as long as the token; the file is the authority.
                    Duration::MAX,
                ))
            })
            .clone();
        if session.user != identity {
            return Err(unauthenticated());
        }
        Ok(session)
    }

    fn open_session(&self, identity: Identity) -> String {
        let token = new_secret("msb_");
        let session = Session::new(identity, &self.base, self.session_ttl);
        self.sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(token.clone(), Arc::new(session));
        token
    }

    /// Drops expired sessions (and with them their prepared statements
    /// and unfetched results).
    fn sweep(&self) {
        let now = Instant::now();
        self.sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|_, s| !s.expired_at(now));
    }
}

fn anonymous() -> Identity {
    Identity {
        name: "anonymous".into(),
        role: Role::Analyst,
        purpose: None,
    }
}

/// `Basic base64(name:password)` → (name, password).
fn basic_credentials(header: &str) -> Option<(String, String)> {
    let (scheme, rest) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    // Go's Flight client (under ADBC) leaves out the `=` padding; others keep it.
    const LENIENT: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    let decoded = LENIENT.decode(rest.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (name, password) = text.split_once(':')?;
    Some((name.to_string(), password.to_string()))
}

fn bearer(header: &str) -> Option<&str> {
    let (scheme, rest) = header.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(rest.trim())
        .filter(|t| !t.is_empty())
}

/// The tower layer that puts [`Auth`] in front of the Flight service.
#[derive(Clone)]
pub struct AuthLayer {
    auth: Arc<Auth>,
}

impl AuthLayer {
    /// A layer checking every call but Handshake against `auth`.
    pub fn new(auth: Arc<Auth>) -> AuthLayer {
        AuthLayer { auth }
    }
}

impl<S> tower::Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> AuthService<S> {
        AuthService {
            inner,
            auth: self.auth.clone(),
        }
    }
}

/// The service made by [`AuthLayer`].
#[derive(Clone)]
pub struct AuthService<S> {
    inner: S,
    auth: Arc<Auth>,
}

impl<S> tower::Service<http::Request<Body>> for AuthService<S>
where
    S: tower::Service<http::Request<Body>, Response = http::Response<Body>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<Body>) -> Self::Future {
        // The service that was polled ready is the one to call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        if request.uri().path() == HANDSHAKE_PATH {
            return Box::pin(inner.call(request));
        }
        let header = request
            .headers()
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        match self.auth.session(header) {
            Ok(session) => {
                request.extensions_mut().insert(session);
                Box::pin(inner.call(request))
            }
            Err(status) => Box::pin(async move { Ok(status.into_http()) }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_with_and_without_padding() {
        let padded = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("ana:ana-pw")
        );
        let unpadded = format!(
            "basic {}",
            base64::engine::general_purpose::STANDARD_NO_PAD.encode("ana:ana-pw")
        );
        assert_ne!(padded.to_lowercase(), unpadded);
        for header in [padded, unpadded] {
            assert_eq!(
                basic_credentials(&header),
                Some(("ana".to_string(), "ana-pw".to_string())),
                "{header}"
            );
        }
        assert_eq!(basic_credentials("Basic !!!"), None);
        assert_eq!(basic_credentials("Bearer abc"), None);
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("Bearer "), None);
    }
}
