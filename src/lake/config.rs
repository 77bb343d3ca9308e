//! `microseg.toml`: engine settings and per-table overrides for a lake.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::str::FromStr;

use datafusion::arrow::datatypes::DataType;
use serde::Deserialize;

use crate::error::{Error, Result};

/// The name of the config file looked for at the lake root.
pub const CONFIG_FILE: &str = "microseg.toml";

/// A lake's configuration, usually `microseg.toml` at the lake root.
///
/// ```toml
/// [engine]
/// memory_limit = "8GiB"
/// target_partitions = 8
///
/// [tables.Orders-2025]          # keyed by folder name
/// name = "orders"               # register under another name
/// partition_types = { order_month = "Date32" }
///
/// [tables.scratch]
/// skip = true
/// ```
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LakeConfig {
    /// Session settings the engine applies.
    #[serde(default)]
    pub engine: EngineConfig,
    /// Per-table overrides, keyed by the table's folder name under the lake root.
    #[serde(default)]
    pub tables: BTreeMap<String, TableConfig>,
    /// The `[privacy]` section as written; `None` when absent (then
    /// [`LakeConfig::privacy`] gives the defaults: privacy is on by default).
    pub privacy: Option<PrivacyConfig>,
    /// Where this config was read from (a path or URL), for messages; `None`
    /// when the lake has no config file.
    #[serde(skip)]
    pub source: Option<String>,
}

/// The `[engine]` section: settings for the DataFusion session.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineConfig {
    /// Memory pool size: `"8GiB"`, `"512MB"`, or `"60%"` of RAM; see [`parse_memory_limit`].
    pub memory_limit: Option<String>,
    /// Where operators spill when over the memory limit.
    pub spill_dir: Option<PathBuf>,
    /// DataFusion's `target_partitions` (parallelism of a plan).
    pub target_partitions: Option<usize>,
    /// Session time zone, e.g. `"+00:00"` or `"Europe/Paris"`.
    pub time_zone: Option<String>,
    /// Rows per record batch.
    pub batch_size: Option<usize>,
}

/// The `[privacy]` section: who a row is about, which columns are
/// personal, and what each restricted role may learn.
///
/// ```toml
/// [privacy]
/// entity_key = "customer_id"
/// personal_columns = ["customers.email", "tickets.text"]   # registered table names
/// consent_table = "consents"
/// public_tables = ["products", "stores"]
/// [privacy.roles.reader]
/// min_group_size = 50      # 0 switches the reader rule off
/// small_groups = "drop"    # or "error"
/// ```
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PrivacyConfig {
    /// The column that identifies a person, in every table that has it.
    #[serde(default = "default_entity_key")]
    pub entity_key: String,
    /// `table.column` entries naming personal data (besides the key).
    #[serde(default)]
    pub personal_columns: Vec<String>,
    /// The table of consent records (entity key, purpose, granted, ts);
    /// [`DEFAULT_CONSENT_TABLE`] when absent, checked when first needed.
    pub consent_table: Option<String>,
    /// Tables without the entity key that restricted roles may read.
    #[serde(default)]
    pub public_tables: Vec<String>,
    /// Per-role settings.
    #[serde(default)]
    pub roles: PrivacyRoles,
}

/// `[privacy.roles]`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PrivacyRoles {
    /// `[privacy.roles.reader]`: the BI role that sees aggregates only.
    #[serde(default)]
    pub reader: ReaderPrivacy,
}

/// `[privacy.roles.reader]`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ReaderPrivacy {
    /// Distinct entities behind every result row (and every filter's kept
    /// and removed rows); 0 switches the reader rule off.
    #[serde(default = "default_min_group_size")]
    pub min_group_size: u64,
    /// What happens to a group below the minimum.
    #[serde(default)]
    pub small_groups: SmallGroups,
}

/// What a reader's query does with a group below the minimum.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(try_from = "String")]
pub enum SmallGroups {
    /// The row is left out of the result.
    #[default]
    Drop,
    /// The query fails, naming the rule.
    Error,
}

impl TryFrom<String> for SmallGroups {
    type Error = String;

