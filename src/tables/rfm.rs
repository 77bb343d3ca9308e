//! `rfm(table, customer_col, ts_col, amount_col [, as_of])`: one row per
//! customer with the RFM base (first and last purchase, recency, tenure,
//! frequency, monetary, average amount), the r/f/m quantile scores, the
//! code and the standard segment.
//!
//! Definitions (what the differential test against DuckDB checks):
//! - rows with a NULL customer are ignored; with `as_of`, so are rows whose
//!   ts is after it (a snapshot sees only its past);
//! - `as_of` defaults to one day after the latest ts of the table;
//! - `recency_days` = whole days (24 h, floored) from last_ts to as_of,
//!   `tenure_days` the same from first_ts; so the latest buyer has recency 1
//!   with the default as_of;
//! - `frequency` = rows, `monetary` = sum(amount), `avg_amount` = avg(amount);
//! - `r, f, m` = `rfm_score(recency_days, frequency, monetary)` over all
//!   customers (5 bins, ties share a score, recency reversed);
//! - `rfm_code` = `rfm_code(r, f, m)`, `segment` = `rfm_segment(r, f)`.

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl, TableProvider, view::ViewTable};
use datafusion::common::{Result, ScalarValue, plan_err};
use datafusion::functions::core::expr_fn::get_field;
use datafusion::functions_aggregate::count::count_all;
use datafusion::functions_aggregate::expr_fn::{avg, max, min, sum};
use datafusion::functions_aggregate::min_max::max_udaf;
use datafusion::logical_expr::expr::WindowFunction;
use datafusion::logical_expr::{
    Expr, ScalarUDF, WindowFunctionDefinition, WindowUDF, cast, col, ident, lit,
};
use microseg_udfs::score::{RfmCode, RfmScore, RfmSegment};

use super::args::{self, MICROS_PER_DAY};

/// The SQL name.
pub const NAME: &str = "rfm";
const USAGE: &str = "rfm(table, customer_col, ts_col, amount_col [, as_of])";

/// The `rfm` table function.
#[derive(Debug, Default)]
pub struct RfmFunction;

impl TableFunctionImpl for RfmFunction {
    fn call_with_args(&self, call: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let exprs = call.exprs();
        args::check_count(NAME, exprs, 4, 5, USAGE)?;
        let as_of = args::constant_arg(NAME, 4, "as_of", exprs)?;
        let args::Transactions {
            table,
            customer,
            ts,
            ts_type,
            amount,
            micros_type,
        } = args::transactions(NAME, call.session(), exprs)?;
        // Whole microseconds since the epoch: day arithmetic on integers is
        // exact and the same in every engine.
        let micros = |e: Expr| cast(cast(e, micros_type.clone()), DataType::Int64);

        let mut plan = table
            .scan()?
            .filter(ident(customer.as_str()).is_not_null())?;
        let as_of_micros = match &as_of {
            None => None,
            Some(value) => {
                let at_ts_type = args::temporal(NAME, 4, "as_of", value, &ts_type)?;
                let at_micros = match args::temporal(NAME, 4, "as_of", value, &micros_type)? {
                    ScalarValue::TimestampMicrosecond(Some(v), _) => v,
                    _ => return plan_err!("{NAME}: argument 5 (as_of) must not be NULL"),
                };
                plan = plan.filter(ident(ts.as_str()).lt_eq(lit(at_ts_type)))?;
                Some(at_micros)
            }
        };
        plan = plan.aggregate(
            vec![ident(customer.as_str())],
            vec![
                min(ident(ts.as_str())).alias("first_ts"),
                max(ident(ts.as_str())).alias("last_ts"),
                count_all().alias("frequency"),
                sum(ident(amount.as_str())).alias("monetary"),
                avg(ident(amount.as_str())).alias("avg_amount"),
            ],
        )?;
        let as_of_expr = match as_of_micros {
            Some(v) => lit(v),
            None => {
                let latest = Expr::from(WindowFunction::new(
                    WindowFunctionDefinition::AggregateUDF(max_udaf()),
                    vec![micros(col("last_ts"))],
                ));
                plan = args::windows(plan, vec![(latest, "__latest")])?;
                col("__latest") + lit(MICROS_PER_DAY)
            }
        };
        // Non-negative integer division floors, which is the definition.
        let days_since = |c: &str| {
            cast(
                (as_of_expr.clone() - micros(col(c))) / lit(MICROS_PER_DAY),
                DataType::Int64,
            )
        };
        plan = plan.project(vec![
            ident(customer.as_str()),
            col("first_ts"),
            col("last_ts"),
            days_since("last_ts").alias("recency_days"),
            days_since("first_ts").alias("tenure_days"),
            col("frequency"),
            col("monetary"),
            col("avg_amount"),
        ])?;
        let rfm_score = Arc::new(WindowUDF::new_from_impl(RfmScore::new()));
        let scores = Expr::from(WindowFunction::new(
            WindowFunctionDefinition::WindowUDF(rfm_score),
            vec![col("recency_days"), col("frequency"), col("monetary")],
        ));
        plan = args::windows(plan, vec![(scores, "__scores")])?;
        let score = |name: &str| get_field(col("__scores"), name);
        let rfm_code = ScalarUDF::new_from_impl(RfmCode::new());
        let rfm_segment = ScalarUDF::new_from_impl(RfmSegment::new());
        plan = plan.project(vec![
            ident(customer.as_str()),
            col("first_ts"),
            col("last_ts"),
            col("recency_days"),
            col("tenure_days"),
            col("frequency"),
            col("monetary"),
            col("avg_amount"),
            score("r").alias("r"),
            score("f").alias("f"),
            score("m").alias("m"),
            rfm_code
                .call(vec![score("r"), score("f"), score("m")])
                .alias("rfm_code"),
            rfm_segment
                .call(vec![score("r"), score("f")])
                .alias("segment"),
        ])?;
        let plan = args::analyzed(NAME, call.session(), plan.build()?)?;
        Ok(Arc::new(ViewTable::new(plan, None)))
    }
}
