//! The suppression list: who has been forgotten (`microseg forget`,
//! `FORGET CUSTOMER`), kept as salted SHA-256 hashes of their entity key,
//! never as plain ids.
//!
//! One empty object per person, `_microseg/suppressed/<hex hash>.json`
//! (the JSON holds when and why), so adding is a single atomic put, a
//! crash leaves the list whole, concurrent forgets never lose each other,
//! and loading the list is one listing. The salt is made once per lake
//! (`_microseg/suppression_salt`, put-if-absent, so two first forgets
//! agree on it): without it the hashes of small integer ids could be
//! reversed by trying every id.

use std::collections::HashSet;

use object_store::{PutMode, PutOptions, PutPayload};
use sha2::{Digest, Sha256};

use super::Catalog;
use crate::error::Result;

/// Folder of the list under `_microseg/`.
pub const DIR: &str = "suppressed";
/// The lake's salt, hex, under `_microseg/`.
pub const SALT: &str = "suppression_salt";

/// The in-memory list: what the query-time filter holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Suppressed {
    salt: Vec<u8>,
    /// The first 16 bytes of each hash: lookups on a `u128` are cheap, and
    /// a false match needs a 2^-128 collision.
    hashes: HashSet<u128>,
}

impl Suppressed {
    /// A list of the given salt and full hashes (as stored).
    pub fn new(salt: Vec<u8>, hashes: impl IntoIterator<Item = [u8; 32]>) -> Self {
        Suppressed {
            salt,
            hashes: hashes.into_iter().map(|h| prefix(&h)).collect(),
        }
    }

    /// No one is suppressed: queries are left exactly as planned.
    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    /// How many people are suppressed.
    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    /// Whether the key whose canonical text is `key` is suppressed.
    pub fn contains(&self, key: &[u8]) -> bool {
        self.hashes.contains(&prefix(&salted_hash(&self.salt, key)))
    }

    /// The salt and the hash prefixes, for shipping the list with a plan.
    pub fn parts(&self) -> (&[u8], impl Iterator<Item = u128> + '_) {
        (&self.salt, self.hashes.iter().copied())
    }

    /// A list rebuilt from [`Suppressed::parts`].
    pub fn from_parts(salt: Vec<u8>, prefixes: impl IntoIterator<Item = u128>) -> Self {
        Suppressed {
            salt,
            hashes: prefixes.into_iter().collect(),
        }
    }
}

fn prefix(hash: &[u8; 32]) -> u128 {
    let mut first = [0u8; 16];
    first.copy_from_slice(&hash[..16]);
    u128::from_be_bytes(first)
}

/// SHA-256 of the salt followed by the key's canonical text.
pub fn salted_hash(salt: &[u8], key: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(salt);
    hasher.update(key);
    hasher.finalize().into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

impl Catalog {
    /// The lake's salt; made (once, put-if-absent) when `create` is set,
    /// otherwise `None` while no one has been forgotten.
    pub async fn suppression_salt(&self, create: bool) -> Result<Option<Vec<u8>>> {
        if let Some(bytes) = self.get(SALT).await? {
            let text = String::from_utf8_lossy(&bytes);
            return unhex(text.trim())
                .filter(|s| s.len() == 32)
                .map(Some)
                .ok_or_else(|| self.error(SALT, "not 64 hex digits: the suppression salt is damaged, restore it from a backup (without it the list cannot be matched)"));
        }
        if !create {
            return Ok(None);
        }
        let salt: [u8; 32] = rand::random();
        let put = self
            .location
            .store
            .put_opts(
                &self.path(SALT),
                PutPayload::from(hex(&salt).into_bytes()),
                PutOptions::from(PutMode::Create),
            )
            .await;
        match put {
            Ok(_) => Ok(Some(salt.to_vec())),
            // Another process made it first: theirs is the lake's.
            Err(object_store::Error::AlreadyExists { .. }) => {
                match Box::pin(self.suppression_salt(false)).await? {
                    Some(salt) => Ok(Some(salt)),
                    None => Err(self.error(
                        SALT,
                        "exists but cannot be read as a file: the suppression list cannot be written",
                    )),
                }
            }
            Err(e) => Err(self.error(SALT, format!("cannot create the suppression salt: {e}"))),
        }
    }

    /// The hashes on the list (one listing; the objects are not read).
    pub async fn suppressed_hashes(&self) -> Result<Vec<[u8; 32]>> {
        let mut hashes = Vec::new();
        for name in self.list(DIR).await? {
            let Some(hash) = name
                .strip_suffix(".json")
                .and_then(unhex)
                .and_then(|h| <[u8; 32]>::try_from(h).ok())
            else {
                continue;
            };
            hashes.push(hash);
        }
        Ok(hashes)
    }

    /// Puts the key whose canonical text is `key` on the list; whether it
    /// was new. One atomic put: after it returns, every statement planned
    /// from then on leaves the person out.
    pub async fn suppress(&self, key: &[u8], reason: Option<&str>) -> Result<bool> {
        let salt = self
            .suppression_salt(true)
            .await?
            .ok_or_else(|| self.error(SALT, "missing after it was created"))?;
        let name = format!("{DIR}/{}.json", hex(&salted_hash(&salt, key)));
        if self.get(&name).await?.is_some() {
            return Ok(false);
        }
        let record = serde_json::json!({
            "forgotten_at": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "reason": reason,
        });
        self.put(&name, record.to_string().into_bytes())
            .await
            .map_err(|e| self.error(&name, format!("cannot add to the suppression list: {e}")))?;
        Ok(true)
    }

    /// The list as the query-time filter holds it (empty without a salt).
    pub async fn suppressed(&self) -> Result<Suppressed> {
        let hashes = self.suppressed_hashes().await?;
        if hashes.is_empty() {
            return Ok(Suppressed::default());
        }
        let salt = self.suppression_salt(false).await?.ok_or_else(|| {
            self.error(
                SALT,
                "missing, but the suppression list is not empty: restore the salt from a backup",
            )
        })?;
        Ok(Suppressed::new(salt, hashes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_sha256_of_salt_then_key() {
        // Independent reference: `printf pepper42 | sha256sum` (coreutils).
        let h = salted_hash(b"pepper", b"42");
        assert_eq!(
            hex(&h),
            "93ca73bec2907ec825519db1f7ee28cb033d71c83d14b76ef78b0c4e64566e6e"
        );
        let list = Suppressed::new(b"pepper".to_vec(), [h]);
        assert!(list.contains(b"42"));
        assert!(!list.contains(b"43"));
        assert_eq!(unhex(&hex(&h)).unwrap(), h.to_vec());
        assert_eq!(unhex("abc"), None);
    }
}