    // serde's own message would not name the key.
    fn try_from(value: String) -> std::result::Result<Self, String> {
        match value.as_str() {
            "drop" => Ok(SmallGroups::Drop),
            "error" => Ok(SmallGroups::Error),
            _ => Err(format!(
                "privacy.roles.reader.small_groups must be \"drop\" or \"error\", not {value:?}"
            )),
        }
    }
}

/// The consent table when `[privacy]` does not name one.
pub const DEFAULT_CONSENT_TABLE: &str = "consents";

/// The entity key when `[privacy]` does not name one.
pub const DEFAULT_ENTITY_KEY: &str = "customer_id";
/// Readers' minimum group size when `[privacy]` does not set one.
pub const DEFAULT_MIN_GROUP_SIZE: u64 = 10;

fn default_entity_key() -> String {
    DEFAULT_ENTITY_KEY.to_string()
}

fn default_min_group_size() -> u64 {
    DEFAULT_MIN_GROUP_SIZE
}

impl Default for ReaderPrivacy {
    fn default() -> Self {
        ReaderPrivacy {
            min_group_size: DEFAULT_MIN_GROUP_SIZE,
            small_groups: SmallGroups::Drop,
        }
    }
}

impl Default for PrivacyConfig {
    fn default() -> Self {
        PrivacyConfig {
            entity_key: default_entity_key(),
            personal_columns: Vec::new(),
            consent_table: None,
            public_tables: Vec::new(),
            roles: PrivacyRoles::default(),
        }
    }
}

impl PrivacyConfig {
    /// `personal_columns` split into (table, column), lower-cased; an entry
    /// without exactly one dot is an error naming it.
    pub fn personal_pairs(&self) -> std::result::Result<Vec<(String, String)>, String> {
        self.personal_columns
            .iter()
            .map(|entry| match entry.split_once('.') {
                Some((table, column))
                    if !table.is_empty() && !column.is_empty() && !column.contains('.') =>
                {
                    Ok((table.to_lowercase(), column.to_lowercase()))
                }
                _ => Err(format!(
                    "privacy.personal_columns entry {entry:?} must be \"table.column\" (the table as registered)"
                )),
            })
            .collect()
    }

    fn validate(&self) -> std::result::Result<(), String> {
        check_identifier(&self.entity_key)
            .map_err(|why| format!("privacy.entity_key = {:?}: {why}", self.entity_key))?;
        self.personal_pairs()?;
        for table in &self.public_tables {
            if table.trim().is_empty() {
                return Err("privacy.public_tables has an empty entry".into());
            }
        }
        if let Some(table) = &self.consent_table
            && table.trim().is_empty()
        {
            return Err("privacy.consent_table is empty".into());
        }
        Ok(())
    }
}

/// A `[tables.FOLDER]` section.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableConfig {
    /// Register the table under this name instead of the folder's.
    pub name: Option<String>,
    /// Do not validate or register this folder at all.
    #[serde(default)]
    pub skip: bool,
    /// Data file suffix, `".parquet"` by default.
    pub file_extension: Option<String>,
    /// Types of hive partition columns (Utf8 unless given), in Arrow's
    /// notation: `"Int32"`, `"Date32"`, `"Utf8"`, ...
    #[serde(default)]
    pub partition_types: BTreeMap<String, String>,
}

impl LakeConfig {
    /// Parses and validates TOML text; `source_name` (a path or URL) is used
    /// in error messages.
    pub fn from_toml(text: &str, source_name: &str) -> Result<LakeConfig> {
        let mut config: LakeConfig = toml::from_str(text).map_err(|e| Error::Config {
            source_name: source_name.to_string(),
            message: toml_error(text, &e),
        })?;
        config.source = Some(source_name.to_string());
        config.validate()?;
        Ok(config)
    }

    /// Reads and validates a config file from the local file system.
    pub async fn load(path: &std::path::Path) -> Result<LakeConfig> {
        let source_name = path.display().to_string();
        let text = tokio::fs::read_to_string(path)
            .await
            .map_err(|e| Error::Config {
                source_name: source_name.clone(),
                message: format!("cannot read: {e}"),
            })?;
        Self::from_toml(&text, &source_name)
    }

