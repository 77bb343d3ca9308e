//! `churn_labels(table, customer_col, ts_col, amount_col, cutoff, horizon)`:
//! point-in-time training rows for a churn model, without leakage.
//!
//! One row per customer with at least one row strictly before `cutoff`:
//! - features from the rows with ts < cutoff only: `recency_days` and
//!   `tenure_days` (whole 24 h days, floored, from the last and first ts
//!   to the cutoff), `frequency` (rows), `monetary` (sum of amount),
//!   `avg_amount`;
//! - `churned` = no row with cutoff ≤ ts < cutoff + horizon.
//!
//! Nothing at or after the cutoff reaches a feature, so a model trained at
//! one cutoff and scored at a later one sees what it would have seen then.
//! The horizon must end before the data does, or recent buyers look
//! churned. `horizon` is an INTERVAL of days/hours (months are refused:
//! their length varies) or a number of days.

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl, TableProvider, view::ViewTable};
use datafusion::common::{Column, JoinType, Result, ScalarValue, plan_err};
use datafusion::functions_aggregate::count::count_all;
use datafusion::functions_aggregate::expr_fn::{avg, max, min, sum};
use datafusion::logical_expr::{Expr, cast, col, ident, lit};

use super::args::{self, MICROS_PER_DAY};

/// The SQL name.
pub const NAME: &str = "churn_labels";
const USAGE: &str = "churn_labels(table, customer_col, ts_col, amount_col, cutoff, horizon)";
const FUTURE: &str = "__future_customer";

/// The `churn_labels` table function.
#[derive(Debug, Default)]
pub struct ChurnLabelsFunction;

/// The cutoff as microseconds since the epoch (naive).
fn micros_of(value: &ScalarValue, micros_type: &DataType) -> Result<i64> {
    match args::temporal(NAME, 4, "cutoff", value, micros_type)? {
        ScalarValue::TimestampMicrosecond(Some(v), _) => Ok(v),
        _ => plan_err!("{NAME}: argument 5 (cutoff) must not be NULL"),
    }
}

/// The horizon in microseconds.
fn horizon_micros(value: &ScalarValue) -> Result<i64> {
    let micros = match value {
        ScalarValue::IntervalMonthDayNano(Some(v)) if v.months == 0 => {
            i64::from(v.days) * MICROS_PER_DAY + v.nanoseconds / 1000
        }
        ScalarValue::IntervalDayTime(Some(v)) => {
            i64::from(v.days) * MICROS_PER_DAY + i64::from(v.milliseconds) * 1000
        }
        ScalarValue::IntervalMonthDayNano(Some(_)) | ScalarValue::IntervalYearMonth(Some(_)) => {
            return plan_err!(
                "{NAME}: argument 6 (horizon) is in months, whose length varies: give days (INTERVAL '90 days')"
            );
        }
        v if v.data_type().is_numeric() && !v.is_null() => match v.cast_to(&DataType::Float64) {
            Ok(ScalarValue::Float64(Some(days))) if days.is_finite() => {
                (days * MICROS_PER_DAY as f64).round() as i64
            }
            _ => return plan_err!("{NAME}: argument 6 (horizon) is not a number of days: {v}"),
        },
        other => {
            return plan_err!(
                "{NAME}: argument 6 (horizon) must be an INTERVAL or a number of days, got {other}"
            );
        }
    };
    if micros <= 0 {
        return plan_err!("{NAME}: argument 6 (horizon) must be positive, got {value}");
    }
    Ok(micros)
}

impl TableFunctionImpl for ChurnLabelsFunction {
    fn call_with_args(&self, call: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let exprs = call.exprs();
        args::check_count(NAME, exprs, 6, 6, USAGE)?;
        let Some(cutoff) = args::constant_arg(NAME, 4, "cutoff", exprs)? else {
            return plan_err!("{NAME}: argument 5 (cutoff) is missing");
        };
        let Some(horizon) = args::constant_arg(NAME, 5, "horizon", exprs)? else {
            return plan_err!("{NAME}: argument 6 (horizon) is missing");
        };
        let args::Transactions {
            table,
            customer,
            ts,
            ts_type,
            amount,
            micros_type,
        } = args::transactions(NAME, call.session(), exprs)?;
        let start = micros_of(&cutoff, &micros_type)?;
        let end = start + horizon_micros(&horizon)?;
        // Bounds in the ts column's own type, so the filters reach the scan.
        let bound = |v: i64| -> Result<Expr> {
            let at = ScalarValue::TimestampMicrosecond(
                Some(v),
                match &micros_type {
                    DataType::Timestamp(_, tz) => tz.clone(),
                    _ => None,
                },
            );
            Ok(lit(at.cast_to(&ts_type)?))
        };
        let micros = |e: Expr| cast(cast(e, micros_type.clone()), DataType::Int64);
        let known = ident(customer.as_str()).is_not_null();
        let past = table
            .scan()?
            .filter(known.clone().and(ident(ts.as_str()).lt(bound(start)?)))?
            .aggregate(
                vec![ident(customer.as_str())],
                vec![
                    min(ident(ts.as_str())).alias("__first"),
                    max(ident(ts.as_str())).alias("__last"),
                    count_all().alias("frequency"),
                    sum(ident(amount.as_str())).alias("monetary"),
                    avg(ident(amount.as_str())).alias("avg_amount"),
                ],
            )?;
        let future = table
            .scan()?
            .filter(
                known
                    .and(ident(ts.as_str()).gt_eq(bound(start)?))
                    .and(ident(ts.as_str()).lt(bound(end)?)),
            )?
            .aggregate(
                vec![ident(customer.as_str()).alias(FUTURE)],
                Vec::<Expr>::new(),
            )?
            .build()?;
        let days_since = |c: &str| {
            cast(
                (lit(start) - micros(col(c))) / lit(MICROS_PER_DAY),
                DataType::Int64,
            )
        };
        let plan = past
            .join(
                future,
                JoinType::Left,
                (
                    vec![Column::new_unqualified(customer.as_str())],
                    vec![Column::new_unqualified(FUTURE)],
                ),
                None,
            )?
            .project(vec![
                ident(customer.as_str()),
                days_since("__last").alias("recency_days"),
                days_since("__first").alias("tenure_days"),
                col("frequency"),
                col("monetary"),
                col("avg_amount"),
                col(FUTURE).is_null().alias("churned"),
            ])?
            .build()?;
        let plan = args::analyzed(NAME, call.session(), plan)?;
        Ok(Arc::new(ViewTable::new(plan, None)))
    }
}
