//! Affinities: which items a customer over-indexes on, relative to everyone.
//!
//! `affinity(table, customer_col, item_col, weight_col)` gives one row per
//! (customer, item) the customer has weight on:
//! - `weight` = sum of the weight over the customer's rows of that item;
//! - `share` = weight ÷ the customer's total weight;
//! - `lift` = share ÷ (the item's total weight ÷ everyone's total weight),
//!   so 1 means "as everyone", 3 means three times the base rate;
//! - `rank` = the item's rank within the customer by share, highest first
//!   (ties share a rank).
//!
//! `top_affinity(table, customer_col, item_col, weight_col [, min_share [, min_rows [, min_customers]]])`
//! keeps per customer the single item with the highest lift among the
//! items that hold at least `min_share` (default 0.2) of the customer's
//! weight, appear in at least `min_rows` (default 2) of the customer's rows
//! and are bought by at least `min_customers` (default 10) customers
//! overall; ties on lift go to the larger share, then the smaller item.
//! The support floors keep one-off purchases and rare items (whose lift is
//! huge by construction) from defining a customer.
//!
//! Rows with a NULL customer or item, and NULL or non-positive weights,
//! are ignored. `weight_col` is a numeric column; for an expression such
//! as `quantity * unit_price`, a view computes it first.

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl, TableProvider, view::ViewTable};
use datafusion::common::{Result, ScalarValue, plan_datafusion_err, plan_err};
use datafusion::functions_aggregate::count::{count_all, count_udaf};
use datafusion::functions_aggregate::expr_fn::sum;
use datafusion::functions_aggregate::sum::sum_udaf;
use datafusion::functions_window::rank::rank_udwf;
use datafusion::functions_window::row_number::row_number_udwf;
use datafusion::logical_expr::expr::{Sort, WindowFunction, WindowFunctionParams};
use datafusion::logical_expr::{
    Expr, LogicalPlanBuilder, WindowFunctionDefinition, cast, col, ident, lit,
};

use super::args::{self, NamedTable, windows};

/// The SQL name of the per-item function.
pub const AFFINITY: &str = "affinity";
/// The SQL name of the one-item-per-customer function.
pub const TOP_AFFINITY: &str = "top_affinity";

const DEFAULT_MIN_SHARE: f64 = 0.2;
const DEFAULT_MIN_ROWS: i64 = 2;
const DEFAULT_MIN_CUSTOMERS: i64 = 10;

/// The `affinity` table function.
#[derive(Debug, Default)]
pub struct AffinityFunction;

/// The `top_affinity` table function.
#[derive(Debug, Default)]
pub struct TopAffinityFunction;

struct Inputs {
    table: NamedTable,
    customer: String,
    item: String,
    weight: Expr,
}

fn inputs(func: &str, call: &TableFunctionArgs, max_args: usize, usage: &str) -> Result<Inputs> {
    let exprs = call.exprs();
    args::check_count(func, exprs, 4, max_args, usage)?;
    let table_name = args::name_arg(func, 0, "table", exprs)?;
    let customer = args::name_arg(func, 1, "customer_col", exprs)?;
    let item = args::name_arg(func, 2, "item_col", exprs)?;
    let table = args::table(func, call.session(), &table_name)?;
    table.column(func, 1, "customer_col", &customer)?;
    table.column(func, 2, "item_col", &item)?;
    // Arguments are planned before the table is known, so an expression
    // over its columns cannot be resolved here: a view computes it instead.
    let weight = args::name_arg(func, 3, "weight_col", exprs).map_err(|_| {
        plan_datafusion_err!(
            "{func}: argument 4 (weight_col) must be a column name; for an expression such as quantity * unit_price, \
             create a view with it as a column first"
        )
    })?;
    let weight_type = table.column(func, 3, "weight_col", &weight)?;
    if !(weight_type.is_numeric() || weight_type.is_null()) {
        return plan_err!(
            "{func}: argument 4 (weight_col): column {weight:?} is {weight_type}, not numeric"
        );
    }
    let weight = ident(weight.as_str());
    Ok(Inputs {
        table,
        customer,
        item,
        weight,
    })
}

fn window(
    fun: WindowFunctionDefinition,
    args: Vec<Expr>,
    partition: Vec<Expr>,
    order: Vec<Sort>,
) -> Expr {
    Expr::from(WindowFunction {
        fun,
        params: WindowFunctionParams {
            args,
            partition_by: partition,
            order_by: order,
            window_frame: datafusion::logical_expr::WindowFrame::new(None),
            filter: None,
            null_treatment: None,
            distinct: false,
        },
    })
}

