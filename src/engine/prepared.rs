//! SQL `PREPARE` / `EXECUTE` / `DEALLOCATE`, kept by the engine.
//!
//! DataFusion's own `PREPARE` optimizes the plan before storing it, and
//! projection pruning then drops the columns a segment set's rules read
//! (`segment_of('s')` names no column until the analyzer expands it). So
//! the engine keeps the plan as planned and binds parameters at each
//! `EXECUTE`, as DataFusion does; the analyzer then resolves sets and
//! models as they are at that run.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use datafusion::arrow::datatypes::FieldRef;
use datafusion::common::metadata::ScalarAndMetadata;
use datafusion::common::{ParamValues, Result, exec_err, not_impl_err, plan_err};
use datafusion::execution::SessionState;
use datafusion::logical_expr::simplify::SimplifyContext;
use datafusion::logical_expr::{Deallocate, Execute, Expr, LogicalPlan, Prepare};
use datafusion::optimizer::simplify_expressions::ExprSimplifier;

/// One session's prepared statements.
#[derive(Debug, Default, Clone)]
pub struct PreparedStatements(Arc<Mutex<HashMap<String, Stored>>>);

#[derive(Debug)]
struct Stored {
    fields: Vec<FieldRef>,
    plan: LogicalPlan,
}

impl PreparedStatements {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Stored>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stores `PREPARE name(types) AS query`, checking the declared types
    /// against the query's parameters.
    pub fn prepare(&self, prepare: Prepare) -> Result<()> {
        let Prepare {
            name,
            fields,
            input,
        } = prepare;
        if !fields.is_empty() {
            let used = input.get_parameter_names()?.len();
            if used != fields.len() {
                return plan_err!(
                    "PREPARE {name}: {} data types given but the query has {used} parameters",
                    fields.len()
                );
            }
        }
        let plan = Arc::unwrap_or_clone(input);
        self.map().insert(name, Stored { fields, plan });
        Ok(())
    }

    /// The plan of `EXECUTE name(values)`, its parameters bound.
    pub fn execute(&self, execute: Execute, state: &SessionState) -> Result<LogicalPlan> {
        let Execute { name, parameters } = execute;
        let (fields, plan) = match self.map().get(&name) {
            Some(stored) => (stored.fields.clone(), stored.plan.clone()),
            None => return exec_err!("prepared statement '{name}' does not exist"),
        };
        let context = SimplifyContext::builder()
            .with_schema(Arc::clone(plan.schema()))
            .with_config_options(Arc::clone(state.config_options()))
            .with_query_execution_start_time(state.execution_props().query_execution_start_time)
            .build();
        let simplifier = ExprSimplifier::new(context);
        let mut values: Vec<ScalarAndMetadata> = parameters
            .into_iter()
            .map(|e| match simplifier.simplify(e)? {
                Expr::Literal(value, metadata) => Ok(ScalarAndMetadata::new(value, metadata)),
                other => not_impl_err!("EXECUTE {name}: parameters must be constants, got {other}"),
            })
            .collect::<Result<_>>()?;
        if !fields.is_empty() {
            if values.len() != fields.len() {
                return exec_err!(
                    "prepared statement '{name}' expects {} parameters, but {} were given",
                    fields.len(),
                    values.len()
                );
            }
            values = values
                .into_iter()
                .zip(&fields)
                .map(|(v, field)| v.cast_storage_to(field.data_type()))
                .collect::<Result<_>>()?;
        }
        plan.with_param_values(ParamValues::List(values))
    }

    /// `DEALLOCATE name`.
    pub fn deallocate(&self, deallocate: Deallocate) -> Result<()> {
        match self.map().remove(&deallocate.name) {
            Some(_) => Ok(()),
            None => exec_err!("prepared statement '{}' does not exist", deallocate.name),
        }
    }
}
