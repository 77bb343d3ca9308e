//! One writer per target: a lock object in the lake, created with
//! put-if-absent (`PutMode::Create`), which local disks, S3, GCS and Azure
//! all do atomically, so it works wherever the lake is.
//!
//! A lock is stale, and taken over, when its `expires_at` has passed (its
//! holder renews it every quarter of the time-to-live while it runs) or
//! when its holder was a process on this host that no longer exists (a
//! `kill -9`), so a crashed run never blocks the next one for long.

use std::time::Duration;

use chrono::{DateTime, Utc};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;

use crate::error::{Error, JobFailure, Result};
use crate::lake::LakeLocation;

/// What a lock object says about its holder.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LockInfo {
    /// A random id of the run holding it.
    pub owner: String,
    /// The job holding it.
    pub job: String,
    /// Host name of the holder.
    pub host: String,
    /// Process id of the holder.
    pub pid: u32,
    /// When the holder took it.
    pub acquired_at: DateTime<Utc>,
    /// When it becomes stale unless renewed.
    pub expires_at: DateTime<Utc>,
}

impl LockInfo {
    fn describe(&self) -> String {
        format!(
            "job {} (pid {} on {}) since {}; the lock expires at {} unless renewed",
            self.job,
            self.pid,
            self.host,
            self.acquired_at.to_rfc3339(),
            self.expires_at.to_rfc3339()
        )
    }

    /// Stale: expired, or held by a process of this host that is gone.
    fn is_stale(&self, now: DateTime<Utc>) -> bool {
        if self.expires_at <= now {
            return true;
        }
        self.host == host_name()
            && self.pid != std::process::id()
            && !std::path::Path::new(&format!("/proc/{}", self.pid)).exists()
            && std::path::Path::new("/proc/self").exists()
    }
}

/// This machine's name, for telling a local dead holder from a remote one.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "unknown-host".into())
}

/// Where the lock of a target folder lives.
pub fn lock_path(location: &LakeLocation, folder: &str) -> Path {
    location.path_of(&format!("_microseg/locks/{folder}.lock"))
}

/// A held lock; renewed in the background until released or dropped.
pub struct Lock {
    location: LakeLocation,
    path: Path,
    info: LockInfo,
    renewer: Option<JoinHandle<()>>,
}

fn store_error(location: &LakeLocation, path: &Path, e: object_store::Error) -> Error {
    Error::lake(
        &location.original,
        format!("lock {}: {e}", location.display_path(path)),
    )
}

async fn read(location: &LakeLocation, path: &Path) -> Result<Option<LockInfo>> {
    match location.store.get(path).await {
        Ok(got) => {
            let bytes = got
                .bytes()
                .await
                .map_err(|e| store_error(location, path, e))?;
            // An unreadable lock (a torn write by a foreign tool) counts as
            // stale rather than blocking every run forever.
            Ok(Some(serde_json::from_slice(&bytes).unwrap_or(LockInfo {
                owner: "unreadable".into(),
                job: "unknown".into(),
                host: "unknown".into(),
                pid: 0,
                acquired_at: DateTime::<Utc>::MIN_UTC,
                expires_at: DateTime::<Utc>::MIN_UTC,
            })))
        }
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(store_error(location, path, e)),
    }
}

fn payload(info: &LockInfo) -> PutPayload {
    PutPayload::from(serde_json::to_vec_pretty(info).unwrap_or_default())
}

impl Lock {
    /// Takes the lock of `target` (in `folder`), waiting up to `wait` for
    /// a live holder; fails with [`JobFailure::LockHeld`] after that.
    pub async fn acquire(
        location: &LakeLocation,
        folder: &str,
        target: &str,
        job: &str,
        ttl: Duration,
        wait: Duration,
    ) -> Result<Lock> {
        let path = lock_path(location, folder);
        let ttl_chrono = chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::hours(1));
        let give_up = std::time::Instant::now() + wait;
        loop {
            let now = Utc::now();
            let info = LockInfo {
                owner: format!("{:032x}", rand::random::<u128>()),
                job: job.to_string(),
                host: host_name(),
                pid: std::process::id(),
                acquired_at: now,
                expires_at: now + ttl_chrono,
            };
            let put = location
                .store
                .put_opts(&path, payload(&info), PutOptions::from(PutMode::Create))
                .await;
            match put {
                Ok(_) => {
                    let mut lock = Lock {
                        location: location.clone(),
                        path,
                        info,
                        renewer: None,
                    };
                    lock.start_renewing(ttl);
                    return Ok(lock);
                }
                Err(object_store::Error::AlreadyExists { .. }) => {}
                Err(e) => return Err(store_error(location, &path, e)),
            }
            match read(location, &path).await? {
                None => continue, // released between our put and our read
                Some(holder) if holder.is_stale(Utc::now()) => {
                    log::warn!(
                        "{target}: taking over a stale lock held by {}",
                        holder.describe()
                    );
                    match location.store.delete(&path).await {
                        Ok(()) | Err(object_store::Error::NotFound { .. }) => continue,
                        Err(e) => return Err(store_error(location, &path, e)),
                    }
                }
                Some(holder) => {
                    if std::time::Instant::now() >= give_up {
                        return Err(Error::job(
                            JobFailure::LockHeld,
                            format!(
                                "{target} is being written by {}; try again later, or wait with --wait",
                                holder.describe()
                            ),
                        ));
                    }
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
    }

    fn start_renewing(&mut self, ttl: Duration) {
        let location = self.location.clone();
        let path = self.path.clone();
        let mut info = self.info.clone();
        let every = (ttl / 4).max(Duration::from_millis(100));
        let ttl_chrono = chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::hours(1));
        self.renewer = Some(tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                // Only renew our own lock: if it was taken over, the taker owns it.
                match read(&location, &path).await {
                    Ok(Some(current)) if current.owner == info.owner => {}
                    _ => return,
                }
                info.expires_at = Utc::now() + ttl_chrono;
                if let Err(e) = location.store.put(&path, payload(&info)).await {
                    log::warn!("cannot renew lock {path}: {e}");
                }
            }
        }));
    }

    /// Whether the lock object still names this run (not taken over).
    pub async fn still_held(&self) -> Result<bool> {
        Ok(read(&self.location, &self.path)
            .await?
            .is_some_and(|current| current.owner == self.info.owner))
    }

    /// Releases the lock (only if it is still ours).
    pub async fn release(mut self) -> Result<()> {
        if let Some(renewer) = self.renewer.take() {
            renewer.abort();
        }
        if self.still_held().await? {
            match self.location.store.delete(&self.path).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(store_error(&self.location, &self.path, e)),
            }
        }
        Ok(())
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        // A run that fails returns its error without releasing first; the
        // renewer must stop so the lock expires (or is released by the
        // caller's error path) rather than being renewed forever.
        if let Some(renewer) = self.renewer.take() {
            renewer.abort();
        }
    }
}
