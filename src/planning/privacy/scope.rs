//! What the expressions of one plan node may do with the entity key and
//! personal columns: the reader rule's checks on expressions (see `mod.rs`),
//! apart from the walk over the plan (`provenance.rs`).

use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::common::{Column, DFSchema};
use datafusion::error::Result;
use datafusion::logical_expr::Expr;
use datafusion::logical_expr::expr::{AggregateFunction, WindowFunction};

use super::refused;

/// Aggregate and window functions that return no person's value even over
/// a sensitive column.
pub(super) const COUNTING: &[&str] = &["count", "approx_distinct"];

/// What the expressions of a node may refer to: its input columns (the
/// concatenation of its inputs') with their flags.
pub(super) struct Scope<'a> {
    pub(super) schema: &'a DFSchema,
    pub(super) sensitive: &'a [bool],
    /// Columns whose values are constants to an attacker (a Public or
    /// Grouped join side: a one-row table of the victim's id).
    pub(super) constant: &'a [bool],
}

impl Scope<'_> {
    pub(super) fn index(&self, column: &Column) -> Option<usize> {
        self.schema.maybe_index_of_column(column)
    }

    /// Whether `expr` reads a sensitive column. A column that cannot be
    /// resolved here counts as sensitive (fail closed).
    pub(super) fn reads_sensitive(&self, expr: &Expr) -> bool {
        let mut found = false;
        let _ = expr.apply(|e| {
            if let Expr::Column(c) = e
                && self.index(c).is_none_or(|i| self.sensitive[i])
            {
                found = true;
                return Ok(TreeNodeRecursion::Stop);
            }
            Ok(TreeNodeRecursion::Continue)
        });
        found
    }

    /// Whether `expr` has the same value on every row: no column but
    /// constant ones, no outer reference.
    pub(super) fn is_constant(&self, expr: &Expr) -> bool {
        let mut constant = true;
        let _ = expr.apply(|e| {
            let varies = match e {
                Expr::Column(c) => self.index(c).is_none_or(|i| !self.constant[i]),
                Expr::OuterReferenceColumn(..) => true,
                // A subquery's value (checked as a plan) is one value.
                Expr::ScalarSubquery(_) => return Ok(TreeNodeRecursion::Jump),
                _ => false,
            };
            if varies {
                constant = false;
                return Ok(TreeNodeRecursion::Stop);
            }
            Ok(TreeNodeRecursion::Continue)
        });
        constant
    }

    /// Refuses the oracles: a sensitive column next to a constant anywhere
    /// in `expr`, and non-counting aggregates over sensitive columns.
    pub(super) fn check(&self, expr: &Expr) -> Result<()> {
        let mut verdict = Ok(());
        let _ = expr.apply(|e| {
            let result = self.check_node(e);
            if result.is_err() {
                verdict = result;
                return Ok(TreeNodeRecursion::Stop);
            }
            Ok(TreeNodeRecursion::Continue)
        });
        verdict
    }

    pub(super) fn check_node(&self, e: &Expr) -> Result<()> {
        match e {
            Expr::AggregateFunction(AggregateFunction { func, params }) => {
                self.counting_only(func.name(), &params.args)?
            }
            Expr::WindowFunction(window) => {
                let WindowFunction { fun, params } = window.as_ref();
                self.counting_only(fun.name(), &params.args)?
            }
            // The WHEN conditions are checked as expressions of their own;
            // only `CASE x WHEN 'value'` compares here.
            Expr::Case(case) => {
                if let Some(base) = &case.expr
                    && self.reads_sensitive(base)
                    && case.when_then_expr.iter().any(|(w, _)| self.is_constant(w))
                {
                    return Err(compared());
                }
                return Ok(());
            }
            _ => {}
        }
        // Every operand of one expression: one reading a sensitive column
        // and another constant is a test of a person's value.
        let mut reads = false;
        let mut constant = false;
        let _ = e.apply_children(|child| {
            reads |= self.reads_sensitive(child);
            constant |= self.is_constant(child);
            Ok(TreeNodeRecursion::Continue)
        });
        // Judged with its subquery's provenance in `Tracker::subqueries`.
        if matches!(e, Expr::InSubquery(_)) {
            return Ok(());
        }
        if reads && constant && !matches!(e, Expr::Alias(_)) {
            return Err(compared());
        }
        Ok(())
    }

    pub(super) fn counting_only(&self, name: &str, args: &[Expr]) -> Result<()> {
        if !COUNTING.contains(&name) && args.iter().any(|a| self.reads_sensitive(a)) {
            return Err(refused(
                "no personal values",
                &format!(
                    "apply {name} to the entity key or a personal column (only count and approx_distinct may read them)"
                ),
            ));
        }
        Ok(())
    }
}

pub(super) fn compared() -> datafusion::error::DataFusionError {
    refused(
        "no comparisons with values",
        "compare the entity key or a personal column with a literal, parameter or constant",
    )
}

pub(super) fn has_subquery(e: &Expr) -> bool {
    e.exists(|x| {
        Ok(matches!(
            x,
            Expr::ScalarSubquery(_) | Expr::InSubquery(_) | Expr::Exists(_)
        ))
    })
    .unwrap_or(true)
}

/// Whether an aggregate expression only counts (so reveals no value).
pub(super) fn counts_only(e: &Expr) -> bool {
    let mut inner = e;
    while let Expr::Alias(alias) = inner {
        inner = &alias.expr;
    }
    matches!(inner, Expr::AggregateFunction(f) if COUNTING.contains(&f.func.name()))
}

/// Whether `e` passes input column `key` through unchanged (perhaps renamed).
pub(super) fn passes_column(e: &Expr, scope: &Scope, key: usize) -> bool {
    let mut inner = e;
    while let Expr::Alias(alias) = inner {
        inner = &alias.expr;
    }
    matches!(inner, Expr::Column(c) if scope.index(c) == Some(key))
}
