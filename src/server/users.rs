//! The users file (`users.toml`): who may connect to `microseg serve`, with
//! which role, proven by a password or an API token.
//!
//! Only hashes are stored: argon2id for passwords (slow on purpose, they
//! are guessable), SHA-256 for API tokens (256 random bits each, so a fast
//! hash is enough and lets every call be checked without delay).
//!
//! ```toml
//! [users.ana]
//! role = "analyst"
//! password_hash = "$argon2id$v=19$m=19456,t=2,p=1$…"
//!
//! [[users.ana.tokens]]
//! sha256 = "9f86d0…"
//! created_at = "2026-01-02T03:04:05Z"
//! expires_at = "2026-02-01T03:04:05Z"
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine as _;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// What a user may do over Flight SQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything the CLI can do: queries, DDL, DML, COPY, segment sets, SET.
    Analyst,
    /// Queries over the lake only; nothing that writes or reads outside it.
    /// Aggregates over groups of at least `min_group_size` customers.
    Reader,
    /// As a reader, but customer-level rows allowed: only of the customers
    /// whose latest consent for the user's purpose is granted.
    Marketer,
}

impl std::str::FromStr for Role {
    type Err = Error;

    fn from_str(s: &str) -> Result<Role> {
        match s {
            "analyst" => Ok(Role::Analyst),
            "reader" => Ok(Role::Reader),
            "marketer" => Ok(Role::Marketer),
            other => Err(Error::Usage(format!(
                "unknown role {other:?}: expected analyst, reader or marketer"
            ))),
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Role::Analyst => "analyst",
            Role::Reader => "reader",
            Role::Marketer => "marketer",
        })
    }
}

/// One user of the users file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    /// What the user may do.
    pub role: Role,
    /// The purpose a marketer acts for (a `purpose` value of the consent
    /// table); required for marketers, refused for other roles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<String>,
    /// argon2 PHC string of the password; a user without one connects with tokens only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_hash: Option<String>,
    /// Static API tokens, by hash.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tokens: Vec<ApiToken>,
}

/// A static API token, stored as the SHA-256 of the token text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiToken {
    /// Lower-case hex SHA-256 of the token.
    pub sha256: String,
    /// When it was made (RFC 3339).
    pub created_at: String,
    /// When it stops working (RFC 3339); never when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
}

/// The whole users file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsersFile {
    /// Users by name.
    #[serde(default)]
    pub users: BTreeMap<String, User>,
}

/// Who a credential belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The user's name.
    pub name: String,
    /// The user's role.
    pub role: Role,
    /// A marketer's purpose.
    pub purpose: Option<String>,
}

