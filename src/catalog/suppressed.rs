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

/// One listed person: the salted SHA-256 of their key and, for entries
/// written since the fast check exists, the keyed fast hash of it.
pub type Listed = ([u8; 32], Option<u64>);

/// The in-memory list: what the query-time filter holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Suppressed {
    salt: Vec<u8>,
    /// The first 16 bytes of each hash: lookups on a `u128` are cheap, and
    /// a false match needs a 2^-128 collision.
    hashes: HashSet<u128>,
    /// Every entry's [`fast_hash`], when every entry has one: a key whose
    /// fast hash is not here is not on the list, so SHA-256 runs only on
    /// its rare hits. `None` while an entry written before the fast hash
    /// existed is on the list (then every key is checked with SHA-256).
    fast: Option<HashSet<u64>>,
    fast_key: [u8; 16],
}

impl Suppressed {
    /// A list of the given salt and entries (as stored).
    pub fn new(salt: Vec<u8>, entries: impl IntoIterator<Item = Listed>) -> Self {
        let mut hashes = HashSet::new();
        let mut fast = Some(HashSet::new());
        for (hash, quick) in entries {
            hashes.insert(prefix(&hash));
            match (quick, fast.as_mut()) {
                (Some(q), Some(set)) => {
                    set.insert(q);
                }
                _ => fast = None,
            }
        }
        Self::from_parts(salt, hashes, fast)
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
        if let Some(fast) = &self.fast
            && !fast.contains(&fast_hash(&self.fast_key, key))
        {
            return false;
        }
        self.hashes.contains(&prefix(&salted_hash(&self.salt, key)))
    }

    /// The salt, the hash prefixes and the fast hashes (when complete),
    /// for shipping the list with a plan.
    pub fn parts(&self) -> (&[u8], &HashSet<u128>, Option<&HashSet<u64>>) {
        (&self.salt, &self.hashes, self.fast.as_ref())
    }

    /// A list rebuilt from [`Suppressed::parts`].
    pub fn from_parts(
        salt: Vec<u8>,
        prefixes: impl IntoIterator<Item = u128>,
        fast: Option<impl IntoIterator<Item = u64>>,
    ) -> Self {
        Suppressed {
            fast_key: fast_key(&salt),
            salt,
            hashes: prefixes.into_iter().collect(),
            fast: fast.map(|f| f.into_iter().collect()),
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

/// The fast hash's key: the first 16 bytes of SHA-256 of a label and the
/// salt, so it is as secret as the salt and never equal to it.
fn fast_key(salt: &[u8]) -> [u8; 16] {
    let mut hasher = Sha256::new();
    hasher.update(b"microseg suppression fast hash");
    hasher.update(salt);
    let full: [u8; 32] = hasher.finalize().into();
    let mut key = [0u8; 16];
    key.copy_from_slice(&full[..16]);
    key
}

/// SipHash-1-3 of the key's canonical text under a 128-bit key derived
/// from the salt: a keyed pseudo-random function (without the salt its
/// values say nothing about the ids), about ten times cheaper than
/// SHA-256 on short keys. 64 bits: a row that is not on the list meets a
/// false hit once in 2^64 / (list length) rows, and then pays SHA-256.
pub fn fast_hash(key16: &[u8; 16], key: &[u8]) -> u64 {
    use std::hash::Hasher;
    let mut h = siphasher::sip::SipHasher13::new_with_key(key16);
    h.write(key);
    h.finish()
}

/// An entry's object name: `<SHA-256 hex>-<fast hash hex>.json`; entries
/// written before the fast hash existed are `<SHA-256 hex>.json`.
fn entry_name(salt: &[u8], key: &[u8]) -> String {
    format!(
        "{}-{:016x}.json",
        hex(&salted_hash(salt, key)),
        fast_hash(&fast_key(salt), key)
    )
}

/// Parses an entry's object name (either form).
fn parse_entry(name: &str) -> Option<Listed> {
    let stem = name.strip_suffix(".json")?;
    let (sha, quick) = match stem.split_once('-') {
        Some((sha, quick)) if quick.len() == 16 => {
            (sha, Some(u64::from_str_radix(quick, 16).ok()?))
        }
        Some(_) => return None,
        None => (stem, None),
    };
    let hash = <[u8; 32]>::try_from(unhex(sha)?).ok()?;
    Some((hash, quick))
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

    /// The entries on the list (one listing; the objects are not read).
    pub async fn suppressed_hashes(&self) -> Result<Vec<Listed>> {
        Ok(self
            .list(DIR)
            .await?
            .iter()
            .filter_map(|name| parse_entry(name))
            .collect())
    }

    /// Puts the key whose canonical text is `key` on the list; whether it
    /// was new. One atomic put: after it returns, every statement planned
    /// from then on leaves the person out.
    pub async fn suppress(&self, key: &[u8], reason: Option<&str>) -> Result<bool> {
        let salt = self
            .suppression_salt(true)
            .await?
            .ok_or_else(|| self.error(SALT, "missing after it was created"))?;
        let name = format!("{DIR}/{}", entry_name(&salt, key));
        let before = format!("{DIR}/{}.json", hex(&salted_hash(&salt, key)));
        if self.get(&name).await?.is_some() || self.get(&before).await?.is_some() {
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
        let list = Suppressed::new(b"pepper".to_vec(), [(h, None)]);
        assert!(list.contains(b"42"));
        assert!(!list.contains(b"43"));
        assert_eq!(unhex(&hex(&h)).unwrap(), h.to_vec());
        assert_eq!(unhex("abc"), None);
    }

    #[test]
    fn fast_hash_is_siphash_1_3_under_a_key_from_the_salt() {
        // Independent reference: the published SipHash-1-3 test vectors
        // (key 00 01 … 0f; messages "" and 00), as in Rust's std tests.
        let key: [u8; 16] = std::array::from_fn(|i| i as u8);
        assert_eq!(fast_hash(&key, b""), 0xabac_0158_050f_c4dc);
        assert_eq!(fast_hash(&key, &[0]), 0xc9f4_9bf3_7d57_ca93);
        assert_ne!(fast_key(b"pepper"), fast_key(b"salt"));
    }

    /// Names round-trip, both forms are read, a list with an old entry
    /// checks every key with SHA-256, and the fast path never changes an
    /// answer.
    #[test]
    fn entries_old_and_new() {
        let salt = b"pepper".to_vec();
        let new = parse_entry(&entry_name(&salt, b"42")).unwrap();
        assert_eq!(new.0, salted_hash(&salt, b"42"));
        assert_eq!(new.1, Some(fast_hash(&fast_key(&salt), b"42")));
        let old_name = format!("{}.json", hex(&salted_hash(&salt, b"7")));
        let old = parse_entry(&old_name).unwrap();
        assert_eq!(old, (salted_hash(&salt, b"7"), None));
        assert_eq!(parse_entry("zz.json"), None);
        assert_eq!(parse_entry(&old_name.replace(".json", "-12.json")), None);
        let fast = Suppressed::new(salt.clone(), [new]);
        assert!(fast.parts().2.is_some());
        let mixed = Suppressed::new(salt, [new, old]);
        assert!(mixed.parts().2.is_none());
        for k in 0..2000u32 {
            let k = k.to_string();
            assert_eq!(fast.contains(k.as_bytes()), k == "42", "{k}");
            assert_eq!(mixed.contains(k.as_bytes()), k == "42" || k == "7", "{k}");
        }
    }
}
