//! Issue 15, rule 1: a reader sees aggregates only. [`ReaderRule`] is an
//! analyzer rule, installed last in a reader session (after `BindCatalog`
//! and type coercion, before the optimizer, which therefore cannot move
//! what it adds), so it judges and rewrites the plan that will run, views
//! and prepared statements' bound parameters included, for every front door.
//!
//! # How entity provenance is tracked
//!
//! Every node of the plan gets a [`Provenance`], bottom-up:
//!
//! - **Public**: rows about no one: `VALUES`, `information_schema`, tables
//!   listed in `[privacy] public_tables`.
//! - **Entity(i)**: every row is about one person, whose key is output
//!   column `i`. A scan of a table (or table function, `rfm()`,
//!   `identity_components` …) whose schema has the entity key column starts
//!   it. Projections keep it only while they pass the key column through
//!   unchanged (a plain column reference, perhaps renamed); filters, sorts,
//!   aliases, `DISTINCT` and windows keep it; an aggregate grouped by the
//!   key keeps it (one row per person); a join of two entity sides keeps it
//!   only when its condition equates both keys; a `UNION` only when every
//!   input has the key at the same position.
//! - **Lost**: rows about people whose key was projected away.
//! - **Grouped**: every row stands for at least `min_group_size` people.
//!   An aggregate over Entity rows that does not group by the key gets a
//!   hidden `count(DISTINCT key)`, and a filter above it drops the groups
//!   below the minimum (or fails the query, `small_groups = "error"`);
//!   a projection then restores the aggregate's own schema. Whatever is
//!   computed from Grouped and Public rows alone stays Grouped. A scan of
//!   `also_bought(…)` is Grouped too: its rows carry their own count,
//!   `customers_both`, filtered the same way.
//!
//! Alongside, each output column carries a *sensitive* flag: the key, the
//! configured personal columns (for a table function or any relation not
//! named in `personal_columns`, every column named like a personal column),
//! and anything computed from them at customer level.
//!
//! # What is refused (fail closed)
//!
//! - a result that is not Public or Grouped (customer-level rows), or
//!   that would output a sensitive column;
//! - grouping a counted aggregate by a sensitive column;
//! - any expression that combines a sensitive column with a constant
//!   (literal, parameter, scalar subquery, a column of a Public or Grouped
//!   join side): comparisons, `IN` lists, `LIKE`, arithmetic, function
//!   arguments, so error oracles such as `1/(customer_id - 42)` or
//!   `CASE WHEN email = '…' THEN 1/0 END` never run;
//! - aggregate and window functions over sensitive columns other than
//!   `count` and `approx_distinct` (`min`, `max`, `array_agg`,
//!   `string_agg`, `first_value` … would return a person's value);
//! - `LIMIT` or `ORDER BY … LIMIT` over Entity or Lost rows;
//! - an aggregate over Lost rows (who they are cannot be counted), a join of
//!   two entity sides not on both keys, a full outer join of entity rows, a
//!   `UNION` mixing entity rows with others (fake keys could pad a group),
//!   `DISTINCT ON`, `UNNEST` or recursive queries over entity rows, an
//!   extension node over entity rows;
//! - a table without the entity key that is not in `public_tables`;
//! - `EXPLAIN ANALYZE` (its row counts are per operator, not per group).
//!
//! Refusals name the rule and never a value from the data.

mod filters;
mod provenance;
mod scope;
mod small_groups;

use std::collections::HashSet;
use std::sync::Arc;

use datafusion::common::config::ConfigOptions;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::LogicalPlan;
use datafusion::optimizer::AnalyzerRule;

use crate::error::Error;
use crate::lake::{PrivacyConfig, SmallGroups};

pub use provenance::Provenance;

/// The rule's name, by which the table functions leave it out when they
/// type their own plans (it judges the statement those plans are inlined into).
pub const RULE_NAME: &str = "microseg_reader_privacy";

/// What the reader rule needs from `[privacy]`, lower-cased.
#[derive(Debug, Clone)]
pub(crate) struct ReaderSettings {
    key: String,
    /// (table, column) pairs named in `personal_columns`.
    personal: HashSet<(String, String)>,
    /// Tables named in `personal_columns`: their other columns are not personal.
    personal_tables: HashSet<String>,
    /// Column names of `personal_columns`, for relations not named there.
    personal_names: HashSet<String>,
    public: HashSet<String>,
    min: u64,
    small_groups: SmallGroups,
}

/// The reader rule; see the module documentation.
#[derive(Debug)]
pub struct ReaderRule {
    /// An invalid `[privacy]` (caught at open, so not expected) refuses everything.
    settings: std::result::Result<Arc<ReaderSettings>, String>,
}

impl ReaderRule {
    /// The rule for `privacy` (already checked by the engine at open).
    pub fn new(privacy: &PrivacyConfig) -> ReaderRule {
        let settings = privacy.personal_pairs().map(|pairs| {
            Arc::new(ReaderSettings {
                key: privacy.entity_key.to_lowercase(),
                personal_tables: pairs.iter().map(|(t, _)| t.clone()).collect(),
                personal_names: pairs.iter().map(|(_, c)| c.clone()).collect(),
                personal: pairs.into_iter().collect(),
                public: privacy
                    .public_tables
                    .iter()
                    .map(|t| t.to_lowercase())
                    .collect(),
                min: privacy.roles.reader.min_group_size,
                small_groups: privacy.roles.reader.small_groups,
            })
        });
        ReaderRule { settings }
    }
}

impl AnalyzerRule for ReaderRule {
    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        let settings = self.settings.as_ref().map_err(|e| refusal(e.clone()))?;
        if settings.min == 0 {
            return Ok(plan);
        }
        let (plan, provenance) = provenance::Tracker::new(settings).rewrite(plan)?;
        match provenance {
            Provenance::Public | Provenance::Grouped => Ok(plan),
            Provenance::Entity(_) | Provenance::Lost => Err(refused(
                "aggregates only",
                &format!(
                    "see customer-level rows: a reader's result must be an aggregate whose every row stands for at least {} customers",
                    settings.min
                ),
            )),
        }
    }

    fn name(&self) -> &str {
        RULE_NAME
    }
}

/// The error for a refusal: the engine's `Refused`, which the server turns
/// into PermissionDenied and the CLI prints as is.
fn refusal(text: String) -> DataFusionError {
    DataFusionError::External(Box::new(Error::Refused(text)))
}

/// "role reader may not WHAT (privacy rule: RULE)".
pub(crate) fn refused(rule: &str, what: &str) -> DataFusionError {
    refusal(format!("role reader may not {what} (privacy rule: {rule})"))
}