impl UsersFile {
    /// Reads `path`; a missing file is an error naming the way to create one.
    pub fn load(path: &Path) -> Result<UsersFile> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Config {
            source_name: path.display().to_string(),
            message: if e.kind() == std::io::ErrorKind::NotFound {
                "no such users file (create one with `microseg users add NAME --role analyst`)"
                    .into()
            } else {
                format!("cannot read: {e}")
            },
        })?;
        Self::parse(&text, path)
    }

    /// Reads `path`, or an empty file when there is none (for `users add`).
    pub fn load_or_empty(path: &Path) -> Result<UsersFile> {
        if path.exists() {
            Self::load(path)
        } else {
            Ok(UsersFile::default())
        }
    }

    /// Parses and validates users-file text; errors name `path` and the user.
    pub fn parse(text: &str, path: &Path) -> Result<UsersFile> {
        let config_err = |message: String| Error::Config {
            source_name: path.display().to_string(),
            message,
        };
        let file: UsersFile = toml::from_str(text).map_err(|e| config_err(e.to_string()))?;
        for (name, user) in &file.users {
            validate_name(name).map_err(|e| config_err(e.to_string()))?;
            validate_purpose(name, user.role, user.purpose.as_deref())
                .map_err(|e| config_err(e.to_string()))?;
            if let Some(hash) = &user.password_hash {
                PasswordHash::new(hash).map_err(|e| {
                    config_err(format!(
                        "user {name}: password_hash is not a PHC string: {e}"
                    ))
                })?;
            }
            for token in &user.tokens {
                if token.sha256.len() != 64 || !token.sha256.bytes().all(|b| b.is_ascii_hexdigit())
                {
                    return Err(config_err(format!(
                        "user {name}: token sha256 must be 64 hex digits"
                    )));
                }
                if let Some(at) = &token.expires_at {
                    chrono::DateTime::parse_from_rfc3339(at).map_err(|e| {
                        config_err(format!("user {name}: token expires_at {at:?}: {e}"))
                    })?;
                }
            }
        }
        Ok(file)
    }

    /// Writes the file whole or not at all, readable by its owner only
    /// (it holds hashes, which are still worth guessing against).
    pub fn save(&self, path: &Path) -> Result<()> {
        let text = toml::to_string(self).map_err(|e| Error::Config {
            source_name: path.display().to_string(),
            message: format!("cannot serialize: {e}"),
        })?;
        let tmp = sibling_tmp(path);
        let write = || -> std::io::Result<()> {
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create(true).truncate(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                options.mode(0o600);
            }
            let mut file = options.open(&tmp)?;
            std::io::Write::write_all(&mut file, text.as_bytes())?;
            file.sync_all()?;
            std::fs::rename(&tmp, path)
        };
        write().map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            Error::Usage(format!("cannot write users file {}: {e}", path.display()))
        })
    }

    /// Adds a user with a password (and a marketer's purpose); an existing
    /// name is an error.
    pub fn add_user(
        &mut self,
        name: &str,
        role: Role,
        purpose: Option<&str>,
        password: &str,
    ) -> Result<()> {
        validate_name(name)?;
        validate_purpose(name, role, purpose)?;
        if self.users.contains_key(name) {
            return Err(Error::Usage(format!(
                "user {name} already exists (remove it first with `microseg users remove {name}`)"
            )));
        }
        if password.is_empty() {
            return Err(Error::Usage(format!(
                "empty password for user {name}: give it on standard input"
            )));
        }
        self.users.insert(
            name.to_string(),
            User {
                role,
                purpose: purpose.map(str::to_string),
                password_hash: Some(hash_password(password)?),
                tokens: Vec::new(),
            },
        );
        Ok(())
    }

    /// Makes a new API token for `name`, stores its hash, returns the token.
    pub fn add_token(&mut self, name: &str, ttl: Option<Duration>) -> Result<String> {
        let user = self
            .users
            .get_mut(name)
            .ok_or_else(|| Error::Usage(format!("unknown user {name}")))?;
        let token = new_secret("mst_");
        let now = chrono::Utc::now();
        let expires_at = match ttl {
            Some(ttl) => Some(
                now + chrono::Duration::from_std(ttl)
                    .map_err(|_| Error::Usage(format!("token lifetime {ttl:?} is too long")))?,
            ),
            None => None,
        };
        let stamp =
            |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        user.tokens.push(ApiToken {
            sha256: sha256_hex(&token),
            created_at: stamp(now),
            expires_at: expires_at.map(stamp),
        });
        Ok(token)
    }

    /// Removes a user and with it every token of theirs.
    pub fn remove_user(&mut self, name: &str) -> Result<()> {
        self.users
            .remove(name)
            .map(|_| ())
            .ok_or_else(|| Error::Usage(format!("unknown user {name}")))
    }

    /// Checks a name and password. Unknown users cost as much as a wrong
    /// password, so timing does not tell which names exist.
    pub fn verify_password(&self, name: &str, password: &str) -> Option<Identity> {
        let user = self.users.get(name);
        let hash: &str = match user.and_then(|u| u.password_hash.as_deref()) {
            Some(hash) => hash,
            None => dummy_hash(),
        };
        let parsed = PasswordHash::new(hash).ok()?;
        let ok = Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        match user {
            Some(user) if ok && user.password_hash.is_some() => Some(Identity {
                name: name.to_string(),
                role: user.role,
                purpose: user.purpose.clone(),
            }),
            _ => None,
        }
    }

    /// The owner of an unexpired API token, if any.
    pub fn verify_token(&self, token: &str) -> Option<Identity> {
        let digest = sha256_hex(token);
        let now = chrono::Utc::now();
        self.users.iter().find_map(|(name, user)| {
            let valid = user.tokens.iter().any(|t| {
                t.sha256 == digest
                    && t.expires_at.as_deref().is_none_or(|at| {
                        chrono::DateTime::parse_from_rfc3339(at).is_ok_and(|at| at > now)
                    })
            });
            valid.then(|| Identity {
                name: name.clone(),
                role: user.role,
                purpose: user.purpose.clone(),
            })
        })
    }
}

/// A hash of a random password nobody knows, verified against for unknown
/// users so they take as long as known ones.
fn dummy_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| hash_password(&new_secret("")).unwrap_or_default())
}

/// argon2id with the crate's defaults (OWASP's minimum) and a random salt.
pub fn hash_password(password: &str) -> Result<String> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt)
        .map_err(|e| Error::Usage(format!("cannot make a password salt: {e}")))?;
    Ok(Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| Error::Usage(format!("cannot hash the password: {e}")))?
        .to_string())
}

/// 256 random bits, URL-safe, with a prefix saying what the secret is.
pub fn new_secret(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// Lower-case hex SHA-256 of `text`.
pub fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Names appear in HTTP Basic credentials, where `:` separates the
/// password, and in TOML keys; keep them plain.
fn validate_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '@'));
    if ok {
        Ok(())
    } else {
        Err(Error::Usage(format!(
            "invalid user name {name:?}: use 1-64 letters, digits, _ - . @"
        )))
    }
}

