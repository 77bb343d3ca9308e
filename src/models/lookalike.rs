//! `lookalike('model', 'seed query', 'candidate query', n)` in FROM: the n
//! candidates nearest to the seed audience in the model's encoded
//! (standardized, one-hot) feature space, with their distance.
//!
//! "Nearest to the audience" is the distance to the audience's mean point:
//! the seed rows are encoded as the model encodes training rows and
//! averaged. The seed query returns the model's features; the candidate
//! query returns an identifier column first, then the features. Ties in
//! distance are broken by the first column, so the answer is deterministic.
//!
//! The engine runs the seed query while planning (it is usually small: the
//! audience), then replaces the call by a derived table over the candidate
//! query, ordered by `model_distance(model, mean, features…)` with a LIMIT:
//! one plan, streamed, with a top-n sort instead of a full one.

use std::ops::ControlFlow;

use datafusion::common::{DataFusionError, plan_datafusion_err};
use datafusion::sql::parser::{CopyToSource, Statement as DFStatement};
use datafusion::sql::sqlparser::ast::{
    Expr as SqlExpr, FunctionArg, FunctionArgExpr, TableFactor, Value, ValueWithSpan, VisitMut,
    VisitorMut,
};
use datafusion::sql::sqlparser::dialect::Dialect;
use datafusion::sql::sqlparser::parser::Parser;
use futures::StreamExt;
use microseg_udfs::model::encode;

use crate::catalog::models::parse_reference;
use crate::catalog::rewrite::string_literal;
use crate::engine::Engine;
use crate::error::{Error, Result};

/// The SQL name.
pub const NAME: &str = "lookalike";

struct Found {
    args: Vec<FunctionArg>,
}

/// Collects (then replaces) the calls of one table function in FROM, in order.
struct Visitor {
    name: &'static str,
    found: Vec<Found>,
    replacements: Option<std::vec::IntoIter<TableFactor>>,
}

impl VisitorMut for Visitor {
    type Break = DataFusionError;

    fn post_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<Self::Break> {
        let TableFactor::Table {
            name,
            args: Some(args),
            alias,
            ..
        } = factor
        else {
            return ControlFlow::Continue(());
        };
        if !name.to_string().eq_ignore_ascii_case(self.name) {
            return ControlFlow::Continue(());
        }
        match &mut self.replacements {
            None => self.found.push(Found {
                args: args.args.clone(),
            }),
            Some(replacements) => {
                let Some(mut replacement) = replacements.next() else {
                    return ControlFlow::Break(plan_datafusion_err!(
                        "{}: call not prepared",
                        self.name
                    ));
                };
                if let (TableFactor::Derived { alias: new, .. }, Some(old)) =
                    (&mut replacement, alias.take())
                {
                    *new = Some(old);
                }
                *factor = replacement;
            }
        }
        ControlFlow::Continue(())
    }
}

fn visit(statement: &mut DFStatement, visitor: &mut Visitor) -> Result<()> {
    let flow = match statement {
        DFStatement::Statement(s) => s.visit(visitor),
        DFStatement::CopyTo(copy) => match &mut copy.source {
            CopyToSource::Query(q) => q.visit(visitor),
            CopyToSource::Relation(_) => ControlFlow::Continue(()),
        },
        DFStatement::Explain(explain) => return visit(explain.statement.as_mut(), visitor),
        _ => ControlFlow::Continue(()),
    };
    match flow {
        ControlFlow::Break(e) => Err(e.into()),
        ControlFlow::Continue(()) => Ok(()),
    }
}

fn usage(message: impl std::fmt::Display) -> Error {
    Error::Usage(format!("{NAME}: {message}"))
}

/// A string-literal argument of table function `func`.
pub(super) fn text_arg(
    func: &str,
    args: &[FunctionArg],
    index: usize,
    what: &str,
) -> Result<String> {
    args.get(index)
        .and_then(string_literal)
        .map(str::to_string)
        .ok_or_else(|| {
            Error::Usage(format!(
                "{func}: argument {} ({what}) must be a string literal",
                index + 1
            ))
        })
}

/// The model a FROM-clause function names, or an error naming it.
pub(super) async fn named_model(
    engine: &Engine,
    func: &str,
    reference: &str,
) -> Result<crate::catalog::StoredModel> {
    let (name, version) = parse_reference(reference)?;
    engine
        .catalog()
        .model(&name, version)
        .await?
        .ok_or_else(|| Error::Usage(format!("{func}: unknown model {reference}")))
}

