//! The analyzer rule that resolves catalog names in a plan.
//!
//! `segment_of('set')` / `segments_of('set')` become the set's `CASE`,
//! resolved against the relation the call sits in; model functions
//! (`cluster_assign('m', …)`, `p_alive('life@2', …)`, …) get a copy of
//! their function bound to the fitted model. It runs when DataFusion
//! analyzes a plan, that is each time a statement, view or prepared
//! statement is about to run, so every run sees the catalog as it is then.
//! A name argument that is still a placeholder is left for the run that
//! binds it.

use std::sync::Arc;

use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{
    Column, DFSchema, DataFusionError, Result, SchemaError, plan_datafusion_err, plan_err,
};
use datafusion::execution::SessionState;
use datafusion::logical_expr::expr::{AggregateFunction, ScalarFunction};
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::utils::{find_window_exprs, merge_schema};
use datafusion::logical_expr::{
    AggregateUDF, AggregateUDFImpl, Expr, LogicalPlan, LogicalPlanBuilder, Projection, ScalarUDF,
    WindowFunctionDefinition,
};
use datafusion::optimizer::AnalyzerRule;
use microseg_udfs::model::clv_apply::ClvFunction;
use microseg_udfs::model::{
    ClassifierScores, ClusterAssign, ExplainPredict, ModelFunction, ModelMean, ModelQuality,
    Predict, PredictUplift, UpliftReport,
};
use microseg_udfs::segment::SegmentOf;

use crate::catalog::models::parse_reference;
use crate::catalog::{CatalogCache, SegmentSet, Snapshot};

/// Resolves segment sets and models in a plan from the catalog snapshot.
#[derive(Debug)]
pub struct BindCatalog {
    cache: Arc<CatalogCache>,
    /// Functions only (no tables, not this rule): turns rule predicates,
    /// stored as SQL, into expressions over a relation's schema.
    functions: SessionState,
}

impl BindCatalog {
    /// A rule reading `cache`, planning predicates with `functions`.
    pub fn new(cache: Arc<CatalogCache>, functions: SessionState) -> Self {
        Self { cache, functions }
    }
}

impl AnalyzerRule for BindCatalog {
    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        if !uses_catalog(&plan) {
            return Ok(plan);
        }
        let snapshot = self.cache.snapshot();
        plan.transform_up_with_subqueries(|node| self.bind_node(node, &snapshot))
            .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "microseg_bind_catalog"
    }
}

impl BindCatalog {
    fn bind_node(
        &self,
        node: LogicalPlan,
        snapshot: &Snapshot,
    ) -> Result<Transformed<LogicalPlan>> {
        if !node_uses_catalog(&node) {
            return Ok(Transformed::no(node));
        }
        // Expressions resolve against the node's inputs (a join's against
        // both sides); a leaf's against its own schema.
        let inputs = node.inputs();
        let schema = if inputs.is_empty() {
            node.schema().as_ref().clone()
        } else {
            merge_schema(&inputs)
        };
        let names = NamePreserver::new(&node);
        let bound = node.map_expressions(|expr| {
            let saved = names.save(&expr);
            let rewritten = expr.transform_up(|e| self.bind_expr(e, &schema, snapshot))?;
            Ok(rewritten.update_data(|e| saved.restore(e)))
        })?;
        if bound.transformed {
            bound.map_data(|plan| with_windows_below(plan)?.recompute_schema())
        } else {
            Ok(bound)
        }
    }

