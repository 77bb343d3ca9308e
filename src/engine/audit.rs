//! What the audit log records of a plan, and the `audit_log` table.

use std::collections::BTreeSet;
use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::logical_expr::LogicalPlan;

use super::{Engine, Planned};
use crate::catalog::audit::{self, AuditRow};
use crate::error::Result;

/// The tables a plan scans and the declared personal columns (`table.column`,
/// from `personal`) it reads, both sorted. A personal column counts as read
/// when its table is scanned and any expression of the plan names a column
/// of that name: it may over-report when two scanned tables share a column
/// name, never under-report (views and table functions are inlined scans).
pub fn reads(planned: &Planned, personal: &[String]) -> (Vec<String>, Vec<String>) {
    let Planned::DataFusion(plan) = planned else {
        return (Vec::new(), Vec::new());
    };
    let mut tables = BTreeSet::new();
    let mut columns = BTreeSet::new();
    let _ = plan.apply_with_subqueries(|node: &LogicalPlan| {
        if let LogicalPlan::TableScan(scan) = node {
            tables.insert(scan.table_name.to_string());
        }
        let _ = node.apply_expressions(|expr| {
            for column in expr.column_refs() {
                columns.insert(column.name.clone());
            }
            Ok(TreeNodeRecursion::Continue)
        });
        Ok(TreeNodeRecursion::Continue)
    });
    let personal = personal
        .iter()
        .filter(|declared| {
            declared
                .rsplit_once('.')
                .is_some_and(|(table, column)| tables.contains(table) && columns.contains(column))
        })
        .cloned()
        .collect();
    (tables.into_iter().collect(), personal)
}

impl Engine {
    /// The tables and declared personal columns `planned` reads (see [`reads`]).
    pub fn reads(&self, planned: &Planned) -> (Vec<String>, Vec<String>) {
        reads(planned, &self.personal_columns)
    }

    /// Appends one row to the lake's audit log; returns once it is stored.
    pub async fn append_audit(&self, row: AuditRow) -> Result<()> {
        self.catalog.append_audit(std::slice::from_ref(&row)).await
    }

    /// Registers `audit_log` over `_microseg/audit/`, read afresh by every
    /// scan (new files are listed each time), unless the lake has a table
    /// of that name.
    pub(super) fn register_audit_log(&self) -> Result<()> {
        if self.lake.table(audit::TABLE).is_some() {
            return Ok(());
        }
        let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
            .with_file_extension(".parquet")
            .with_table_partition_cols(vec![("date".to_string(), DataType::Utf8)]);
        let config = ListingTableConfig::new(ListingTableUrl::parse(self.catalog.audit_url())?)
            .with_listing_options(options)
            .with_schema(audit::schema());
        self.ctx
            .register_table(audit::TABLE, Arc::new(ListingTable::try_new(config)?))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::prelude::SessionContext;

    #[tokio::test]
    async fn scans_and_personal_columns_of_a_plan() {
        let ctx = SessionContext::new();
        ctx.sql("CREATE TABLE customers (customer_id BIGINT, email TEXT, phone TEXT, city TEXT)")
            .await
            .unwrap();
        ctx.sql("CREATE TABLE orders (customer_id BIGINT, amount DOUBLE)")
            .await
            .unwrap();
        ctx.sql("CREATE VIEW contacts AS SELECT customer_id, email FROM customers")
            .await
            .unwrap();
        let personal: Vec<String> = ["customers.email", "customers.phone", "tickets.text"]
            .map(String::from)
            .to_vec();
        let plan = |sql: &'static str| {
            let ctx = ctx.clone();
            async move { Planned::DataFusion(ctx.state().create_logical_plan(sql).await.unwrap()) }
        };
        let got = reads(&plan("SELECT count(*) FROM orders").await, &personal);
        assert_eq!(got, (vec!["orders".to_string()], vec![]));
        let got = reads(
            &plan("SELECT o.amount FROM orders o JOIN contacts c USING (customer_id) WHERE c.email LIKE '%@x'").await,
            &personal,
        );
        assert_eq!(
            got,
            (
                vec!["customers".to_string(), "orders".to_string()],
                vec!["customers.email".to_string()]
            )
        );
        let got = reads(&plan("SELECT * FROM customers").await, &personal);
        assert_eq!(got.1, vec!["customers.email", "customers.phone"]);
        let got = reads(
            &plan(
                "SELECT city FROM customers WHERE customer_id IN (SELECT customer_id FROM orders)",
            )
            .await,
            &personal,
        );
        assert_eq!(
            got,
            (vec!["customers".to_string(), "orders".to_string()], vec![])
        );
    }
}
