//! Engine settings: command-line options override `microseg.toml`, which
//! overrides defaults.

use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::lake::{EngineConfig, parse_memory_limit};

/// What a caller (CLI flags, server options, an embedding program) can set
/// when opening an engine. `None` means "from `microseg.toml`, else default".
#[derive(Debug, Clone, Default)]
pub struct EngineOptions {
    /// A config file to use instead of `microseg.toml` at the lake root.
    pub config: Option<PathBuf>,
    /// Memory limit such as `8GiB`, `512MB` or `60%` (of RAM).
    pub memory_limit: Option<String>,
    /// Where operators spill when memory runs out.
    pub spill_dir: Option<PathBuf>,
    /// Number of partitions queries are split into.
    pub target_partitions: Option<usize>,
    /// Session time zone, e.g. `UTC` or `Europe/Berlin`.
    pub time_zone: Option<String>,
}

/// The resolved settings of an open engine.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Bytes the memory pool hands out before operators must spill or fail.
    pub memory_limit: usize,
    /// Spill directory (`None`: the OS temp dir).
    pub spill_dir: Option<PathBuf>,
    /// Number of partitions.
    pub target_partitions: usize,
    /// Session time zone; `None` keeps DataFusion's default, where
    /// timestamps without a zone stay naive.
    pub time_zone: Option<String>,
    /// Rows per record batch.
    pub batch_size: usize,
}

/// Share of physical memory given to the query pool when nothing is set:
/// leaves room for untracked allocations (Parquet decoding, the process).
const DEFAULT_MEMORY_SHARE: &str = "60%";

impl Settings {
    /// Merges flags over the lake's config over defaults, validating each.
    pub fn resolve(options: &EngineOptions, config: &EngineConfig) -> Result<Settings> {
        let total = total_memory_bytes();
        let memory_limit = match (&options.memory_limit, &config.memory_limit) {
            (Some(flag), _) => parse_memory_limit(flag, total).map_err(|e| Error::Config {
                source_name: "--memory-limit".into(),
                message: e.to_string(),
            })?,
            (None, Some(cfg)) => parse_memory_limit(cfg, total)?,
            (None, None) => parse_memory_limit(DEFAULT_MEMORY_SHARE, total)?,
        };
        let target_partitions = options
            .target_partitions
            .or(config.target_partitions)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
        if target_partitions == 0 {
            return Err(Error::Config {
                source_name: "target_partitions".into(),
                message: "must be at least 1".into(),
            });
        }
        let batch_size = config.batch_size.unwrap_or(8192);
        if batch_size == 0 {
            return Err(Error::Config {
                source_name: "batch_size".into(),
                message: "must be at least 1".into(),
            });
        }
        let time_zone = options
            .time_zone
            .clone()
            .or_else(|| config.time_zone.clone());
        if let Some(tz) = &time_zone {
            validate_time_zone(tz)?;
        }
        Ok(Settings {
            memory_limit,
            spill_dir: options
                .spill_dir
                .clone()
                .or_else(|| config.spill_dir.clone()),
            target_partitions,
            time_zone,
            batch_size,
        })
    }
}

/// Accepts what Arrow accepts for a timestamp's time zone: an IANA name or
/// a fixed `+HH:MM` offset.
fn validate_time_zone(tz: &str) -> Result<()> {
    tz.parse::<datafusion::arrow::array::timezone::Tz>()
        .map(|_| ())
        .map_err(|e| Error::Config {
            source_name: "time_zone".into(),
            message: format!("{tz:?} is not a time zone: {e}"),
        })
}

/// Physical memory from /proc/meminfo; 8 GiB where that can't be read.
pub fn total_memory_bytes() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map(|kb| kb * 1024)
        .unwrap_or(8 << 30)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_config_override_defaults() {
        let config = EngineConfig {
            memory_limit: Some("1GiB".into()),
            target_partitions: Some(3),
            time_zone: Some("Europe/Berlin".into()),
            ..Default::default()
        };
        let s = Settings::resolve(&EngineOptions::default(), &config).unwrap();
        assert_eq!(s.memory_limit, 1 << 30);
        assert_eq!(s.target_partitions, 3);
        assert_eq!(s.time_zone.as_deref(), Some("Europe/Berlin"));

        let flags = EngineOptions {
            memory_limit: Some("256MiB".into()),
            target_partitions: Some(1),
            time_zone: Some("+02:00".into()),
            ..Default::default()
        };
        let s = Settings::resolve(&flags, &config).unwrap();
        assert_eq!(s.memory_limit, 256 << 20);
        assert_eq!(s.target_partitions, 1);
        assert_eq!(s.time_zone.as_deref(), Some("+02:00"));

        let s = Settings::resolve(&EngineOptions::default(), &EngineConfig::default()).unwrap();
        assert!(s.memory_limit > 0 && s.memory_limit < total_memory_bytes() as usize);
        assert_eq!(s.time_zone, None);
    }

    #[test]
    fn bad_values_name_the_setting() {
        let bad_tz = EngineOptions {
            time_zone: Some("Mars/Olympus".into()),
            ..Default::default()
        };
        let e = Settings::resolve(&bad_tz, &EngineConfig::default()).unwrap_err();
        assert!(
            e.to_string().contains("time_zone") && e.to_string().contains("Mars/Olympus"),
            "{e}"
        );

        let bad_mem = EngineOptions {
            memory_limit: Some("lots".into()),
            ..Default::default()
        };
        let e = Settings::resolve(&bad_mem, &EngineConfig::default()).unwrap_err();
        assert!(e.to_string().contains("--memory-limit"), "{e}");

        let zero = EngineOptions {
            target_partitions: Some(0),
            ..Default::default()
        };
        let e = Settings::resolve(&zero, &EngineConfig::default()).unwrap_err();
        assert!(e.to_string().contains("target_partitions"), "{e}");
    }
}
