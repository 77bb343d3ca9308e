//! A cluster client's analyzer rule: every uncorrelated scalar subquery
//! names its one output column `__microseg_sq_N`.
//!
//! Ballista turns DataFusion's physical uncorrelated scalar subqueries off
//! (`enable_physical_uncorrelated_scalar_subquery`), so the scheduler's
//! `scalar_subquery_to_join` rewrites them into left joins. When the
//! subquery's column has the same name as an unqualified column of the
//! outer input — `(SELECT max(ts) FROM t)` beside `max(ts)` of a
//! `GROUP BY` — the join's schema holds `__scalar_sq_1.max(t.ts)` and
//! `max(t.ts)` and the rewrite fails as ambiguous. A name of its own is
//! the same value under another label, so answers do not change.

use std::sync::Arc;

use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
use datafusion::common::{Column, Result};
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::{Expr, LogicalPlan, LogicalPlanBuilder, Subquery};
use datafusion::optimizer::AnalyzerRule;

/// See the module documentation.
#[derive(Debug, Default)]
pub struct NameScalarSubqueries;

const PREFIX: &str = "__microseg_sq_";

impl AnalyzerRule for NameScalarSubqueries {
    fn analyze(&self, plan: LogicalPlan, _: &ConfigOptions) -> Result<LogicalPlan> {
        let mut n = 0usize;
        plan.transform_up_with_subqueries(|node| {
            // An expression's name includes its subquery's column name:
            // keep the outer names as they were.
            let names = NamePreserver::new(&node);
            node.map_expressions(|expr| {
                let name = names.save(&expr);
                let named = expr.transform_up(|e| match e {
                    Expr::ScalarSubquery(sq) if needs_name(&sq) => {
                        n += 1;
                        let schema = sq.subquery.schema();
                        let column = Expr::Column(Column::from(schema.qualified_field(0)));
                        let named = LogicalPlanBuilder::from(sq.subquery.as_ref().clone())
                            .project(vec![column.alias(format!("{PREFIX}{n}"))])?
                            .build()?;
                        Ok(Transformed::yes(Expr::ScalarSubquery(Subquery {
                            subquery: Arc::new(named),
                            ..sq
                        })))
                    }
                    e => Ok(Transformed::no(e)),
                })?;
                Ok(named.update_data(|e| name.restore(e)))
            })
        })
        .data()
    }

    fn name(&self) -> &str {
        "microseg_name_scalar_subqueries"
    }
}

/// Uncorrelated, one column, not named by this rule yet.
fn needs_name(sq: &Subquery) -> bool {
    let schema = sq.subquery.schema();
    sq.outer_ref_columns.is_empty()
        && schema.fields().len() == 1
        && !schema.field(0).name().starts_with(PREFIX)
}
