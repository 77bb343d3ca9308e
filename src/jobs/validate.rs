//! Checks made before a run commits: the key is non-NULL and unique, and
//! the schema is compatible with the table's previous version.
//!
//! The key check runs inside the write's own plan (a pass-through function
//! on the key column), so the job's SQL executes once and the rows stream
//! straight into the files; a violation fails the write before its commit,
//! which is the only point at which anything becomes visible.

use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::datatypes::{DataType, Int64Type, Schema};
use datafusion::arrow::row::{RowConverter, SortField};
use datafusion::common::{Result as DFResult, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

/// What the key check has seen so far in one run.
#[derive(Debug, Default)]
pub struct KeyState {
    ints: HashSet<i64>,
    other: HashSet<Box<[u8]>>,
    /// Rows checked (and so written, if the run commits).
    pub rows: u64,
    /// The first violation, in words; set once.
    pub violation: Option<String>,
}

/// Pass-through function on the key column that fails on a NULL or on a
/// value seen before in the same run.
#[derive(Debug)]
pub struct KeyCheck {
    /// The key column's name, for messages.
    pub column: String,
    /// Shared with the runner, which reads `rows` and `violation`.
    pub state: Arc<Mutex<KeyState>>,
    signature: Signature,
}

impl KeyCheck {
    /// A check of `column`.
    pub fn new(column: &str) -> KeyCheck {
        KeyCheck {
            column: column.to_string(),
            state: Arc::default(),
            signature: Signature::any(1, Volatility::Volatile),
        }
    }
}

impl PartialEq for KeyCheck {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.state, &other.state)
    }
}

impl Eq for KeyCheck {}

impl Hash for KeyCheck {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (Arc::as_ptr(&self.state) as usize).hash(state);
    }
}

fn shown(array: &ArrayRef, row: usize) -> String {
    datafusion::arrow::util::display::array_value_to_string(array, row)
        .unwrap_or_else(|_| format!("row {row}"))
}

impl ScalarUDFImpl for KeyCheck {
    fn name(&self) -> &str {
        "microseg_key_check"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> DFResult<DataType> {
        Ok(arg_types[0].clone())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DFResult<ColumnarValue> {
        let array = args.args[0].clone().into_array(args.number_rows)?;
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let fail = |state: &mut KeyState, message: String| {
            if state.violation.is_none() {
                state.violation = Some(message.clone());
            }
            exec_err!("{message}")
        };
        if array.null_count() > 0 {
            return fail(
                &mut state,
                format!("key column {} is NULL in some rows", self.column),
            );
        }
        match array.data_type() {
            DataType::Int64 => {
                let values = array.as_primitive::<Int64Type>();
                for (row, v) in values.values().iter().enumerate() {
                    if !state.ints.insert(*v) {
                        return fail(
                            &mut state,
                            format!(
                                "key column {} is not unique: {} appears more than once",
                                self.column,
                                shown(&array, row)
                            ),
                        );
                    }
                }
            }
            other => {
                let converter = RowConverter::new(vec![SortField::new(other.clone())])?;
                let rows = converter.convert_columns(&[Arc::clone(&array)])?;
                for (row, bytes) in rows.iter().enumerate() {
                    if !state.other.insert(bytes.as_ref().into()) {
                        return fail(
                            &mut state,
                            format!(
                                "key column {} is not unique: {} appears more than once",
                                self.column,
                                shown(&array, row)
                            ),
                        );
                    }
                }
            }
        }
        state.rows += array.len() as u64;
        Ok(ColumnarValue::Array(array))
    }
}

/// Strings and binaries compare by content whatever their Arrow layout:
/// Delta stores `string`, DataFusion may hand it back as a view.
fn normalized(data_type: &DataType) -> DataType {
    match data_type {
        DataType::Utf8View | DataType::LargeUtf8 => DataType::Utf8,
        DataType::BinaryView | DataType::LargeBinary => DataType::Binary,
        DataType::Dictionary(_, value) => normalized(value),
        DataType::Timestamp(_, tz) => DataType::Timestamp(
            datafusion::arrow::datatypes::TimeUnit::Microsecond,
            tz.clone(),
        ),
        other => other.clone(),
    }
}

/// Compares the run's schema with the previous version's: every previous
/// column must still be there with the same type; new columns are allowed.
/// Returns the new column names.
pub fn compatible(
    table: &str,
    version: u64,
    previous: &Schema,
    next: &Schema,
) -> Result<Vec<String>, String> {
    for field in previous.fields() {
        match next.field_with_name(field.name()) {
            Err(_) => {
                return Err(format!(
                    "column {} of {table} (version {version}) is missing from the job's result; \
                     dropping a column needs a new table",
                    field.name()
                ));
            }
            Ok(new) if normalized(new.data_type()) != normalized(field.data_type()) => {
                return Err(format!(
                    "column {} of {table} changes type from {} (version {version}) to {}; \
                     cast it in the job's SQL or write a new table",
                    field.name(),
                    field.data_type(),
                    new.data_type()
                ));
            }
            Ok(_) => {}
        }
    }
    Ok(next
        .fields()
        .iter()
        .filter(|f| previous.field_with_name(f.name()).is_err())
        .map(|f| f.name().clone())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::Field;

    #[test]
    fn added_columns_pass_and_changed_types_name_the_column() {
        let old = Schema::new(vec![
            Field::new("customer_id", DataType::Int64, false),
            Field::new("segment", DataType::Utf8, true),
        ]);
        let added = Schema::new(vec![
            Field::new("customer_id", DataType::Int64, false),
            Field::new("segment", DataType::Utf8View, true),
            Field::new("score", DataType::Float64, true),
        ]);
        assert_eq!(
            compatible("t", 3, &old, &added),
            Ok(vec!["score".to_string()])
        );
        let changed = Schema::new(vec![
            Field::new("customer_id", DataType::Utf8, false),
            Field::new("segment", DataType::Utf8, true),
        ]);
        let err = compatible("t", 3, &old, &changed).unwrap_err();
        assert!(
            err.contains("column customer_id") && err.contains("Int64"),
            "{err}"
        );
        let dropped = Schema::new(vec![Field::new("customer_id", DataType::Int64, false)]);
        let err = compatible("t", 3, &old, &dropped).unwrap_err();
        assert!(
            err.contains("column segment") && err.contains("missing"),
            "{err}"
        );
    }
}
