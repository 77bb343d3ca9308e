//! Issue 15, consent by purpose: a marketer (or a `materialize` job that
//! declares a purpose) sees only the rows of customers whose latest consent
//! record for that purpose is granted.
//!
//! [`ConsentRule`] is an analyzer rule, like the suppression rule: beneath
//! every leaf whose rows carry the entity key (table scans, `table_at`'s
//! node, the scans views and table functions inline, in subqueries too) it
//! puts a left semi join with the *audience*, the keys of the consenting
//! customers:
//!
//! ```text
//! SELECT customer_id FROM consents WHERE purpose = 'P'
//! GROUP BY customer_id
//! HAVING max(ts) FILTER (WHERE granted IS TRUE) > coalesce(max(ts) FILTER (WHERE granted IS NOT TRUE), -∞)
//! ```
//!
//! So the latest record wins; when a grant and a withdrawal (or a NULL
//! `granted`) share the latest `ts`, the withdrawal wins (a tie is no
//! consent); records with a NULL `ts` cannot be ordered and are ignored; a
//! purpose nobody has a record for gives an empty audience. Analyzer rules
//! run before the optimizer on every plan a session executes, so every
//! front door (Flight SQL statements, prepared statements, the CLI, a
//! cluster, which gets the plan already analyzed) gets the join, and
//! nothing above it sees the rows it drops.

use std::collections::HashSet;
use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::catalog::TableProvider;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNodeRecursion};
use datafusion::common::{Column, Result};
use datafusion::datasource::provider_as_source;
use datafusion::error::DataFusionError;
use datafusion::functions_aggregate::expr_fn::max;
use datafusion::logical_expr::{
    ExprFunctionExt, JoinType, LogicalPlan, LogicalPlanBuilder, cast, lit,
};
use datafusion::optimizer::AnalyzerRule;
use datafusion::optimizer::analyzer::type_coercion::TypeCoercion;
use datafusion::prelude::ident;

use crate::error::Error;

/// The alias of the audience subplan, by which a plan analyzed twice is
/// recognised (its leaves are already guarded).
const AUDIENCE: &str = "__microseg_consent";
/// The audience's one column.
const AUDIENCE_KEY: &str = "consenting_key";

/// The consent table as resolved when the lake was opened.
#[derive(Debug, Clone)]
pub struct ConsentTable {
    /// Its name as registered.
    pub name: String,
    /// Its provider, read at each scan (new consent records count at once).
    pub provider: Arc<dyn TableProvider>,
}

/// The consent filter of one purpose; see the module documentation.
#[derive(Debug)]
pub struct ConsentRule {
    key: String,
    purpose: String,
    /// `Err`: no usable consent table (the reason); every plan is refused.
    table: std::result::Result<ConsentTable, String>,
    /// For a marketer: the tables without the key it may still read
    /// (`[privacy] public_tables`); any other such table is refused.
    /// `None` (a job): every table.
    public: Option<HashSet<String>>,
}

impl ConsentRule {
    /// The filter for `purpose` on entity key `key`, reading `table`;
    /// `public` restricts the tables without the key (see the field).
    pub fn new(
        key: &str,
        purpose: &str,
        table: std::result::Result<ConsentTable, String>,
        public: Option<HashSet<String>>,
    ) -> ConsentRule {
        ConsentRule {
            key: key.to_lowercase(),
            purpose: purpose.to_string(),
            table,
            public: public.map(|p| p.into_iter().map(|t| t.to_lowercase()).collect()),
        }
    }

