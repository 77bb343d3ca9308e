//! The lake's `[privacy]` settings checked against the tables as registered
//! (after renames), so a typo in a personal column is an error at open, not
//! a column silently left unprotected.

use std::sync::Arc;

use datafusion::arrow::array::StringArray;
use datafusion::arrow::datatypes::DataType;
use datafusion::execution::SessionStateBuilder;
use datafusion::prelude::SessionContext;

use super::{Engine, with_url_tables};
use crate::error::{Error, Result};
use crate::lake::{DEFAULT_CONSENT_TABLE, LakeConfig, PrivacyConfig};
use crate::planning::ConsentTable;

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
    // Named in the file: checked now. The default is checked when a
    // marketer or a job with a purpose first needs it.
    if privacy.consent_table.is_some() {
        consent_table(ctx, config).await.map_err(fail)?;
    }
    Ok(())
}

/// The lake's consent table, checked: its key, `purpose` (text),
/// `granted` (boolean) and `ts` (a time or number, for "latest") columns.
/// `Err` says what is wrong, naming the table and column.
pub(super) async fn consent_table(
    ctx: &SessionContext,
    config: &LakeConfig,
) -> std::result::Result<ConsentTable, String> {
    let privacy = config.privacy();
    let name = privacy
        .consent_table
        .clone()
        .unwrap_or_else(|| DEFAULT_CONSENT_TABLE.to_string());
    let provider = ctx.table_provider(name.to_lowercase()).await.map_err(|_| {
        format!(
            "privacy.consent_table {name:?}: no such table is registered (it needs {}, purpose, granted, ts; name another with consent_table in [privacy])",
            privacy.entity_key
        )
    })?;
    let schema = provider.schema();
    for column in std::iter::once(privacy.entity_key.as_str()).chain(CONSENT_COLUMNS) {
        let Ok(field) = schema.field_with_name(column) else {
            return Err(format!(
                "privacy.consent_table {name:?} has no column {column} (it needs {}, purpose, granted, ts)",
                privacy.entity_key
            ));
        };
        let t = field.data_type();
        let ok = match column {
            "purpose" => matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View),
            "granted" => t == &DataType::Boolean,
            "ts" => t.is_temporal() || t.is_numeric(),
            _ => true,
        };
        if !ok {
            let wanted = match column {
                "purpose" => "text",
                "granted" => "boolean",
                _ => "a timestamp, date or number",
            };
            return Err(format!(
                "privacy.consent_table {name:?}: column {column} is {t}, it must be {wanted}"
            ));
        }
    }
    Ok(ConsentTable { name, provider })
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

/// Consent by purpose: the sessions and checks of marketers and of jobs
/// that declare a purpose.
impl Engine {
    /// The consent filter for `purpose` (see [`crate::planning::ConsentRule`]);
    /// `marketer` also limits the tables without the entity key to
    /// `[privacy] public_tables`. Without a usable consent table the rule
    /// refuses every plan, saying why.
    pub fn consent_rule(&self, purpose: &str, marketer: bool) -> crate::planning::ConsentRule {
        crate::planning::ConsentRule::new(
            &self.privacy.entity_key,
            purpose,
            self.consent.as_ref().clone(),
            marketer.then(|| self.privacy.public_tables.iter().cloned().collect()),
        )
    }

    /// Whether the lake's consent table can be used; the error names the
    /// table and the column at fault.
    pub fn check_consent_table(&self) -> Result<()> {
        self.consent
            .as_ref()
            .as_ref()
            .map(|_| ())
            .map_err(|why| Error::Config {
                source_name: self.lake.config.source_name(),
                message: why.clone(),
            })
    }

    /// The purposes the consent table has records for (what a marketer's
    /// purpose should be one of).
    pub async fn consent_purposes(&self) -> Result<Vec<String>> {
        self.check_consent_table()?;
        let Ok(table) = self.consent.as_ref() else {
            return Ok(Vec::new());
        };
        let batches = self
            .ctx
            .read_table(Arc::clone(&table.provider))?
            .select_columns(&["purpose"])?
            .distinct()?
            .collect()
            .await?;
        let mut purposes = Vec::new();
        for batch in &batches {
            let text = datafusion::arrow::compute::cast(batch.column(0), &DataType::Utf8)
                .map_err(datafusion::error::DataFusionError::from)?;
            let text = text
                .as_any()
                .downcast_ref::<StringArray>()
                .ok_or_else(|| Error::Usage("purpose is not text".into()))?;
            purposes.extend(text.iter().flatten().map(str::to_string));
        }
        purposes.sort();
        Ok(purposes)
    }

    /// A session as [`Engine::new_session`] that sees only the customers
    /// whose latest consent for `purpose` is granted (a `materialize` job
    /// declaring a purpose). Nothing else is restricted.
    pub fn with_purpose(&self, purpose: &str) -> Result<Engine> {
        self.check_consent_table()?;
        let state = self.ctx.state();
        let mut rules = state.analyzer().rules.clone();
        rules.push(Arc::new(self.consent_rule(purpose, false)));
        let state = SessionStateBuilder::new_from_existing(state)
            .with_analyzer_rules(rules)
            .build();
        Ok(Engine {
            ctx: with_url_tables(state, &self.catalogs, self.policy.as_ref()),
            prepared: Default::default(),
            ..self.new_session()
        })
    }
}
