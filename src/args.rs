//! Arguments of table functions, shared by every floor that defines one
//! (the Delta functions below the table functions, `rfm` and the others
//! above): every error names the function and the argument.

use datafusion::catalog::Session;
use datafusion::common::{Result, ScalarValue, plan_datafusion_err, plan_err};
use datafusion::execution::SessionState;
use datafusion::logical_expr::Expr;
use datafusion::logical_expr::simplify::SimplifyContext;
use datafusion::optimizer::simplify_expressions::ExprSimplifier;

/// The session's state: table functions are called during SQL planning,
/// always with the full session.
pub fn state<'a>(func: &str, session: &'a dyn Session) -> Result<&'a SessionState> {
    session
        .as_any()
        .downcast_ref::<SessionState>()
        .ok_or_else(|| plan_datafusion_err!("{func}: needs a DataFusion SessionState"))
}

/// A name argument: a string literal (`'orders'`) or a bare identifier
/// (`orders`), which SQL planning hands over as a column reference (an
/// outer reference when a subquery's outer query has a column of that name:
/// the name is what counts, not the outer column).
pub fn name_arg(func: &str, index: usize, param: &str, args: &[Expr]) -> Result<String> {
    match args.get(index) {
        Some(Expr::Literal(ScalarValue::Utf8(Some(s)), _))
        | Some(Expr::Literal(ScalarValue::Utf8View(Some(s)), _))
        | Some(Expr::Literal(ScalarValue::LargeUtf8(Some(s)), _)) => Ok(s.clone()),
        Some(Expr::Column(c)) => Ok(c.flat_name()),
        Some(Expr::OuterReferenceColumn(_, c)) => Ok(c.name.clone()),
        Some(other) => plan_err!(
            "{func}: argument {} ({param}) must be a name, as 'text' or an identifier, got {other}",
            index + 1
        ),
        None => plan_err!("{func}: argument {} ({param}) is missing", index + 1),
    }
}

/// An optional constant argument, folded (so `DATE '2026-10-31'` or
/// `now() - INTERVAL '1 day'` work) to a scalar.
pub fn constant_arg(
    func: &str,
    index: usize,
    param: &str,
    args: &[Expr],
) -> Result<Option<ScalarValue>> {
    let Some(expr) = args.get(index) else {
        return Ok(None);
    };
    let simplifier = ExprSimplifier::new(SimplifyContext::builder().with_current_time().build());
    match simplifier.simplify(expr.clone())? {
        Expr::Literal(value, _) => Ok(Some(value)),
        other => plan_err!(
            "{func}: argument {} ({param}) must be a constant, got {other}",
            index + 1
        ),
    }
}

/// Checks the argument count.
pub fn check_count(func: &str, args: &[Expr], min: usize, max: usize, usage: &str) -> Result<()> {
    if args.len() < min || args.len() > max {
        return plan_err!(
            "{func}: expected {} arguments, got {}: {usage}",
            if min == max {
                min.to_string()
            } else {
                format!("{min} to {max}")
            },
            args.len()
        );
    }
    Ok(())
}
