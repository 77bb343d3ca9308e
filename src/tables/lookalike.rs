//! `lookalike(model, seeds, candidates, n)`: the n candidates nearest to
//! the seed audience in a k-means model's encoded (standardized, one-hot)
//! feature space, with their distance.
//!
//! `seeds` and `candidates` name tables or views. The seeds' columns are
//! the model's features; the candidates' first column identifies a
//! candidate, the others are the features. "Nearest to the audience" is the
//! distance to the audience's mean point: the plan is
//!
//! ```text
//! SELECT c.*, model_distance(model, s.point, c.f1, …, c.fk) AS distance
//! FROM (SELECT model_mean(model, f1, …, fk) AS point FROM seeds) s
//!      CROSS JOIN candidates c
//! ORDER BY distance, c.id LIMIT n
//! ```
//!
//! one lazy plan: the mean is an aggregate (one row), the candidates
//! stream past it into a top-n sort, ties broken by the identifier. The
//! model and `n` may be parameters (`$1`); the engine's analyzer binds the
//! model functions when the plan runs.

use std::sync::Arc;

use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl, TableProvider, view::ViewTable};
use datafusion::common::{Column, Result, ScalarValue, plan_err};
use datafusion::logical_expr::{AggregateUDF, Expr, ScalarUDF, col};
use microseg_udfs::model::{ClusterAssign, ModelMean};

use super::args;

/// The SQL name.
pub const NAME: &str = "lookalike";
const USAGE: &str = "lookalike(model, seeds, candidates, n)";
/// The seed point's column, between the aggregate and the distance.
const POINT: &str = "__lookalike_point";

/// The `lookalike` table function.
#[derive(Debug, Default)]
pub struct LookalikeFunction;

impl TableFunctionImpl for LookalikeFunction {
    fn call_with_args(&self, call: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let exprs = call.exprs();
        args::check_count(NAME, exprs, 4, 4, USAGE)?;
        let model = args::model_arg(NAME, 0, exprs)?;
        let seeds_name = args::name_arg(NAME, 1, "seeds", exprs)?;
        let candidates_name = args::name_arg(NAME, 2, "candidates", exprs)?;
        let n = limit(exprs)?;
        let seeds = args::table_at(NAME, call.session(), 1, "seeds", &seeds_name)?;
        let candidates = args::table_at(NAME, call.session(), 2, "candidates", &candidates_name)?;

        // Aliased: seeds and candidates may be the same table.
        let seed_plan = seeds.scan()?.alias("__seeds")?;
        let features: Vec<Expr> = seed_plan
            .schema()
            .columns()
            .into_iter()
            .map(Expr::Column)
            .collect();
        let candidate_plan = candidates.scan()?;
        let columns: Vec<Column> = candidate_plan.schema().columns();
        if columns.len() < 2 {
            return plan_err!(
                "{NAME}: argument 3 (candidates): {candidates_name} has {} column(s); it needs an identifier column, then the model's features",
                columns.len()
            );
        }
        if features.len() != columns.len() - 1 {
            return plan_err!(
                "{NAME}: argument 2 (seeds) {seeds_name} has {} columns, but argument 3 (candidates) {candidates_name} has {} after its identifier column {}: both list the model's features",
                features.len(),
                columns.len() - 1,
                columns[0].name
            );
        }
        if let Some(c) = columns.iter().find(|c| c.name == "distance") {
            return plan_err!(
                "{NAME}: argument 3 (candidates): {candidates_name} has a column {}, the name of the distance lookalike adds",
                c.name
            );
        }

        let mean = AggregateUDF::new_from_impl(ModelMean::new());
        let point = seed_plan
            .aggregate(
                Vec::<Expr>::new(),
                vec![
                    mean.call(std::iter::once(model.clone()).chain(features).collect())
                        .alias(POINT),
                ],
            )?
            .build()?;
        let to_point = ScalarUDF::new_from_impl(ClusterAssign::to_point());
        let mut distance_args = vec![model, col(POINT)];
        distance_args.extend(columns[1..].iter().cloned().map(Expr::Column));
        let mut outputs: Vec<Expr> = columns.iter().cloned().map(Expr::Column).collect();
        outputs.push(to_point.call(distance_args).alias("distance"));
        // The one-row point on the left: the cross join keeps its left
        // side in memory and streams the right.
        let plan = datafusion::logical_expr::LogicalPlanBuilder::from(point)
            .cross_join(candidate_plan.build()?)?
            .project(outputs)?
            .sort(vec![
                col("distance").sort(true, false),
                Expr::Column(columns[0].clone()).sort(true, false),
            ])?
            .limit_by_expr(None, Some(n))?
            .build()?;
        // Not analyzed here: the engine's analyzer binds the model (as it
        // is when the plan runs), once parameters are bound.
        Ok(Arc::new(ViewTable::new(plan, None)))
    }
}

/// Argument 4: a whole number ≥ 1, or a parameter (LIMIT checks its value).
fn limit(exprs: &[datafusion::logical_expr::Expr]) -> Result<Expr> {
    match exprs.get(3) {
        Some(e @ Expr::Placeholder(_)) => return Ok(e.clone()),
        Some(e @ Expr::Cast(cast)) if matches!(cast.expr.as_ref(), Expr::Placeholder(_)) => {
            return Ok(e.clone());
        }
        _ => {}
    }
    let value = args::constant_arg(NAME, 3, "n", exprs)?;
    let n = match &value {
        Some(v) if v.data_type().is_integer() => v
            .cast_to(&datafusion::arrow::datatypes::DataType::Int64)
            .ok(),
        _ => None,
    };
    match n {
        Some(ScalarValue::Int64(Some(n))) if n >= 1 => {
            Ok(Expr::Literal(ScalarValue::Int64(Some(n)), None))
        }
        _ => plan_err!(
            "{NAME}: argument 4 (n) must be a whole number ≥ 1 or a parameter, got {}",
            value.map_or("nothing".to_string(), |v| v.to_string())
        ),
    }
}
