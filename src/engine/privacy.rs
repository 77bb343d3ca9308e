//! The lake's `[privacy]` settings checked against the tables as registered
//! (after renames), so a typo in a personal column is an error at open, not
//! a column silently left unprotected.

use datafusion::prelude::SessionContext;

use crate::error::{Error, Result};
use crate::lake::{LakeConfig, PrivacyConfig};

/// The columns a consent table must have besides the entity key.
pub const CONSENT_COLUMNS: [&str; 3] = ["purpose", "granted", "ts"];

/// Checks every table and column `[privacy]` names exists in `ctx`; errors
/// name the entry and the config file.
pub(super) async fn check(ctx: &SessionContext, config: &LakeConfig) -> Result<()> {
    let Some(privacy) = &config.privacy else {
        return Ok(());
    };
    let fail = |message: String| Error::Config {
        source_name: config.source_name(),
        message,
    };
    let columns_of = async |table: &str| -> Option<Vec<String>> {
        let provider = ctx.table_provider(table).await.ok()?;
        Some(
            provider
                .schema()
                .fields()
                .iter()
                .map(|f| f.name().to_lowercase())
                .collect(),
        )
    };
    let pairs = privacy.personal_pairs().map_err(&fail)?;
    for ((table, column), entry) in pairs.iter().zip(&privacy.personal_columns) {
        let Some(columns) = columns_of(table).await else {
            return Err(fail(format!(
                "privacy.personal_columns entry {entry:?}: no table {table} is registered (name tables as registered, after renames)"
            )));
        };
        if !columns.contains(column) {
            return Err(fail(format!(
                "privacy.personal_columns entry {entry:?}: table {table} has no column {column}"
            )));
        }
    }
    for table in &privacy.public_tables {
        let Some(columns) = columns_of(&table.to_lowercase()).await else {
            return Err(fail(format!(
                "privacy.public_tables entry {table:?}: no such table is registered"
            )));
        };
        if columns.contains(&privacy.entity_key) {
            return Err(fail(format!(
                "privacy.public_tables entry {table:?} has the entity key {}: a table about people cannot be public",
                privacy.entity_key
            )));
        }
    }
    if let Some(table) = &privacy.consent_table {
        let Some(columns) = columns_of(&table.to_lowercase()).await else {
            return Err(fail(format!(
                "privacy.consent_table {table:?}: no such table is registered"
            )));
        };
        for column in std::iter::once(privacy.entity_key.as_str()).chain(CONSENT_COLUMNS) {
            if !columns.iter().any(|c| c == column) {
                return Err(fail(format!(
                    "privacy.consent_table {table:?} has no column {column} (it needs {}, purpose, granted, ts)",
                    privacy.entity_key
                )));
            }
        }
    }
    Ok(())
}

/// The resolved settings, for code that needs the entity key.
pub(super) fn resolved(config: &LakeConfig) -> PrivacyConfig {
    config.privacy()
}

/// The entity key when a lake does not name one.
pub const DEFAULT_ENTITY_KEY: &str = "customer_id";

/// The column that identifies a person, in every table that has it
/// (suppression and erasure filter on it).
pub fn entity_key(lake: &crate::lake::Lake) -> String {
    lake.config.privacy().entity_key
}

/// The declared personal columns, as `table.column` (for the audit log).
pub fn personal_columns(lake: &crate::lake::Lake) -> Vec<String> {
    lake.config.privacy().personal_columns
}
