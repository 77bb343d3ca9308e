//! `table_at('schema.table', version | timestamp)`: a Delta table as it was.
//!
//! Loading a version reads the object store, and table functions are
//! planned synchronously, so the engine loads every version a statement
//! asks for before planning ([`load`]) into a [`VersionCache`] that the
//! table function then reads. The statement itself is left as written, so
//! the plan can be re-planned from the same SQL elsewhere.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use datafusion::catalog::{TableFunctionImpl, TableProvider};
use datafusion::common::{Result as DFResult, ScalarValue, plan_err};
use datafusion::logical_expr::Expr;
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::sqlparser::ast::{
    DataType as SqlType, Expr as SqlExpr, FunctionArg, FunctionArgExpr, Value, ValueWithSpan,
};

use super::{At, DeltaSnapshotTable};
use crate::catalog::rewrite::string_literal;
use crate::error::{Error, Result};
use crate::lake::{DeltaTableSpec, LakeLocation};
use crate::tables::args;

/// The SQL name.
pub const TABLE_AT: &str = "table_at";

/// How many loaded versions a session keeps; older ones are reloaded.
const CAPACITY: usize = 64;

/// Loaded versions by (table name, version asked for).
type Versions = HashMap<(String, At), Arc<DeltaSnapshotTable>>;

/// Versions loaded for `table_at`, shared by an engine's sessions.
#[derive(Debug, Default, Clone)]
pub struct VersionCache(Arc<Mutex<Versions>>);

impl VersionCache {
    fn get(&self, name: &str, at: &At) -> Option<Arc<DeltaSnapshotTable>> {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.get(&(name.to_string(), at.clone())).cloned()
    }

    fn put(&self, name: &str, at: At, table: Arc<DeltaSnapshotTable>) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= CAPACITY {
            map.clear();
        }
        map.insert((name.to_string(), at), table);
    }
}

/// The `table_at` table function; reads what [`load`] put in the cache.
#[derive(Debug)]
pub struct TableAtFunction {
    /// The engine's cache.
    pub cache: VersionCache,
}

const USAGE: &str = "table_at('schema.table', version | timestamp)";

impl TableFunctionImpl for TableAtFunction {
    fn call(&self, exprs: &[Expr]) -> DFResult<Arc<dyn TableProvider>> {
        args::check_count(TABLE_AT, exprs, 2, 2, USAGE)?;
        let name = args::name_arg(TABLE_AT, 0, "table", exprs)?.to_lowercase();
        let Some(value) = args::constant_arg(TABLE_AT, 1, "version or timestamp", exprs)? else {
            return plan_err!("{TABLE_AT}: argument 2 (version or timestamp) is missing");
        };
        let at = match at_of_scalar(&value) {
            Ok(at) => at,
            Err(why) => return plan_err!("{TABLE_AT}: argument 2 (version or timestamp): {why}"),
        };
        match self.cache.get(&name, &at) {
            Some(table) => Ok(table),
            None => plan_err!(
                "{TABLE_AT}: {name} at {at} was not loaded; table_at works through the microseg engine, with literal arguments"
            ),
        }
    }
}

/// Parses a timestamp given as text: RFC 3339, `YYYY-MM-DD HH:MM:SS[.f]`
/// (UTC) or a date (its midnight, UTC).
fn parse_timestamp(text: &str) -> std::result::Result<DateTime<Utc>, String> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    for format in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, format) {
            return Ok(t.and_utc());
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc());
    }
    Err(format!(
        "{text:?} is neither a version number nor a timestamp such as '2026-10-31T06:00:00Z'"
    ))
}

/// What a folded argument value means.
fn at_of_scalar(value: &ScalarValue) -> std::result::Result<At, String> {
    let micros = |v: &ScalarValue| match v.cast_to(
        &datafusion::arrow::datatypes::DataType::Timestamp(
            datafusion::arrow::datatypes::TimeUnit::Microsecond,
            None,
        ),
    ) {
        Ok(ScalarValue::TimestampMicrosecond(Some(us), _)) => DateTime::from_timestamp_micros(us)
            .map(At::Timestamp)
            .ok_or_else(|| format!("{v} is out of range")),
        _ => Err(format!("cannot read {v} as a timestamp")),
    };
    match value {
        ScalarValue::Int8(Some(_))
        | ScalarValue::Int16(Some(_))
        | ScalarValue::Int32(Some(_))
        | ScalarValue::Int64(Some(_))
        | ScalarValue::UInt8(Some(_))
        | ScalarValue::UInt16(Some(_))
        | ScalarValue::UInt32(Some(_))
        | ScalarValue::UInt64(Some(_)) => {
            match value.cast_to(&datafusion::arrow::datatypes::DataType::Int64) {
                Ok(ScalarValue::Int64(Some(v))) if v >= 0 => Ok(At::Version(v as u64)),
                _ => Err(format!("version {value} must be ≥ 0")),
            }
        }
        ScalarValue::Utf8(Some(s))
        | ScalarValue::Utf8View(Some(s))
        | ScalarValue::LargeUtf8(Some(s)) => parse_timestamp(s).map(At::Timestamp),
        ScalarValue::TimestampSecond(Some(_), _)
        | ScalarValue::TimestampMillisecond(Some(_), _)
        | ScalarValue::TimestampMicrosecond(Some(_), _)
        | ScalarValue::TimestampNanosecond(Some(_), _)
        | ScalarValue::Date32(Some(_))
        | ScalarValue::Date64(Some(_)) => micros(value),
        other => Err(format!(
            "expected a version number or a timestamp, got {other} ({})",
            other.data_type()
        )),
    }
}