/// The per-(customer, item) plan with weight, share, lift and rank, plus
/// the number of customers of each item (`item_customers`).
fn affinity_plan(inputs: &Inputs) -> Result<LogicalPlanBuilder> {
    let Inputs {
        table,
        customer,
        item,
        weight,
    } = inputs;
    let c = || ident(customer.as_str());
    let i = || ident(item.as_str());
    let w = cast(weight.clone(), DataType::Float64);
    let plan = table
        .scan()?
        .filter(
            c().is_not_null()
                .and(i().is_not_null())
                .and(w.clone().gt(lit(0.0))),
        )?
        .aggregate(
            vec![c(), i()],
            vec![sum(w).alias("weight"), count_all().alias("rows")],
        )?;
    let sum_over = |partition: Vec<Expr>| {
        window(
            WindowFunctionDefinition::AggregateUDF(sum_udaf()),
            vec![col("weight")],
            partition,
            vec![],
        )
    };
    let plan = windows(
        plan,
        vec![
            (sum_over(vec![c()]), "__customer_weight"),
            (sum_over(vec![i()]), "__item_weight"),
            (sum_over(vec![]), "__all_weight"),
            (
                window(
                    WindowFunctionDefinition::AggregateUDF(count_udaf()),
                    vec![lit(1)],
                    vec![i()],
                    vec![],
                ),
                "item_customers",
            ),
        ],
    )?;
    let share = col("weight") / col("__customer_weight");
    let plan = plan.project(vec![
        c(),
        i(),
        col("weight"),
        col("rows"),
        share.clone().alias("share"),
        (share / (col("__item_weight") / col("__all_weight"))).alias("lift"),
        col("item_customers"),
    ])?;
    Ok(plan)
}

impl TableFunctionImpl for AffinityFunction {
    fn call_with_args(&self, call: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let inputs = inputs(
            AFFINITY,
            &call,
            4,
            "affinity(table, customer_col, item_col, weight_col)",
        )?;
        let plan = affinity_plan(&inputs)?;
        let rank = window(
            WindowFunctionDefinition::WindowUDF(rank_udwf()),
            vec![],
            vec![ident(inputs.customer.as_str())],
            vec![col("share").sort(false, false)],
        );
        let plan = windows(plan, vec![(rank, "__rank")])?.project(vec![
            ident(inputs.customer.as_str()),
            ident(inputs.item.as_str()),
            col("weight"),
            col("share"),
            col("lift"),
            cast(col("__rank"), DataType::Int64).alias("rank"),
        ])?;
        let plan = args::analyzed(AFFINITY, call.session(), plan.build()?)?;
        Ok(Arc::new(ViewTable::new(plan, None)))
    }
}

impl TableFunctionImpl for TopAffinityFunction {
    fn call_with_args(&self, call: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        const USAGE: &str = "top_affinity(table, customer_col, item_col, weight_col [, min_share [, min_rows [, min_customers]]])";
        let inputs = inputs(TOP_AFFINITY, &call, 7, USAGE)?;
        let exprs = call.exprs();
        let min_share = match args::constant_arg(TOP_AFFINITY, 4, "min_share", exprs)? {
            None => DEFAULT_MIN_SHARE,
            Some(v) => match v.cast_to(&DataType::Float64) {
                Ok(ScalarValue::Float64(Some(x))) if (0.0..=1.0).contains(&x) => x,
                _ => {
                    return plan_err!(
                        "{TOP_AFFINITY}: argument 5 (min_share) must be a number from 0 to 1, got {v}"
                    );
                }
            },
        };
        let count = |index: usize, name: &str, default: i64| -> Result<i64> {
            match args::constant_arg(TOP_AFFINITY, index, name, exprs)? {
                None => Ok(default),
                Some(v) => match v.cast_to(&DataType::Int64) {
                    Ok(ScalarValue::Int64(Some(x))) if x >= 1 => Ok(x),
                    _ => plan_err!(
                        "{TOP_AFFINITY}: argument {} ({name}) must be a whole number ≥ 1, got {v}",
                        index + 1
                    ),
                },
            }
        };
        let min_rows = count(5, "min_rows", DEFAULT_MIN_ROWS)?;
        let min_customers = count(6, "min_customers", DEFAULT_MIN_CUSTOMERS)?;
        let plan = affinity_plan(&inputs)?.filter(
            col("share")
                .gt_eq(lit(min_share))
                .and(col("rows").gt_eq(lit(min_rows)))
                .and(col("item_customers").gt_eq(lit(min_customers))),
        )?;
        let best = window(
            WindowFunctionDefinition::WindowUDF(row_number_udwf()),
            vec![],
            vec![ident(inputs.customer.as_str())],
            vec![
                col("lift").sort(false, false),
                col("share").sort(false, false),
                ident(inputs.item.as_str()).sort(true, false),
            ],
        );
        let plan = windows(plan, vec![(best, "__best")])?
            .filter(col("__best").eq(lit(1u64)))?
            .project(vec![
                ident(inputs.customer.as_str()),
                ident(inputs.item.as_str()),
                col("weight"),
                col("share"),
                col("lift"),
            ])?;
        let plan = args::analyzed(TOP_AFFINITY, call.session(), plan.build()?)?;
        Ok(Arc::new(ViewTable::new(plan, None)))
    }
}