    /// Checks values serde cannot: sizes, names, types.
    pub fn validate(&self) -> Result<()> {
        let fail = |message: String| Error::Config {
            source_name: self.source_name(),
            message,
        };
        let engine = &self.engine;
        if let Some(limit) = &engine.memory_limit {
            parse_memory_limit(limit, 1 << 30)
                .map_err(|e| fail(format!("engine.memory_limit: {}", usage_text(e))))?;
        }
        if engine.target_partitions == Some(0) {
            return Err(fail("engine.target_partitions must be at least 1".into()));
        }
        if engine.batch_size == Some(0) {
            return Err(fail("engine.batch_size must be at least 1".into()));
        }
        for (folder, table) in &self.tables {
            if let Some(name) = &table.name {
                check_identifier(&name.to_lowercase()).map_err(|why| {
                    fail(format!(
                        "tables.{folder}.name = {name:?} is not a valid table name: {why}"
                    ))
                })?;
            }
            if let Some(ext) = &table.file_extension
                && (ext.is_empty() || ext.contains('/'))
            {
                return Err(fail(format!(
                    "tables.{folder}.file_extension = {ext:?} must be a non-empty file suffix such as \".parquet\""
                )));
            }
            table.partition_data_types(folder, &self.source_name())?;
        }
        if let Some(privacy) = &self.privacy {
            privacy.validate().map_err(fail)?;
        }
        Ok(())
    }

    /// The privacy settings in force: the `[privacy]` section, or the
    /// defaults (entity key `customer_id`, readers' minimum group 10).
    pub fn privacy(&self) -> PrivacyConfig {
        self.privacy.clone().unwrap_or_default()
    }

    /// The config file this came from, or a placeholder for the built-in default.
    pub fn source_name(&self) -> String {
        self.source
            .clone()
            .unwrap_or_else(|| format!("(no {CONFIG_FILE})"))
    }
}

impl EngineConfig {
    /// `memory_limit` in bytes, given the machine's RAM for percentages.
    pub fn memory_limit_bytes(&self, total_ram_bytes: u64) -> Result<Option<usize>> {
        self.memory_limit
            .as_deref()
            .map(|s| parse_memory_limit(s, total_ram_bytes))
            .transpose()
    }
}

impl TableConfig {
    /// The data file suffix for this table.
    pub fn file_extension(&self) -> &str {
        self.file_extension.as_deref().unwrap_or(".parquet")
    }

    /// `partition_types` parsed into Arrow types; `folder` and `source_name`
    /// name the section in errors.
    pub fn partition_data_types(
        &self,
        folder: &str,
        source_name: &str,
    ) -> Result<BTreeMap<String, DataType>> {
        self.partition_types
            .iter()
            .map(|(column, ty)| {
                let data_type = DataType::from_str(ty).map_err(|e| Error::Config {
                    source_name: source_name.to_string(),
                    message: format!(
                        "tables.{folder}.partition_types.{column} = {ty:?} is not an Arrow type (e.g. \"Int32\", \"Date32\", \"Utf8\"): {e}"
                    ),
                })?;
                Ok((column.clone(), data_type))
            })
            .collect()
    }
}

/// Checks that `name` is a plain lower-case SQL identifier, so it can be
/// written in a query without quotes; on failure says why.
pub(crate) fn check_identifier(name: &str) -> std::result::Result<(), String> {
    let mut chars = name.chars();
    match chars.next() {
        None => return Err("it is empty".into()),
        Some(c) if c.is_ascii_digit() => return Err("it starts with a digit".into()),
        _ => {}
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_'))
    {
        return Err(format!(
            "it contains {bad:?} (only letters, digits and _ are allowed)"
        ));
    }
    Ok(())
}

/// toml's own Display draws a multi-line source excerpt; a one-line
/// "line L, column C: message" reads better in a CLI error.
fn toml_error(text: &str, e: &toml::de::Error) -> String {
    let message = e.message().trim_end();
    match e.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
            format!("line {line}, column {column}: {message}")
        }
        None => message.to_string(),
    }
}

fn usage_text(e: Error) -> String {
    match e {
        Error::Usage(s) => s,
        other => other.to_string(),
    }
}

