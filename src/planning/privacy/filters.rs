//! Rule 6, filters count as groups: every filter over customer rows must
//! keep zero or at least `min_group_size` customers and remove zero or at
//! least that many. A *kept* customer has a row that passes, a *removed*
//! one a row that does not (a customer can be both), counted on the entity
//! key when the query runs.
//!
//! Three kinds of filter are counted:
//!
//! - `WHERE` (and `HAVING` over per-customer groups, which is a filter over
//!   customer rows): one aggregate over the input with two filtered
//!   `count(DISTINCT key)`s;
//! - a filter whose predicate holds subqueries (`IN (SELECT …)`, `EXISTS`,
//!   `NOT IN`, `NOT EXISTS`, which the optimizer turns into semi and anti
//!   joins): the kept customers counted under the predicate, the removed
//!   under `predicate IS NOT TRUE`, each its own filter so the subqueries
//!   are decorrelated as in the query itself;
//! - a join that drops rows of a customer-level side (both sides of an
//!   inner join, the inner side of an outer join, the filtered side of a
//!   semi or anti join): kept customers are that side's rows with a match
//!   (a semi join on the same condition), removed ones those without (the
//!   anti join).
//!
//! The counts are the build side of a cross join with what they guard, so
//! they are complete, and judged, before the first row is released; a
//! count between 1 and the minimum fails the query (naming the rule, never
//! a count: a count is a value). `HAVING` over groups of at least the
//! minimum needs no count: a dropped group is at least the minimum.

use std::sync::Arc;

use datafusion::common::Column;
use datafusion::error::Result;
use datafusion::functions_aggregate::expr_fn::count;
use datafusion::logical_expr::{
    Expr, ExprFunctionExt, Filter, Join, JoinType, LogicalPlan, LogicalPlanBuilder, ScalarUDF, col,
};

use super::small_groups::RequireFilter;

/// The hidden counts of people a filter keeps and removes.
const KEPT: &str = "__microseg_kept";
const REMOVED: &str = "__microseg_removed";

/// `count(DISTINCT key)` of `plan`'s column `key`, optionally only of rows
/// where `only` is true, named `name`.
fn distinct_keys(plan: &LogicalPlan, key: usize, only: Option<Expr>, name: &str) -> Result<Expr> {
    let key_column = Expr::Column(Column::from(plan.schema().qualified_field(key)));
    // The builder rebuilds the call: DISTINCT must be asked of it.
    let counted = count(key_column).distinct();
    Ok(match only {
        Some(only) => counted.filter(only).build()?,
        None => counted.build()?,
    }
    .alias(name))
}

/// `guarded`, released only after `counts` (one row: KEPT, REMOVED) passed
/// the check; `guarded`'s own columns.
fn guard(min: u64, counts: LogicalPlanBuilder, guarded: LogicalPlan) -> Result<LogicalPlan> {
    let check =
        ScalarUDF::new_from_impl(RequireFilter::new(min)).call(vec![col(KEPT), col(REMOVED)]);
    let columns: Vec<Expr> = guarded
        .schema()
        .columns()
        .into_iter()
        .map(Expr::Column)
        .collect();
    counts
        .filter(check)?
        .cross_join(guarded)?
        .project(columns)
        .and_then(LogicalPlanBuilder::build)
}

/// A `WHERE` over customer rows whose key is input column `key`.
pub(super) fn filter(
    min: u64,
    filter: Filter,
    key: usize,
    has_subquery: bool,
) -> Result<LogicalPlan> {
    let Filter {
        predicate, input, ..
    } = filter;
    let input_plan = Arc::unwrap_or_clone(Arc::clone(&input));
    let counts = if has_subquery {
        // Subqueries cannot sit in an aggregate's FILTER: count each side
        // under its own filter node, which the optimizer decorrelates.
        let side = |p: Expr, name: &str| -> Result<LogicalPlan> {
            let rows = LogicalPlanBuilder::from(input_plan.clone())
                .filter(p)?
                .build()?;
            let n = distinct_keys(&rows, key, None, name)?;
            LogicalPlanBuilder::from(rows)
                .aggregate(Vec::<Expr>::new(), vec![n])?
                .build()
        };
        let kept = side(predicate.clone(), KEPT)?;
        let removed = side(predicate.clone().is_not_true(), REMOVED)?;
        LogicalPlanBuilder::from(kept).cross_join(removed)?
    } else {
        let kept = distinct_keys(&input_plan, key, Some(predicate.clone().is_true()), KEPT)?;
        let removed = distinct_keys(
            &input_plan,
            key,
            Some(predicate.clone().is_not_true()),
            REMOVED,
        )?;
        LogicalPlanBuilder::from(input_plan).aggregate(Vec::<Expr>::new(), vec![kept, removed])?
    };
    let filtered = LogicalPlan::Filter(Filter::try_new(predicate, input)?);
    guard(min, counts, filtered)
}

/// The sides of `join_type` whose rows it may drop: (left, right).
fn dropping_sides(join_type: JoinType) -> (bool, bool) {
    match join_type {
        JoinType::Inner => (true, true),
        JoinType::Left | JoinType::RightSemi | JoinType::RightAnti => (false, true),
        JoinType::Right | JoinType::LeftSemi | JoinType::LeftAnti => (true, false),
        JoinType::Full | JoinType::LeftMark | JoinType::RightMark => (false, false),
    }
}

/// `join`, guarded by the counts of each customer-level side it filters:
/// `left_key` and `right_key` are the sides' key columns when they are
/// customer level.
pub(super) fn join(
    min: u64,
    join: Join,
    left_key: Option<usize>,
    right_key: Option<usize>,
) -> Result<LogicalPlan> {
    let (drops_left, drops_right) = dropping_sides(join.join_type);
    let sides = [
        (drops_left, left_key, JoinType::LeftSemi, JoinType::LeftAnti),
        (
            drops_right,
            right_key,
            JoinType::RightSemi,
            JoinType::RightAnti,
        ),
    ];
    let mut checks = Vec::new();
    for (drops, key, semi, anti) in sides {
        let (true, Some(key)) = (drops, key) else {
            continue;
        };
        let count_of = |join_type: JoinType, name: &str| -> Result<LogicalPlan> {
            let rows = LogicalPlan::Join(Join::try_new(
                Arc::clone(&join.left),
                Arc::clone(&join.right),
                join.on.clone(),
                join.filter.clone(),
                join_type,
                join.join_constraint,
                join.null_equality,
                false,
            )?);
            let n = distinct_keys(&rows, key, None, name)?;
            LogicalPlanBuilder::from(rows)
                .aggregate(Vec::<Expr>::new(), vec![n])?
                .build()
        };
        checks.push(
            LogicalPlanBuilder::from(count_of(semi, KEPT)?).cross_join(count_of(anti, REMOVED)?)?,
        );
    }
    let mut plan = LogicalPlan::Join(join);
    for counts in checks {
        plan = guard(min, counts, plan)?;
    }
    Ok(plan)
}