/// A marketer acts for exactly one purpose, compared as written with the
/// consent table's `purpose` column; other roles have none.
fn validate_purpose(name: &str, role: Role, purpose: Option<&str>) -> Result<()> {
    match (role, purpose) {
        (Role::Marketer, None) => Err(Error::Usage(format!(
            "user {name}: a marketer needs a purpose (--purpose, e.g. email_marketing): the consent the audience must have granted"
        ))),
        (Role::Marketer, Some(p)) if p.trim().is_empty() || p.trim() != p => Err(Error::Usage(
            format!("user {name}: purpose {p:?} is empty or has surrounding spaces"),
        )),
        (Role::Marketer, Some(_)) => Ok(()),
        (role, Some(_)) => Err(Error::Usage(format!(
            "user {name}: only marketers have a purpose, not role {role}"
        ))),
        (_, None) => Ok(()),
    }
}

/// Parses a lifetime such as `30d`, `12h`, `90m`, `45s`.
pub fn parse_ttl(text: &str) -> Result<Duration> {
    let bad = || {
        Error::Usage(format!(
            "invalid lifetime {text:?}: use a number and a unit, e.g. 30d, 12h, 90m, 45s"
        ))
    };
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().map_err(|_| bad())?;
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => return Err(bad()),
    };
    if n == 0 {
        return Err(bad());
    }
    n.checked_mul(seconds)
        .map(Duration::from_secs)
        .ok_or_else(bad)
}

fn sibling_tmp(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_and_tokens_round_trip_through_the_file() {
        let mut file = UsersFile::default();
        file.add_user("ana", Role::Analyst, None, "s3cret").unwrap();
        let token = file
            .add_token("ana", Some(parse_ttl("1d").unwrap()))
            .unwrap();
        let text = toml::to_string(&file).unwrap();
        assert!(!text.contains("s3cret") && !text.contains(&token), "{text}");
        let back = UsersFile::parse(&text, Path::new("users.toml")).unwrap();
        assert_eq!(back, file);
        assert_eq!(
            back.verify_password("ana", "s3cret").unwrap().role,
            Role::Analyst
        );
        assert!(back.verify_password("ana", "wrong").is_none());
        assert!(back.verify_password("bob", "s3cret").is_none());
        assert_eq!(back.verify_token(&token).unwrap().name, "ana");
        assert!(back.verify_token("mst_nope").is_none());
    }

    #[test]
    fn expired_tokens_and_bad_input_are_refused() {
        let mut file = UsersFile::default();
        file.add_user("r", Role::Reader, None, "pw").unwrap();
        let token = file.add_token("r", None).unwrap();
        file.users.get_mut("r").unwrap().tokens[0].expires_at = Some("2000-01-01T00:00:00Z".into());
        assert!(file.verify_token(&token).is_none());
        assert!(file.add_user("r", Role::Reader, None, "pw").is_err());
        assert!(file.add_user("a:b", Role::Reader, None, "pw").is_err());
        assert!(file.add_user("x", Role::Reader, None, "").is_err());
        assert!(file.add_token("nobody", None).is_err());
        assert!(file.remove_user("nobody").is_err());
        assert!(parse_ttl("30x").is_err() && parse_ttl("d").is_err() && parse_ttl("0d").is_err());
        assert_eq!(parse_ttl("2h").unwrap(), Duration::from_secs(7200));
        let err = UsersFile::parse("[users.x]\nrole = \"admin\"\n", Path::new("u.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("u.toml") && err.contains("admin"), "{err}");
    }

    #[test]
    fn marketers_need_a_purpose_and_only_they_have_one() {
        let mut file = UsersFile::default();
        let err = file
            .add_user("m", Role::Marketer, None, "pw")
            .unwrap_err()
            .to_string();
        assert!(err.contains("purpose") && err.contains("user m"), "{err}");
        assert!(file.add_user("m", Role::Marketer, Some(" "), "pw").is_err());
        assert!(file.add_user("r", Role::Reader, Some("ads"), "pw").is_err());
        file.add_user("m", Role::Marketer, Some("email_marketing"), "pw")
            .unwrap();
        let text = toml::to_string(&file).unwrap();
        let back = UsersFile::parse(&text, Path::new("u.toml")).unwrap();
        let who = back.verify_password("m", "pw").unwrap();
        assert_eq!(who.role, Role::Marketer);
        assert_eq!(who.purpose.as_deref(), Some("email_marketing"));
        let err = UsersFile::parse("[users.x]\nrole = \"marketer\"\n", Path::new("u.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("u.toml") && err.contains("purpose"), "{err}");
    }
}