/// What a literal argument in the syntax tree means; `None` for anything
/// else (the table function then reports it).
fn at_of_sql(arg: &FunctionArg) -> Option<std::result::Result<At, String>> {
    let FunctionArg::Unnamed(FunctionArgExpr::Expr(expr)) = arg else {
        return None;
    };
    match expr {
        SqlExpr::Value(ValueWithSpan {
            value: Value::Number(n, _),
            ..
        }) => Some(
            n.parse::<u64>()
                .map(At::Version)
                .map_err(|_| format!("version {n} must be a whole number ≥ 0")),
        ),
        SqlExpr::TypedString(typed)
            if matches!(
                typed.data_type,
                SqlType::Timestamp(..) | SqlType::Date | SqlType::Datetime(_)
            ) =>
        {
            let text = match &typed.value.value {
                Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => s.clone(),
                other => other.to_string(),
            };
            Some(parse_timestamp(&text).map(At::Timestamp))
        }
        _ => string_literal(arg).map(|s| parse_timestamp(s).map(At::Timestamp)),
    }
}

/// Loads every version a statement's `table_at` calls name into `cache`.
pub async fn load(
    ctx: &SessionContext,
    location: &LakeLocation,
    cache: &VersionCache,
    statement: &mut DFStatement,
) -> Result<()> {
    let calls = crate::models::lookalike::calls_of(statement, TABLE_AT)?;
    for call in calls {
        if call.len() != 2 {
            return Err(Error::Usage(format!(
                "{TABLE_AT}: expected 2 arguments, got {}: {USAGE}",
                call.len()
            )));
        }
        let name = string_literal(&call[0])
            .ok_or_else(|| {
                Error::Usage(format!(
                    "{TABLE_AT}: argument 1 (table) must be a string literal such as 'segments.customer_segments'"
                ))
            })?
            .to_lowercase();
        let at = match at_of_sql(&call[1]) {
            Some(Ok(at)) => at,
            Some(Err(why)) => {
                return Err(Error::Usage(format!(
                    "{TABLE_AT}: argument 2 (version or timestamp): {why}"
                )));
            }
            None => {
                return Err(Error::Usage(format!(
                    "{TABLE_AT}: argument 2 must be a version number or a timestamp literal, got {}",
                    call[1]
                )));
            }
        };
        if cache.get(&name, &at).is_some() && !matches!(at, At::Latest) {
            continue;
        }
        let folder = name.replace('.', "/");
        if super::latest_version(location, &folder).await?.is_none() {
            return Err(Error::Usage(format!(
                "{TABLE_AT}: {name} is not a Delta table of the lake (no _delta_log under {folder}/)"
            )));
        }
        let table = super::open(location, &folder, &at)
            .await
            .map_err(|e| Error::Usage(format!("{TABLE_AT}: cannot read {name} at {at}: {e}")))?;
        if let At::Timestamp(t) = &at {
            // delta-rs answers a time before the first commit with version 0;
            // the table did not exist then, which is an error, not an answer.
            let first = table
                .snapshot()
                .ok()
                .and_then(|s| s.version_timestamp(s.version()))
                .and_then(chrono::DateTime::from_timestamp_millis);
            if let Some(first) = first.filter(|f| f > t) {
                return Err(Error::Usage(format!(
                    "{TABLE_AT}: {name} has no version as old as {} (the oldest it can read is from {})",
                    t.to_rfc3339(),
                    first.to_rfc3339()
                )));
            }
        }
        let spec = DeltaTableSpec {
            name: name.clone(),
            folder,
        };
        let provider = DeltaSnapshotTable::try_new(ctx, location, &spec, &table).await?;
        cache.put(&name, at, Arc::new(provider));
    }
    Ok(())
}