/// Parses a memory size: a byte count with an optional unit (`B`, `KB`,
/// `MB`, `GB`, `TB` in powers of 1000; `KiB`, `MiB`, `GiB`, `TiB` in powers
/// of 1024; case-insensitive, fractions allowed: `1.5GiB`), or a percentage
/// of `total_ram_bytes` (`60%`).
///
/// Bare `K`/`M`/`G` are rejected: whether they mean 1000 or 1024 is a
/// guess we'd rather the user didn't have to make.
pub fn parse_memory_limit(s: &str, total_ram_bytes: u64) -> Result<usize> {
    let fail = |why: &str| {
        Error::Usage(format!(
            "invalid memory limit {s:?}: {why} (expected e.g. \"8GiB\", \"512MB\" or \"60%\")"
        ))
    };
    let text = s.trim();
    let bytes = if let Some(number) = text.strip_suffix('%') {
        let percent: f64 = number
            .trim()
            .parse()
            .map_err(|_| fail("the percentage is not a number"))?;
        if !(percent > 0.0 && percent <= 100.0) {
            return Err(fail("a percentage must be above 0 and at most 100"));
        }
        total_ram_bytes as f64 * percent / 100.0
    } else {
        let split = text
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(text.len());
        let (number, unit) = text.split_at(split);
        if number.is_empty() {
            return Err(fail("it does not start with a number"));
        }
        let value: f64 = number
            .parse()
            .map_err(|_| fail("the number is malformed"))?;
        let multiplier: f64 = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1.0,
            "kb" => 1e3,
            "mb" => 1e6,
            "gb" => 1e9,
            "tb" => 1e12,
            "kib" => 1024.0,
            "mib" => 1024.0 * 1024.0,
            "gib" => 1024.0 * 1024.0 * 1024.0,
            "tib" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
            "k" | "m" | "g" | "t" => {
                return Err(fail(
                    "ambiguous unit: write KB/MB/GB/TB (powers of 1000) or KiB/MiB/GiB/TiB (powers of 1024)",
                ));
            }
            _ => {
                return Err(fail(
                    "unknown unit (use B, KB, MB, GB, TB, KiB, MiB, GiB or TiB)",
                ));
            }
        };
        value * multiplier
    };
    let bytes = bytes.floor();
    if bytes < 1.0 {
        return Err(fail("it must be at least one byte"));
    }
    if bytes >= usize::MAX as f64 {
        return Err(fail("it is too large"));
    }
    Ok(bytes as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: usize = 1 << 30;

    #[test]
    fn memory_limit_units() {
        let total = 16 * GIB as u64;
        assert_eq!(parse_memory_limit("8GiB", total).unwrap(), 8 * GIB);
        assert_eq!(parse_memory_limit("8 gib", total).unwrap(), 8 * GIB);
        assert_eq!(parse_memory_limit("512MB", total).unwrap(), 512_000_000);
        assert_eq!(parse_memory_limit("512MiB", total).unwrap(), 512 << 20);
        assert_eq!(parse_memory_limit("1.5GiB", total).unwrap(), 3 * GIB / 2);
        assert_eq!(parse_memory_limit("2KB", total).unwrap(), 2000);
        assert_eq!(parse_memory_limit("2KiB", total).unwrap(), 2048);
        assert_eq!(parse_memory_limit("1TB", total).unwrap(), 1_000_000_000_000);
        assert_eq!(parse_memory_limit("1TiB", total).unwrap(), 1 << 40);
        assert_eq!(parse_memory_limit("1000", total).unwrap(), 1000);
        assert_eq!(parse_memory_limit("1000B", total).unwrap(), 1000);
        assert_eq!(parse_memory_limit(" 3GB ", total).unwrap(), 3_000_000_000);
    }

    #[test]
    fn memory_limit_percent() {
        let total = 10_000_000_000u64;
        assert_eq!(parse_memory_limit("60%", total).unwrap(), 6_000_000_000);
        assert_eq!(parse_memory_limit("100%", total).unwrap(), 10_000_000_000);
        assert_eq!(parse_memory_limit("0.5 %", total).unwrap(), 50_000_000);
    }

    #[test]
    fn memory_limit_errors() {
        let total = 16 * GIB as u64;
        for (input, needle) in [
            ("", "does not start with a number"),
            ("GiB", "does not start with a number"),
            ("8G", "ambiguous unit"),
            ("8 parsecs", "unknown unit"),
            ("1.2.3GB", "malformed"),
            ("0", "at least one byte"),
            ("0GiB", "at least one byte"),
            ("0%", "above 0"),
            ("150%", "at most 100"),
            ("abc%", "not a number"),
            ("-5%", "above 0"),
            ("99999999999TiB", "too large"),
        ] {
            let err = parse_memory_limit(input, total).unwrap_err().to_string();
            assert!(err.contains(needle), "{input:?}: {err}");
            assert!(err.contains(&format!("{input:?}")), "{input:?}: {err}");
        }
    }

    #[test]
    fn identifiers() {
        assert!(check_identifier("orders").is_ok());
        assert!(check_identifier("_x1").is_ok());
        assert!(check_identifier("order_items_2").is_ok());
        assert!(check_identifier("").is_err());
        assert!(check_identifier("1orders").unwrap_err().contains("digit"));
        assert!(check_identifier("order-items").unwrap_err().contains("'-'"));
        assert!(check_identifier("Orders").is_err());
    }

    #[test]
    fn config_parses_and_validates() {
        let config = LakeConfig::from_toml(
            r#"
            [engine]
            memory_limit = "60%"
            target_partitions = 4
            [tables.x]
            partition_types = { month = "Date32" }
            "#,
            "test.toml",
        )
        .unwrap();
        assert_eq!(config.engine.target_partitions, Some(4));
        assert_eq!(
            config.tables["x"].partition_data_types("x", "t").unwrap()["month"],
            DataType::Date32
        );
        assert_eq!(config.source.as_deref(), Some("test.toml"));
        // No [privacy]: on, with the defaults.
        let privacy = config.privacy();
        assert_eq!(privacy.entity_key, "customer_id");
        assert_eq!(privacy.roles.reader.min_group_size, 10);
        assert_eq!(privacy.roles.reader.small_groups, SmallGroups::Drop);
        assert!(privacy.personal_columns.is_empty());

        let config = LakeConfig::from_toml(
            r#"
            [privacy]
            personal_columns = ["Customers.Email", "tickets.text"]
            public_tables = ["products"]
            consent_table = "consents"
            [privacy.roles.reader]
            min_group_size = 0
            small_groups = "error"
            "#,
            "test.toml",
        )
        .unwrap();
        let privacy = config.privacy();
        assert_eq!(
            privacy.personal_pairs().unwrap(),
            vec![
                ("customers".to_string(), "email".to_string()),
                ("tickets".to_string(), "text".to_string())
            ]
        );
        assert_eq!(privacy.roles.reader.min_group_size, 0);
        assert_eq!(privacy.roles.reader.small_groups, SmallGroups::Error);
        assert_eq!(privacy.consent_table.as_deref(), Some("consents"));

        for (text, needle) in [
            ("[engine]\nmemory_limit = \"8G\"", "engine.memory_limit"),
            ("[engine]\ntarget_partitions = 0", "target_partitions"),
            ("[tables.x]\nname = \"bad-name\"", "tables.x.name"),
            (
                "[tables.x]\npartition_types = { m = \"Nope\" }",
                "tables.x.partition_types.m",
            ),
            ("[tables.x]\nfile_extension = \"\"", "file_extension"),
            ("[engin]\n", "engin"),
            ("[privacy]\nentity_ky = \"x\"", "entity_ky"),
            (
                "[privacy]\nentity_key = \"Customer-Id\"",
                "privacy.entity_key",
            ),
            (
                "[privacy]\npersonal_columns = [\"email\"]",
                "personal_columns entry \"email\"",
            ),
            (
                "[privacy]\npersonal_columns = [\"a.b.c\"]",
                "personal_columns entry \"a.b.c\"",
            ),
            (
                "[privacy.roles.reader]\nsmall_groups = \"hide\"",
                "small_groups",
            ),
            (
                "[privacy.roles.reader]\nmin_group_size = -1",
                "line 2, column 18",
            ),
            ("[privacy.roles.analyst]\n", "analyst"),
        ] {
            let err = LakeConfig::from_toml(text, "test.toml")
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(needle) && err.contains("test.toml"),
                "{text}: {err}"
            );
        }
    }
}
