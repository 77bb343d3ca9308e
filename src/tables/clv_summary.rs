//! `clv_summary(table, customer_col, ts_col, amount_col, as_of [, period])`:
//! one row per customer with the inputs of the buy-till-you-die models,
//! defined as lifetimes' `summary_data_from_transaction_data`:
//!
//! - each transaction is put in its period
//!   (`'day'`, the default: the calendar day; `'week'`: Monday–Sunday);
//!   a customer's transactions in one period count as one, their amounts
//!   summed; periods after as_of's are ignored (so all of as_of's day counts);
//! - `frequency` = periods with a purchase − 1 (repeat purchases);
//! - `recency` = last purchase period − first, `t` = as_of's period − first
//!   (in periods; named `t` so `SELECT frequency, recency, T` finds it);
//! - `monetary_value` = mean amount of the repeat periods (the first left
//!   out), 0 without repeats.

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl, TableProvider, view::ViewTable};
use datafusion::common::{Result, ScalarValue, plan_err};
use datafusion::functions::core::expr_fn::get_field;
use datafusion::logical_expr::{AggregateUDF, Expr, cast, col, ident, lit, when};
use microseg_udfs::model::clv_periods::ClvPeriods;

use super::args::{self, MICROS_PER_DAY};

/// The SQL name.
pub const NAME: &str = "clv_summary";
const USAGE: &str = "clv_summary(table, customer_col, ts_col, amount_col, as_of [, period])";

/// The `clv_summary` table function.
#[derive(Debug, Default)]
pub struct ClvSummaryFunction;

impl TableFunctionImpl for ClvSummaryFunction {
    fn call_with_args(&self, call: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let exprs = call.exprs();
        args::check_count(NAME, exprs, 5, 6, USAGE)?;
        let week = match args::constant_arg(NAME, 5, "period", exprs)? {
            None => false,
            Some(v) => match v.try_as_str().flatten() {
                Some("day") => false,
                Some("week") => true,
                _ => {
                    return plan_err!(
                        "{NAME}: argument 6 (period) must be 'day' or 'week', got {v}"
                    );
                }
            },
        };
        let args::Transactions {
            table,
            customer,
            ts,
            amount,
            micros_type,
            ..
        } = args::transactions(NAME, call.session(), exprs)?;
        let Some(as_of) = args::constant_arg(NAME, 4, "as_of", exprs)? else {
            return plan_err!("{NAME}: argument 5 (as_of) is missing: {USAGE}");
        };
        let as_of_micros = match as_of.cast_to(&micros_type) {
            Ok(ScalarValue::TimestampMicrosecond(Some(m), _)) => m,
            _ => {
                return plan_err!(
                    "{NAME}: argument 5 (as_of) must be a date or timestamp, got {as_of}"
                );
            }
        };
        // Day number since the epoch (calendar day of a naive timestamp);
        // weeks start on Monday (the epoch was a Thursday, hence + 3).
        let period_of_micros = |micros: Expr| {
            let day = floor_div(micros, MICROS_PER_DAY);
            if week {
                floor_div(day + lit(3i64), 7)
            } else {
                day
            }
        };
        let micros = cast(cast(ident(ts.as_str()), micros_type), DataType::Int64);
        let end_period = {
            let day = as_of_micros.div_euclid(MICROS_PER_DAY);
            if week { (day + 3).div_euclid(7) } else { day }
        };
        // As lifetimes: a transaction counts when its period is not after
        // as_of's, so the whole last day (or week) is in: its time is
        // before the first day of the next period. Compared on the raw
        // time, the scan tests it without computing periods first.
        let next_day = if week {
            (end_period + 1) * 7 - 3
        } else {
            end_period + 1
        };
        let in_time = match next_day.checked_mul(MICROS_PER_DAY) {
            Some(bound) => micros.clone().lt(lit(bound)),
            None => lit(true),
        };
        let plan = table
            .scan()?
            .filter(
                ident(customer.as_str())
                    .is_not_null()
                    .and(ident(ts.as_str()).is_not_null())
                    .and(in_time),
            )?
            .project(vec![
                ident(customer.as_str()),
                period_of_micros(micros).alias("period"),
                cast(ident(amount.as_str()), DataType::Float64).alias("amount"),
            ])?
            // One group per customer, its distinct periods counted inside
            // the aggregate: grouping by (customer, period) first made a
            // group of almost every order.
            .aggregate(
                vec![ident(customer.as_str())],
                vec![
                    AggregateUDF::new_from_impl(ClvPeriods::new())
                        .call(vec![col("period"), col("amount")])
                        .alias("p"),
                ],
            )?;
        let field = |name: &str| get_field(col("p"), name);
        let plan = plan.project(vec![
            ident(customer.as_str()),
            cast(field("periods") - lit(1i64), DataType::Float64).alias("frequency"),
            cast(field("last") - field("first"), DataType::Float64).alias("recency"),
            cast(lit(end_period) - field("first"), DataType::Float64).alias("t"),
            when(
                field("periods").gt(lit(1i64)),
                (field("total_amount") - field("first_amount"))
                    / cast(field("periods") - lit(1i64), DataType::Float64),
            )
            .otherwise(lit(0.0))?
            .alias("monetary_value"),
        ])?;
        let plan = args::analyzed(NAME, call.session(), plan.build()?)?;
        Ok(Arc::new(ViewTable::new(plan, None)))
    }
}

/// ⌊a / b⌋ for b > 0 (SQL `/` truncates toward zero).
fn floor_div(a: Expr, b: i64) -> Expr {
    let q = a.clone() / lit(b);
    when((a % lit(b)).lt(lit(0i64)), q.clone() - lit(1i64))
        .otherwise(q)
        .expect("a CASE with one branch and ELSE is valid")
}