    /// The keys of the customers whose latest record for the purpose is
    /// granted, cast to `key_type` (the guarded leaf's key type).
    fn audience(
        &self,
        table: &ConsentTable,
        key_type: &DataType,
        config: &ConfigOptions,
    ) -> Result<LogicalPlan> {
        let granted_at = "granted_at";
        let withdrawn_at = "withdrawn_at";
        let plan = LogicalPlanBuilder::scan(
            table.name.as_str(),
            provider_as_source(Arc::clone(&table.provider)),
            None,
        )?
        .filter(ident("purpose").eq(lit(self.purpose.as_str())))?
        .aggregate(
            vec![ident(&self.key)],
            vec![
                max(ident("ts"))
                    .filter(ident("granted").is_true())
                    .build()?
                    .alias(granted_at),
                max(ident("ts"))
                    .filter(ident("granted").is_not_true())
                    .build()?
                    .alias(withdrawn_at),
            ],
        )?
        .filter(
            ident(granted_at).is_not_null().and(
                ident(withdrawn_at)
                    .is_null()
                    .or(ident(granted_at).gt(ident(withdrawn_at))),
            ),
        )?
        .project(vec![
            cast(ident(&self.key), key_type.clone()).alias(AUDIENCE_KEY),
        ])?
        .alias(AUDIENCE)?
        .build()?;
        // Policy rules run after the session's type coercion: coerce our own
        // plan (the purpose literal against a Utf8View column, for one).
        TypeCoercion::new().analyze(plan, config)
    }

    fn guard(
        &self,
        leaf: LogicalPlan,
        column: Column,
        table: &ConsentTable,
        config: &ConfigOptions,
    ) -> Result<LogicalPlan> {
        let key_type = leaf
            .schema()
            .qualified_field_with_name(column.relation.as_ref(), &column.name)?
            .1
            .data_type()
            .clone();
        let audience = self.audience(table, &key_type, config)?;
        LogicalPlanBuilder::from(leaf)
            .join(
                audience,
                JoinType::LeftSemi,
                (
                    vec![column],
                    vec![Column::new(Some(AUDIENCE), AUDIENCE_KEY)],
                ),
                None,
            )?
            .build()
    }

    /// A marketer reads customer tables and `public_tables` only.
    fn check_tables(&self, plan: &LogicalPlan, public: &HashSet<String>) -> Result<()> {
        plan.apply_with_subqueries(|node| {
            if is_audience_join(node) {
                return Ok(TreeNodeRecursion::Jump);
            }
            let (name, has_key) = match node {
                LogicalPlan::TableScan(scan) => (
                    scan.table_name.clone(),
                    scan.source.schema().index_of(&self.key).is_ok(),
                ),
                _ => return Ok(TreeNodeRecursion::Continue),
            };
            let allowed = has_key
                || public.contains(&name.table().to_lowercase())
                || name.schema() == Some("information_schema");
            if allowed {
                Ok(TreeNodeRecursion::Continue)
            } else {
                Err(refused(format!(
                    "role marketer may not read table {name}: it has no {} column and is not in [privacy] public_tables (privacy rule: customer and public tables only)",
                    self.key
                )))
            }
        })
        .map(|_| ())
    }
}

/// A node this rule made: the join of a leaf with the audience.
fn is_audience_join(node: &LogicalPlan) -> bool {
    matches!(node, LogicalPlan::Join(join)
        if join.join_type == JoinType::LeftSemi
            && matches!(join.right.as_ref(), LogicalPlan::SubqueryAlias(a) if a.alias.table() == AUDIENCE))
}

fn refused(text: String) -> DataFusionError {
    DataFusionError::External(Box::new(Error::Refused(text)))
}

