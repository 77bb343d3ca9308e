//! DataFusion's `generate_series` / `range` tables on the way to the
//! scheduler: the logical plan carries the table's provider, which
//! DataFusion's serde does not write. The provider keeps its arguments
//! private, so they are read back from the generator it makes (whose
//! getters DataFusion's own physical serde uses) and the table is built
//! again from them on the other side.

use std::sync::Arc;

use datafusion::arrow::datatypes::{IntervalMonthDayNano, SchemaRef};
use datafusion::catalog::TableProvider;
use datafusion::common::{DataFusionError, Result};
use datafusion::functions_table::generate_series::{
    Empty, GenSeriesArgs, GenerateSeriesTable, GenericSeriesState, TimestampValue,
};
use serde::{Deserialize, Serialize};

/// Marks a series table in the codec's buffer.
pub(super) const SERIES: &[u8] = b"microseg.series\0";

/// The arguments, as sent.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
enum Args {
    /// A NULL argument: no rows.
    Null { name: String },
    Int64 {
        name: String,
        start: i64,
        end: i64,
        step: i64,
        include_end: bool,
    },
    /// Timestamps (and dates, which the table turns into timestamps).
    Timestamp {
        name: String,
        start: i64,
        end: i64,
        /// Months, days, nanoseconds.
        step: (i32, i32, i64),
        tz: Option<String>,
        include_end: bool,
    },
}

/// The function's own name as a `'static` string (the table keeps one).
fn static_name(name: &str) -> Result<&'static str> {
    match name {
        "generate_series" => Ok("generate_series"),
        "range" => Ok("range"),
        other => Err(DataFusionError::Plan(format!(
            "a series table named {other:?} cannot be sent to the cluster"
        ))),
    }
}

/// Appends `table`'s arguments; `false` if it is not a series table.
pub(super) fn encode(table: &dyn TableProvider, buf: &mut Vec<u8>) -> Result<bool> {
    let Some(table) = table.downcast_ref::<GenerateSeriesTable>() else {
        return Ok(false);
    };
    let generator = table.as_generator(1)?;
    let generator = generator.read();
    let any = generator.as_any();
    let args = if let Some(g) = any.downcast_ref::<Empty>() {
        Args::Null {
            name: g.name().into(),
        }
    } else if let Some(g) = any.downcast_ref::<GenericSeriesState<i64>>() {
        Args::Int64 {
            name: g.name().into(),
            start: *g.start(),
            end: *g.end(),
            step: *g.step(),
            include_end: g.include_end(),
        }
    } else if let Some(g) = any.downcast_ref::<GenericSeriesState<TimestampValue>>() {
        let step = g.step();
        Args::Timestamp {
            name: g.name().into(),
            start: g.start().value(),
            end: g.end().value(),
            step: (step.months, step.days, step.nanoseconds),
            tz: g.start().tz_str().map(|t| t.to_string()),
            include_end: g.include_end(),
        }
    } else {
        return Err(DataFusionError::NotImplemented(format!(
            "this kind of series ({generator}) cannot be sent to the cluster yet"
        )));
    };
    buf.extend_from_slice(SERIES);
    serde_json::to_writer(&mut *buf, &args)
        .map_err(|e| DataFusionError::Internal(format!("series arguments: {e}")))?;
    Ok(true)
}

/// The table of [`encode`]'s arguments, with the plan's schema.
pub(super) fn decode(buf: &[u8], schema: SchemaRef) -> Result<Arc<dyn TableProvider>> {
    let args: Args = serde_json::from_slice(buf).map_err(|e| {
        DataFusionError::Plan(format!(
            "the series table sent with the plan is corrupt ({e}): are client and cluster the same microseg version?"
        ))
    })?;
    let args = match args {
        Args::Null { name } => GenSeriesArgs::ContainsNull {
            name: static_name(&name)?,
        },
        Args::Int64 {
            name,
            start,
            end,
            step,
            include_end,
        } => GenSeriesArgs::Int64Args {
            start,
            end,
            step,
            include_end,
            name: static_name(&name)?,
        },
        Args::Timestamp {
            name,
            start,
            end,
            step: (months, days, nanoseconds),
            tz,
            include_end,
        } => GenSeriesArgs::TimestampArgs {
            start,
            end,
            step: IntervalMonthDayNano {
                months,
                days,
                nanoseconds,
            },
            tz: tz.map(Arc::from),
            include_end,
            name: static_name(&name)?,
        },
    };
    Ok(Arc::new(GenerateSeriesTable::new(schema, args)))
}
