//! Prepared statements: planned once, run once per bound parameter row.

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use super::wire::wire_schema;
use datafusion::common::ScalarValue;
use tonic::Status;

use crate::engine::Planned;

/// A prepared statement of one session.
pub struct Prepared {
    /// The plan, placeholders still in it.
    pub planned: Planned,
    /// The parameters in order (`$1`, `$2`, …) as clients see them: types
    /// where DataFusion could infer them (Null where it could not), view
    /// types as plain ones.
    pub parameter_schema: SchemaRef,
    /// The inferred types themselves, which bound values are cast to.
    inferred: Vec<Option<DataType>>,
    /// Bound parameter rows; none bound means run once as it is.
    pub bound: Vec<RecordBatch>,
    /// The statement's text, for the audit log.
    pub statement: String,
}

impl Prepared {
    /// A prepared statement for `planned`.
    pub fn new(planned: Planned) -> Result<Prepared, Status> {
        let inferred = parameter_types(&planned)?;
        let parameter_schema = wire_schema(&Schema::new(
            inferred
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    Field::new(
                        format!("${}", i + 1),
                        t.clone().unwrap_or(DataType::Null),
                        true,
                    )
                })
                .collect::<Vec<_>>(),
        ));
        Ok(Prepared {
            planned,
            parameter_schema,
            inferred,
            bound: Vec::new(),
            statement: String::new(),
        })
    }

    /// The plans to run: one per bound row, placeholders replaced.
    pub fn plans(&self) -> Result<Vec<Planned>, Status> {
        let expected = self.parameter_schema.fields().len();
        let Planned::DataFusion(plan) = &self.planned else {
            return Ok(vec![self.planned.clone()]);
        };
        let rows: usize = self.bound.iter().map(RecordBatch::num_rows).sum();
        if expected == 0 {
            return Ok(vec![self.planned.clone()]);
        }
        if rows == 0 {
            return Err(Status::invalid_argument(format!(
                "the prepared statement has {expected} parameter(s) and none are bound"
            )));
        }
        let mut plans = Vec::with_capacity(rows);
        for batch in &self.bound {
            if batch.num_columns() != expected {
                return Err(Status::invalid_argument(format!(
                    "bound {} parameter column(s), the statement has {expected}",
                    batch.num_columns()
                )));
            }
            for row in 0..batch.num_rows() {
                let values = batch
                    .columns()
                    .iter()
                    .zip(&self.inferred)
                    .map(|(column, target)| {
                        let value = ScalarValue::try_from_array(column, row)?;
                        // Clients bind what their language has (a Python int
                        // for a DOUBLE column, Utf8 for Utf8View): cast to the
                        // inferred type, which DataFusion insists on exactly.
                        match target {
                            Some(target) if value.data_type() != *target => value.cast_to(target),
                            _ => Ok(value),
                        }
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| Status::invalid_argument(format!("parameter row {row}: {e}")))?;
                let bound = plan
                    .clone()
                    .with_param_values(values)
                    .map_err(|e| Status::invalid_argument(format!("parameter row {row}: {e}")))?;
                plans.push(Planned::DataFusion(bound));
            }
        }
        Ok(plans)
    }
}

/// Types of `$1`, `$2`, … in numeric order (`?` placeholders are numbered
/// so by the engine); `None` where DataFusion could not infer one.
fn parameter_types(planned: &Planned) -> Result<Vec<Option<DataType>>, Status> {
    let Planned::DataFusion(plan) = planned else {
        return Ok(Vec::new());
    };
    let types = plan
        .get_parameter_types()
        .map_err(|e| Status::invalid_argument(format!("parameters: {e}")))?;
    let mut numbered: Vec<(usize, Option<DataType>)> = Vec::with_capacity(types.len());
    for (name, data_type) in types {
        let position = name
            .strip_prefix('$')
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|n| *n >= 1)
            .ok_or_else(|| {
                Status::invalid_argument(format!(
                    "parameter {name}: only positional parameters ($1, ?) are supported"
                ))
            })?;
        numbered.push((position, data_type));
    }
    numbered.sort_by_key(|(position, _)| *position);
    // $1 and $3 without $2 still make three parameters; $2's type is unknown.
    let count = numbered.last().map_or(0, |(p, _)| *p);
    let mut out = vec![None; count];
    for (position, data_type) in numbered {
        out[position - 1] = data_type;
    }
    Ok(out)
}