impl AnalyzerRule for ConsentRule {
    fn analyze(&self, plan: LogicalPlan, config: &ConfigOptions) -> Result<LogicalPlan> {
        let table = self.table.as_ref().map_err(|why| refused(why.clone()))?;
        if let Some(public) = &self.public {
            self.check_tables(&plan, public)?;
        }
        plan.transform_down_with_subqueries(|node| {
            if is_audience_join(&node) {
                return Ok(Transformed::new(node, false, TreeNodeRecursion::Jump));
            }
            super::leaves::wrap_keyed_leaf(node, &self.key, &|leaf, column| {
                self.guard(leaf, column, table, config)
            })
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "microseg_consent"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{
        ArrayRef, BooleanArray, Int32Array, Int64Array, RecordBatch, StringArray,
        TimestampMicrosecondArray,
    };
    use datafusion::datasource::MemTable;
    use datafusion::execution::SessionStateBuilder;
    use datafusion::prelude::SessionContext;

    /// customer, purpose, granted (None = NULL), ts (None = NULL)
    type Record = (i64, &'static str, Option<bool>, Option<i64>);

    fn table(columns: Vec<(&str, ArrayRef)>) -> Arc<MemTable> {
        let batch = RecordBatch::try_from_iter(columns).unwrap();
        Arc::new(MemTable::try_new(batch.schema(), vec![vec![batch]]).unwrap())
    }

    /// A session with customers 1..=6 (an Int32 key, unlike the consent
    /// table's Int64), a table without the key, and the rule.
    fn session(records: &[Record], purpose: &str, public: &[&str]) -> SessionContext {
        let consents = table(vec![
            (
                "customer_id",
                Arc::new(Int64Array::from_iter_values(records.iter().map(|r| r.0))),
            ),
            (
                "purpose",
                Arc::new(StringArray::from_iter_values(records.iter().map(|r| r.1))),
            ),
            (
                "granted",
                Arc::new(BooleanArray::from(
                    records.iter().map(|r| r.2).collect::<Vec<_>>(),
                )),
            ),
            (
                "ts",
                Arc::new(TimestampMicrosecondArray::from(
                    records.iter().map(|r| r.3).collect::<Vec<_>>(),
                )),
            ),
        ]);
        let rule = ConsentRule::new(
            "customer_id",
            purpose,
            Ok(ConsentTable {
                name: "consents".into(),
                provider: consents,
            }),
            Some(public.iter().map(|t| t.to_string()).collect()),
        );
        let state = SessionStateBuilder::new()
            .with_default_features()
            .with_analyzer_rule(Arc::new(rule))
            .build();
        let ctx = SessionContext::new_with_state(state);
        let customers = table(vec![(
            "customer_id",
            Arc::new(Int32Array::from(vec![1, 2, 3, 4, 5, 6])),
        )]);
        ctx.register_table("customers", customers).unwrap();
        let products = table(vec![("sku", Arc::new(Int32Array::from(vec![7])))]);
        ctx.register_table("products", products).unwrap();
        ctx
    }

    async fn audience(records: &[Record], purpose: &str) -> Vec<i32> {
        let batches = session(records, purpose, &[])
            .sql("SELECT customer_id FROM customers ORDER BY 1")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        batches
            .iter()
            .flat_map(|b| {
                let ids = b.column(0).as_any().downcast_ref::<Int32Array>().unwrap();
                ids.values().to_vec()
            })
            .collect()
    }

    #[tokio::test]
    async fn the_latest_record_wins_and_ties_are_no_consent() {
        let records: &[Record] = &[
            (1, "email", Some(true), Some(10)),
            (2, "email", Some(true), Some(10)),
            (2, "email", Some(false), Some(20)), // withdrew later
            (3, "email", Some(false), Some(10)),
            (3, "email", Some(true), Some(20)), // granted later
            (4, "email", Some(true), Some(10)),
            (4, "email", Some(false), Some(10)), // tie: no consent
            (5, "email", Some(true), Some(10)),
            (5, "email", None, Some(30)), // NULL granted counts as a withdrawal
            (6, "sms", Some(true), Some(10)),
            (6, "email", Some(true), None), // no time: ignored
        ];
        assert_eq!(audience(records, "email").await, vec![1, 3]);
        assert_eq!(audience(records, "sms").await, vec![6]);
        assert_eq!(
            audience(records, "no_such_purpose").await,
            Vec::<i32>::new()
        );
    }

    #[tokio::test]
    async fn tables_without_the_key_must_be_public_and_a_missing_table_refuses_all() {
        let records: &[Record] = &[(1, "email", Some(true), Some(10))];
        let err = session(records, "email", &[])
            .sql("SELECT count(*) FROM products")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("products") && err.contains("public_tables"),
            "{err}"
        );
        let ctx = session(records, "email", &["products"]);
        let rows = ctx
            .sql("SELECT count(*) FROM products")
            .await
            .unwrap()
            .count()
            .await
            .unwrap();
        assert_eq!(rows, 1);
        let rule = ConsentRule::new("customer_id", "email", Err("no consent table".into()), None);
        let plan = ctx.sql("SELECT 1").await.unwrap().into_unoptimized_plan();
        let err = rule.analyze(plan, &ConfigOptions::new()).unwrap_err();
        assert!(err.to_string().contains("no consent table"), "{err}");
    }
}