    fn bind_expr(
        &self,
        expr: Expr,
        schema: &DFSchema,
        snapshot: &Snapshot,
    ) -> Result<Transformed<Expr>> {
        if matches!(expr, Expr::AggregateFunction(_) | Expr::WindowFunction(_)) {
            return bind_aggregate(expr, snapshot);
        }
        let Expr::ScalarFunction(call) = &expr else {
            return Ok(Transformed::no(expr));
        };
        let inner = call.func.inner();
        if let Some(segment) = inner.downcast_ref::<SegmentOf>() {
            let Some(name) =
                name_argument(call.func.name(), &call.args, 0, "set_name", "a segment set")?
            else {
                return Ok(Transformed::no(expr));
            };
            let set = segment_set(snapshot, &name.to_lowercase())?;
            return self
                .expand_set(&set, segment.all_matches(), schema)
                .map(Transformed::yes);
        }
        let bound = match (
            inner.downcast_ref::<ClusterAssign>(),
            inner.downcast_ref::<ClvFunction>(),
            inner.downcast_ref::<Predict>(),
            inner.downcast_ref::<ExplainPredict>(),
        ) {
            (Some(f), _, _, _) => bound_copy(f, call.func.name(), &call.args, snapshot)?
                .map(|f| Arc::new(ScalarUDF::new_from_impl(f))),
            (_, Some(f), _, _) => bound_copy(f, call.func.name(), &call.args, snapshot)?
                .map(|f| Arc::new(ScalarUDF::new_from_impl(f))),
            (_, _, Some(f), _) => bound_copy(f, call.func.name(), &call.args, snapshot)?
                .map(|f| Arc::new(ScalarUDF::new_from_impl(f))),
            (_, _, _, Some(f)) => bound_copy(f, call.func.name(), &call.args, snapshot)?
                .map(|f| Arc::new(ScalarUDF::new_from_impl(f))),
            _ => match inner.downcast_ref::<PredictUplift>() {
                Some(f) => bound_copy(f, call.func.name(), &call.args, snapshot)?
                    .map(|f| Arc::new(ScalarUDF::new_from_impl(f))),
                None => None,
            },
        };
        if let Some(func) = bound {
            return Ok(Transformed::yes(Expr::ScalarFunction(
                ScalarFunction::new_udf(func, call.args.clone()),
            )));
        }
        Ok(Transformed::no(expr))
    }

    /// The set's `CASE` (or list of them) over `schema`. A predicate that
    /// names a column the relation lacks is reported by set, rule and column.
    fn expand_set(&self, set: &SegmentSet, all: bool, schema: &DFSchema) -> Result<Expr> {
        let sql = if all {
            set.all_matches_sql()
        } else {
            set.first_match_sql()
        };
        self.functions
            .create_logical_expr(&sql, schema)
            .map_err(|e| self.explain(set, schema, e))
    }

    fn explain(
        &self,
        set: &SegmentSet,
        schema: &DFSchema,
        err: DataFusionError,
    ) -> DataFusionError {
        for rule in &set.rules {
            if let Err(e) = self.functions.create_logical_expr(&rule.predicate, schema) {
                let why = match missing_field(&e) {
                    Some((column, valid)) => format!(
                        "column {column} is not in the relation it is applied to (available: {valid})"
                    ),
                    None => e.strip_backtrace(),
                };
                return plan_datafusion_err!(
                    "segment set '{}', rule '{}' ({}): {why}",
                    set.name,
                    rule.label,
                    rule.predicate
                );
            }
        }
        plan_datafusion_err!("segment set '{}': {}", set.name, err.strip_backtrace())
    }
}

