//! `model_evaluate(model, relation)`: how well a k-means model fits the
//! rows of a table or view (its columns are the model's features, in
//! training order). One row: rows, mean_squared_distance, davies_bouldin,
//! silhouette (on a hash-chosen sample of at most 2,000 rows, since it is
//! quadratic) and silhouette_sample.
//!
//! The plan is one streaming aggregate, `model_quality(model, f1, …, fk)`,
//! unpacked into columns; the model may be a parameter (`$1`), bound by the
//! engine's analyzer when the plan runs.

use std::sync::Arc;

use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl, TableProvider, view::ViewTable};
use datafusion::common::{Result, plan_err};
use datafusion::functions::core::expr_fn::get_field;
use datafusion::logical_expr::{AggregateUDF, Expr, col};
use microseg_udfs::model::ModelQuality;
use microseg_udfs::model::quality::result_fields;

use super::args;

/// The SQL name.
pub const NAME: &str = "model_evaluate";
const USAGE: &str = "model_evaluate(model, relation)";
const QUALITY: &str = "__model_quality";

/// The `model_evaluate` table function.
#[derive(Debug, Default)]
pub struct ModelEvaluateFunction;

impl TableFunctionImpl for ModelEvaluateFunction {
    fn call_with_args(&self, call: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let exprs = call.exprs();
        args::check_count(NAME, exprs, 2, 2, USAGE)?;
        let model = args::model_arg(NAME, 0, exprs)?;
        let name = args::name_arg(NAME, 1, "relation", exprs)?;
        let relation = args::table_at(NAME, call.session(), 1, "relation", &name)?;
        let scan = relation.scan()?;
        let features: Vec<Expr> = scan
            .schema()
            .columns()
            .into_iter()
            .map(Expr::Column)
            .collect();
        if features.is_empty() {
            return plan_err!("{NAME}: argument 2 (relation): {name} has no columns");
        }
        let quality = AggregateUDF::new_from_impl(ModelQuality::new());
        let call_args = std::iter::once(model).chain(features).collect();
        let plan = scan
            .aggregate(
                Vec::<Expr>::new(),
                vec![quality.call(call_args).alias(QUALITY)],
            )?
            .project(
                result_fields()
                    .iter()
                    .map(|f| get_field(col(QUALITY), f.name().as_str()).alias(f.name())),
            )?
            .build()?;
        Ok(Arc::new(ViewTable::new(plan, None)))
    }
}