/// Runs the inner query `what` of table function `func` through the
/// engine, so a restricted session's policy judges it before it runs; a
/// refusal says which argument it was.
pub(super) async fn inner_query(
    engine: &Engine,
    func: &str,
    what: &str,
    sql: &str,
) -> Result<datafusion::dataframe::DataFrame> {
    Box::pin(engine.sql(sql))
        .await
        .map_err(|e| match e.refusal() {
            Some(refused) => Error::Refused(format!("{func}'s {what}: {refused}")),
            None => e,
        })
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Replaces every `lookalike(…)` of `statement` by the plan it stands for.
pub async fn expand(
    engine: &Engine,
    statement: &mut DFStatement,
    dialect_name: &str,
) -> Result<()> {
    let calls = calls_of(statement, NAME)?;
    if calls.is_empty() {
        return Ok(());
    }
    let mut replacements = Vec::new();
    for args in &calls {
        if args.len() != 4 {
            return Err(usage(format!(
                "expected 4 arguments (model, seed query, candidate query, n), got {}",
                args.len()
            )));
        }
        let reference = text_arg(NAME, args, 0, "model")?;
        let seed_sql = text_arg(NAME, args, 1, "seed query")?;
        let candidate_sql = text_arg(NAME, args, 2, "candidate query")?;
        let n = match &args[3] {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(SqlExpr::Value(ValueWithSpan {
                value: Value::Number(n, _),
                ..
            }))) => n.parse::<u64>().ok().filter(|&n| n >= 1),
            _ => None,
        }
        .ok_or_else(|| {
            usage(format!(
                "argument 4 (n) must be a whole number ≥ 1, got {}",
                args[3]
            ))
        })?;

        let model = named_model(engine, NAME, &reference).await?;
        let features = &model.meta.features;
        let check = |what: &str, fields: &[datafusion::arrow::datatypes::FieldRef]| -> Result<()> {
            if fields.len() != features.len() {
                return Err(usage(format!(
                    "the {what} returns {} feature columns, model {} has {} ({})",
                    fields.len(),
                    model.label(),
                    features.len(),
                    features
                        .iter()
                        .map(|f| f.name())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
            for (feature, field) in features.iter().zip(fields) {
                if !feature.accepts(field.data_type()) {
                    return Err(usage(format!(
                        "the {what}'s column {} is {}, which does not fit the model's feature {}",
                        field.name(),
                        field.data_type(),
                        feature.name()
                    )));
                }
            }
            Ok(())
        };

        // The seed audience's mean point, in the model's encoded space.
        let seed = inner_query(engine, NAME, "seed query", &seed_sql).await?;
        check("seed query", seed.schema().fields())?;
        let dims = microseg_udfs::model::dims(features);
        let mut sum = vec![0.0f64; dims];
        let mut rows = 0usize;
        let mut stream = seed.execute_stream().await?;
        let mut encoded: Vec<f64> = Vec::new();
        while let Some(batch) = stream.next().await {
            let batch = batch?;
            encoded.clear();
            encode(features, batch.columns(), batch.num_rows(), &mut encoded)?;
            for row in encoded.chunks_exact(dims) {
                for (s, x) in sum.iter_mut().zip(row) {
                    *s += x;
                }
            }
            rows += batch.num_rows();
        }
        if rows == 0 {
            return Err(usage(
                "the seed query returns no rows: there is no audience to look like",
            ));
        }
        let mean: Vec<f64> = sum.iter().map(|s| s / rows as f64).collect();

        // The candidates: an identifier, then the features.
        let candidates = inner_query(engine, NAME, "candidate query", &candidate_sql).await?;
        let fields = candidates.schema().fields().clone();
        if fields.len() < 2 {
            return Err(usage(
                "the candidate query must return an identifier column, then the model's features",
            ));
        }
        check(
            "candidate query (after its first, identifier column)",
            &fields[1..],
        )?;
        let feature_columns: Vec<String> =
            fields[1..].iter().map(|f| quote_ident(f.name())).collect();
        let literal = |s: &str| format!("'{}'", s.replace('\'', "''"));
        let point = serde_json::to_string(&mean).map_err(usage)?;
        let sql = format!(
            "SELECT *, model_distance({}, {}, {}) AS distance FROM ({candidate_sql}) AS __candidates ORDER BY distance, {} LIMIT {n}",
            literal(&model.label()),
            literal(&point),
            feature_columns.join(", "),
            quote_ident(fields[0].name()),
        );
        let dialect = datafusion::sql::sqlparser::dialect::dialect_from_str(dialect_name)
            .ok_or_else(|| usage(format!("unsupported SQL dialect {dialect_name:?}")))?;
        let query = parse_query(&sql, dialect.as_ref())
            .map_err(|e| usage(format!("cannot build the candidate plan: {e}")))?;
        replacements.push(derived(query, NAME));
    }
    replace_calls(statement, NAME, replacements)
}

/// The argument lists of every `name(…)` in FROM, in order.
pub(crate) fn calls_of(
    statement: &mut DFStatement,
    name: &'static str,
) -> Result<Vec<Vec<FunctionArg>>> {
    let mut visitor = Visitor {
        name,
        found: Vec::new(),
        replacements: None,
    };
    visit(statement, &mut visitor)?;
    Ok(visitor.found.into_iter().map(|f| f.args).collect())
}

/// Replaces the calls [`calls_of`] found, in the same order.
pub(super) fn replace_calls(
    statement: &mut DFStatement,
    name: &'static str,
    replacements: Vec<TableFactor>,
) -> Result<()> {
    let mut visitor = Visitor {
        name,
        found: Vec::new(),
        replacements: Some(replacements.into_iter()),
    };
    visit(statement, &mut visitor)
}

/// `(query) AS alias` in FROM.
pub(super) fn derived(query: datafusion::sql::sqlparser::ast::Query, alias: &str) -> TableFactor {
    TableFactor::Derived {
        lateral: false,
        subquery: Box::new(query),
        alias: Some(datafusion::sql::sqlparser::ast::TableAlias {
            explicit: true,
            name: datafusion::sql::sqlparser::ast::Ident::new(alias),
            columns: vec![],
            at: None,
        }),
        sample: None,
    }
}

pub(super) fn parse_query(
    sql: &str,
    dialect: &dyn Dialect,
) -> std::result::Result<datafusion::sql::sqlparser::ast::Query, String> {
    let mut parser = Parser::new(dialect)
        .try_with_sql(sql)
        .map_err(|e| e.to_string())?;
    parser.parse_query().map(|q| *q).map_err(|e| e.to_string())
}
