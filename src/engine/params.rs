//! Named parameters bound into a parsed statement: `$as_of` becomes
//! `DATE '2026-10-31'` as a syntax-tree node, so a value can never change
//! the statement's structure (no quoting, no injection), and table
//! functions, which need constant arguments while planning, see a literal.

use std::ops::ControlFlow;

use datafusion::common::ScalarValue;
use datafusion::sql::parser::{CopyToSource, Statement as DFStatement};
use datafusion::sql::sqlparser::ast::{
    DataType as SqlType, Expr as SqlExpr, TypedString, Value, ValueWithSpan, visit_expressions_mut,
};
use datafusion::sql::sqlparser::tokenizer::Span;

use crate::error::{Error, Result};

/// The literal node for a parameter value.
fn literal(name: &str, value: &ScalarValue) -> Result<SqlExpr> {
    let text = |v: String| ValueWithSpan {
        value: Value::SingleQuotedString(v),
        span: Span::empty(),
    };
    let typed = |data_type: SqlType, v: String| {
        SqlExpr::TypedString(TypedString {
            data_type,
            value: text(v),
            uses_odbc_syntax: false,
        })
    };
    let number = |v: String| {
        SqlExpr::Value(ValueWithSpan {
            value: Value::Number(v, false),
            span: Span::empty(),
        })
    };
    Ok(match value {
        ScalarValue::Date32(Some(_)) => typed(SqlType::Date, value.to_string()),
        ScalarValue::Utf8(Some(s))
        | ScalarValue::Utf8View(Some(s))
        | ScalarValue::LargeUtf8(Some(s)) => SqlExpr::Value(text(s.clone())),
        ScalarValue::Int64(Some(v)) => number(v.to_string()),
        ScalarValue::Float64(Some(v)) if v.is_finite() => number(format!("{v:?}")),
        ScalarValue::Boolean(Some(v)) => SqlExpr::Value(ValueWithSpan {
            value: Value::Boolean(*v),
            span: Span::empty(),
        }),
        other => {
            return Err(Error::Usage(format!(
                "parameter ${name}: values of type {} cannot be bound",
                other.data_type()
            )));
        }
    })
}

/// Replaces every `$name` with its value; a placeholder without one is an
/// error that lists the parameters that exist.
pub(super) fn bind(statement: &mut DFStatement, params: &[(&str, ScalarValue)]) -> Result<()> {
    let mut failure: Option<Error> = None;
    walk(statement, &mut |expr: &mut SqlExpr| {
        let SqlExpr::Value(ValueWithSpan {
            value: Value::Placeholder(placeholder),
            ..
        }) = expr
        else {
            return ControlFlow::Continue(());
        };
        let name = placeholder.trim_start_matches(['$', ':', '@']).to_string();
        match params.iter().find(|(n, _)| *n == name) {
            Some((_, value)) => match literal(&name, value) {
                Ok(node) => *expr = node,
                Err(e) => {
                    failure = Some(e);
                    return ControlFlow::Break(());
                }
            },
            None => {
                let known: Vec<String> = params.iter().map(|(n, _)| format!("${n}")).collect();
                failure = Some(Error::Usage(format!(
                    "the SQL uses parameter {placeholder}, which has no value (parameters: {})",
                    known.join(", ")
                )));
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    });
    match failure {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

fn walk(statement: &mut DFStatement, f: &mut dyn FnMut(&mut SqlExpr) -> ControlFlow<()>) {
    match statement {
        DFStatement::Statement(s) => {
            let _ = visit_expressions_mut(s.as_mut(), f);
        }
        DFStatement::CopyTo(copy) => {
            if let CopyToSource::Query(q) = &mut copy.source {
                let _ = visit_expressions_mut(q.as_mut(), f);
            }
        }
        DFStatement::Explain(explain) => walk(explain.statement.as_mut(), f),
        _ => {}
    }
}