/// A set's rules may use window functions (`quantile_score(x, 100) OVER ()`
/// in `value_tiers`); an expanded projection then holds window calls, which
/// DataFusion computes only in a `Window` node. As the SQL planner does for
/// a SELECT list, they move into a `Window` node under the projection, and
/// the projection reads their columns.
fn with_windows_below(plan: LogicalPlan) -> Result<LogicalPlan> {
    // A Window node's own window calls (a bound `model_mean(…) OVER ()`)
    // are where they belong.
    if matches!(plan, LogicalPlan::Window(_)) {
        return Ok(plan);
    }
    let windows = find_window_exprs(plan.expressions().iter());
    if windows.is_empty() {
        return Ok(plan);
    }
    let LogicalPlan::Projection(projection) = plan else {
        return plan_err!(
            "a segment set whose rules use window functions can only be used in a SELECT list, not in {}",
            plan.display()
        );
    };
    let input =
        LogicalPlanBuilder::window_plan(Arc::unwrap_or_clone(projection.input), windows.clone())?;
    let exprs = projection
        .expr
        .into_iter()
        .map(|expr| {
            expr.transform_down(|e| {
                if windows.contains(&e) {
                    let column = Column::from_name(e.schema_name().to_string());
                    Ok(Transformed::new(
                        Expr::Column(column),
                        true,
                        TreeNodeRecursion::Jump,
                    ))
                } else {
                    Ok(Transformed::no(e))
                }
            })
            .map(|t| t.data)
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(LogicalPlan::Projection(Projection::try_new(
        exprs,
        Arc::new(input),
    )?))
}

/// Whether `plan` (subqueries included) calls a function that names a
/// catalog object and is not yet resolved: the engine refreshes its
/// snapshot only for such plans.
pub fn uses_catalog(plan: &LogicalPlan) -> bool {
    let mut found = false;
    let _ = plan.apply_with_subqueries(|node| {
        found = node_uses_catalog(node);
        Ok(if found {
            TreeNodeRecursion::Stop
        } else {
            TreeNodeRecursion::Continue
        })
    });
    found
}

fn node_uses_catalog(node: &LogicalPlan) -> bool {
    let mut found = false;
    let _ = node.apply_expressions(|expr| {
        expr.apply(|e| {
            found = match e {
                Expr::ScalarFunction(call) => is_catalog_call(call),
                Expr::AggregateFunction(call) => is_catalog_aggregate(call.func.inner().as_ref()),
                Expr::WindowFunction(window) => matches!(
                    &window.fun,
                    WindowFunctionDefinition::AggregateUDF(f) if is_catalog_aggregate(f.inner().as_ref())
                ),
                _ => false,
            };
            Ok(if found {
                TreeNodeRecursion::Stop
            } else {
                TreeNodeRecursion::Continue
            })
        })
    });
    found
}

fn is_catalog_call(call: &ScalarFunction) -> bool {
    let inner = call.func.inner();
    inner.is::<SegmentOf>()
        || inner.downcast_ref::<ClusterAssign>().is_some_and(unbound)
        || inner.downcast_ref::<ClvFunction>().is_some_and(unbound)
        || inner.downcast_ref::<Predict>().is_some_and(unbound)
        || inner.downcast_ref::<ExplainPredict>().is_some_and(unbound)
        || inner.downcast_ref::<PredictUplift>().is_some_and(unbound)
}

fn is_catalog_aggregate(inner: &dyn AggregateUDFImpl) -> bool {
    inner.downcast_ref::<ModelMean>().is_some_and(unbound)
        || inner.downcast_ref::<ModelQuality>().is_some_and(unbound)
        || inner
            .downcast_ref::<ClassifierScores>()
            .is_some_and(unbound)
        || inner.downcast_ref::<UpliftReport>().is_some_and(unbound)
}

fn unbound(f: &impl ModelFunction) -> bool {
    !f.is_bound()
}

/// `f` bound to the models its leading arguments name; `None` when it is
/// bound already or a name is still a placeholder.
fn bound_copy<F: ModelFunction>(
    f: &F,
    name: &str,
    args: &[Expr],
    snapshot: &Snapshot,
) -> Result<Option<F>> {
    if f.is_bound() {
        return Ok(None);
    }
    match models_of(name, args, f.model_arguments(), snapshot)? {
        Some(models) => f.bind(models).map(Some),
        None => Ok(None),
    }
}

/// A model aggregate (`model_mean`, `model_quality`) bound to the model
/// its arguments name; `None` when `func` is no unbound model aggregate or
/// the name is still a placeholder.
fn bind_udaf(
    func: &AggregateUDF,
    args: &[Expr],
    snapshot: &Snapshot,
) -> Result<Option<Arc<AggregateUDF>>> {
    let inner = func.inner();
    let name = func.name();
    Ok(
        match (
            inner.downcast_ref::<ModelMean>(),
            inner.downcast_ref::<ModelQuality>(),
            inner.downcast_ref::<ClassifierScores>(),
        ) {
            (Some(f), _, _) => bound_copy(f, name, args, snapshot)?
                .map(|f| Arc::new(AggregateUDF::new_from_impl(f))),
            (_, Some(f), _) => bound_copy(f, name, args, snapshot)?
                .map(|f| Arc::new(AggregateUDF::new_from_impl(f))),
            (_, _, Some(f)) => bound_copy(f, name, args, snapshot)?
                .map(|f| Arc::new(AggregateUDF::new_from_impl(f))),
            _ => match inner.downcast_ref::<UpliftReport>() {
                Some(f) => bound_copy(f, name, args, snapshot)?
                    .map(|f| Arc::new(AggregateUDF::new_from_impl(f))),
                None => None,
            },
        },
    )
}

/// An aggregate call, or a window over one, with a model aggregate bound;
/// the rest of the call (DISTINCT, FILTER, ORDER BY, the window) as it was.
fn bind_aggregate(expr: Expr, snapshot: &Snapshot) -> Result<Transformed<Expr>> {
    match expr {
        Expr::AggregateFunction(call) => {
            match bind_udaf(&call.func, &call.params.args, snapshot)? {
                Some(func) => Ok(Transformed::yes(Expr::AggregateFunction(
                    AggregateFunction {
                        func,
                        params: call.params,
                    },
                ))),
                None => Ok(Transformed::no(Expr::AggregateFunction(call))),
            }
        }
        Expr::WindowFunction(mut window) => {
            let WindowFunctionDefinition::AggregateUDF(udaf) = &window.fun else {
                return Ok(Transformed::no(Expr::WindowFunction(window)));
            };
            match bind_udaf(udaf, &window.params.args, snapshot)? {
                Some(func) => {
                    window.fun = WindowFunctionDefinition::AggregateUDF(func);
                    Ok(Transformed::yes(Expr::WindowFunction(window)))
                }
                None => Ok(Transformed::no(Expr::WindowFunction(window))),
            }
        }
        other => Ok(Transformed::no(other)),
    }
}

/// Argument `index` of `call`, a string literal naming `what`; `None` while
/// it is still a placeholder (a prepared statement before its parameters).
fn name_argument(
    function: &str,
    args: &[Expr],
    index: usize,
    argument: &str,
    what: &str,
) -> Result<Option<String>> {
    match args.get(index) {
        Some(Expr::Placeholder(_)) => Ok(None),
        Some(Expr::Literal(value, _)) => match value.try_as_str() {
            Some(Some(text)) => Ok(Some(text.to_string())),
            _ if value.is_null() => plan_err!(
                "{function}: argument {} ({argument}) is NULL; it must name {what}",
                index + 1
            ),
            _ => plan_err!(
                "{function}: argument {} ({argument}) must be a string naming {what}, got {value}",
                index + 1
            ),
        },
        Some(Expr::Cast(cast)) if matches!(cast.expr.as_ref(), Expr::Placeholder(_)) => Ok(None),
        Some(other) => plan_err!(
            "{function}: argument {} ({argument}) must be a string literal or parameter naming {what}, got {other}",
            index + 1
        ),
        None => plan_err!(
            "{function}: argument {} ({argument}) is missing: it names {what}",
            index + 1
        ),
    }
}

fn segment_set(snapshot: &Snapshot, name: &str) -> Result<Arc<SegmentSet>> {
    match snapshot.segment_set(name) {
        Ok(Some(set)) => Ok(set),
        Ok(None) => {
            let known = snapshot.segment_set_names();
            let known = if known.is_empty() {
                "none exist yet: CREATE SEGMENT SET defines one".to_string()
            } else {
                format!("known: {}", known.join(", "))
            };
            plan_err!("unknown segment set '{name}' ({known})")
        }
        Err(why) => plan_err!("segment set '{name}' cannot be read: {why}"),
    }
}

/// The models named by the first `count` arguments of `call`, or `None`
/// while any of them is a placeholder.
fn models_of(
    function: &str,
    args: &[Expr],
    count: usize,
    snapshot: &Snapshot,
) -> Result<Option<Vec<microseg_udfs::model::Bound>>> {
    let mut models = Vec::with_capacity(count);
    for index in 0..count {
        let Some(reference) = name_argument(function, args, index, "model", "a model")? else {
            return Ok(None);
        };
        let (name, version) =
            parse_reference(&reference).map_err(|e| plan_datafusion_err!("{e}"))?;
        match snapshot.model(&name, version) {
            Ok(Some(entry)) => models.push(entry.bound.clone()),
            Ok(None) => {
                let what = match version {
                    Some(v) => format!("unknown model version {name}@{v}"),
                    None => format!("unknown model {name}"),
                };
                let known = snapshot.model_names();
                return plan_err!(
                    "{function}: {what} ({})",
                    if known.is_empty() {
                        "no models yet: CREATE MODEL trains one".to_string()
                    } else {
                        format!("models: {}", known.join(", "))
                    }
                );
            }
            Err(why) => return plan_err!("model {reference} cannot be read: {why}"),
        }
    }
    Ok(Some(models))
}

/// The column and the available ones, when `err` is "no field named X".
fn missing_field(err: &DataFusionError) -> Option<(String, String)> {
    match err {
        DataFusionError::SchemaError(e, _) => match e.as_ref() {
            SchemaError::FieldNotFound {
                field,
                valid_fields,
            } => Some((
                field.name.clone(),
                valid_fields
                    .iter()
                    .map(|c| c.name.clone())
                    .collect::<Vec<_>>()
                    .join(", "),
            )),
            _ => None,
        },
        DataFusionError::Context(_, inner) | DataFusionError::Diagnostic(_, inner) => {
            missing_field(inner)
        }
        DataFusionError::Shared(inner) => missing_field(inner),
        _ => None,
    }
}
