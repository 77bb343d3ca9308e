//! Rewriting calls in a statement's syntax tree before DataFusion plans it.
//!
//! Segment sets and models live in the lake; the functions that use them
//! (`segment_of`, `cluster_assign`, `model_centroids`, …) are pure. The
//! engine bridges the two here: it finds the calls, loads what they name,
//! and replaces them (or their name argument) with what the planner and the
//! function need, so plans carry everything with them.

use std::ops::ControlFlow;

use datafusion::common::DataFusionError;
use datafusion::sql::parser::{CopyToSource, Statement as DFStatement};
use datafusion::sql::sqlparser::ast::{
    Expr as SqlExpr, Function, FunctionArg, FunctionArgExpr, FunctionArguments, TableFactor, Value,
    ValueWithSpan, VisitMut, VisitorMut,
};

use crate::error::Result;

/// One place a function is called: a scalar call in an expression, or a
/// table function in FROM.
pub enum Call<'a> {
    /// `f(…)` in an expression (always an `Expr::Function`), replaceable whole.
    Scalar(&'a mut SqlExpr),
    /// `FROM f(…)`.
    Table {
        /// The function's name.
        name: String,
        /// Its arguments.
        args: &'a mut Vec<FunctionArg>,
    },
}

impl Call<'_> {
    /// The called function's name, lower case.
    pub fn name(&self) -> String {
        match self {
            Call::Scalar(SqlExpr::Function(f)) => f.name.to_string().to_lowercase(),
            Call::Scalar(_) => String::new(),
            Call::Table { name, .. } => name.to_lowercase(),
        }
    }

    /// The scalar call's function node.
    pub fn function(&self) -> Option<&Function> {
        match self {
            Call::Scalar(SqlExpr::Function(f)) => Some(f),
            _ => None,
        }
    }

    /// The arguments.
    pub fn args(&mut self) -> &mut [FunctionArg] {
        match self {
            Call::Scalar(SqlExpr::Function(f)) => match &mut f.args {
                FunctionArguments::List(list) => list.args.as_mut_slice(),
                _ => &mut [],
            },
            Call::Scalar(_) => &mut [],
            Call::Table { args, .. } => args.as_mut_slice(),
        }
    }
}

/// The text of a string-literal argument.
pub fn string_literal(arg: &FunctionArg) -> Option<&str> {
    let expr = match arg {
        FunctionArg::Unnamed(FunctionArgExpr::Expr(e))
        | FunctionArg::Named {
            arg: FunctionArgExpr::Expr(e),
            ..
        }
        | FunctionArg::ExprNamed {
            arg: FunctionArgExpr::Expr(e),
            ..
        } => e,
        _ => return None,
    };
    match expr {
        SqlExpr::Value(ValueWithSpan {
            value: Value::SingleQuotedString(s) | Value::DoubleQuotedString(s),
            ..
        }) => Some(s),
        _ => None,
    }
}

/// A string-literal argument.
pub fn string_arg(text: String) -> FunctionArg {
    FunctionArg::Unnamed(FunctionArgExpr::Expr(SqlExpr::Value(
        Value::SingleQuotedString(text).into(),
    )))
}

struct CallVisitor<'f> {
    f: &'f mut dyn FnMut(Call<'_>) -> std::result::Result<(), DataFusionError>,
}

impl VisitorMut for CallVisitor<'_> {
    type Break = DataFusionError;

    fn post_visit_expr(&mut self, expr: &mut SqlExpr) -> ControlFlow<Self::Break> {
        if matches!(expr, SqlExpr::Function(_))
            && let Err(e) = (self.f)(Call::Scalar(expr))
        {
            return ControlFlow::Break(e);
        }
        ControlFlow::Continue(())
    }

    fn post_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<Self::Break> {
        if let TableFactor::Table {
            name,
            args: Some(args),
            ..
        } = factor
        {
            let call = Call::Table {
                name: name.to_string(),
                args: &mut args.args,
            };
            if let Err(e) = (self.f)(call) {
                return ControlFlow::Break(e);
            }
        }
        ControlFlow::Continue(())
    }
}

/// Calls `f` on every function call of `statement` (scalar calls after
/// their arguments, so a replaced call is not visited again).
pub fn for_each_call(
    statement: &mut DFStatement,
    f: &mut dyn FnMut(Call<'_>) -> std::result::Result<(), DataFusionError>,
) -> Result<()> {
    let mut visitor = CallVisitor { f };
    let flow = match statement {
        DFStatement::Statement(s) => s.visit(&mut visitor),
        DFStatement::CopyTo(copy) => match &mut copy.source {
            CopyToSource::Query(q) => q.visit(&mut visitor),
            CopyToSource::Relation(_) => ControlFlow::Continue(()),
        },
        DFStatement::Explain(explain) => {
            return for_each_call(explain.statement.as_mut(), visitor.f);
        }
        DFStatement::CreateExternalTable(_) | DFStatement::Reset(_) => ControlFlow::Continue(()),
    };
    match flow {
        ControlFlow::Break(e) => Err(e.into()),
        ControlFlow::Continue(()) => Ok(()),
    }
}

/// Whether any call of `statement` is one of `names`: cheap, so statements
/// that use no catalog object pay no store round trip.
pub fn calls_any(statement: &mut DFStatement, names: &[&str]) -> bool {
    let mut found = false;
    let _ = for_each_call(statement, &mut |call| {
        found |= names.contains(&call.name().as_str());
        Ok(())
    });
    found
}

/// Collects the argument lists of one table function's calls in FROM.
struct TableCalls {
    name: &'static str,
    found: Vec<Vec<FunctionArg>>,
}

impl VisitorMut for TableCalls {
    type Break = DataFusionError;

    fn post_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<Self::Break> {
        if let TableFactor::Table {
            name,
            args: Some(args),
            ..
        } = factor
            && name.to_string().eq_ignore_ascii_case(self.name)
        {
            self.found.push(args.args.clone());
        }
        ControlFlow::Continue(())
    }
}

fn visit_table_calls(statement: &mut DFStatement, visitor: &mut TableCalls) -> Result<()> {
    let flow = match statement {
        DFStatement::Statement(s) => s.visit(visitor),
        DFStatement::CopyTo(copy) => match &mut copy.source {
            CopyToSource::Query(q) => q.visit(visitor),
            CopyToSource::Relation(_) => ControlFlow::Continue(()),
        },
        DFStatement::Explain(explain) => {
            return visit_table_calls(explain.statement.as_mut(), visitor);
        }
        _ => ControlFlow::Continue(()),
    };
    match flow {
        ControlFlow::Break(e) => Err(e.into()),
        ControlFlow::Continue(()) => Ok(()),
    }
}

/// The argument lists of every `name(…)` in FROM, in order.
pub(crate) fn calls_of(
    statement: &mut DFStatement,
    name: &'static str,
) -> Result<Vec<Vec<FunctionArg>>> {
    let mut visitor = TableCalls {
        name,
        found: Vec::new(),
    };
    visit_table_calls(statement, &mut visitor)?;
    Ok(visitor.found)
}
