//! What a client receives: plain Arrow types in place of view and
//! dictionary types, schemas as IPC bytes, and engine errors as gRPC
//! statuses.

use std::sync::Arc;

use arrow_flight::error::FlightError;
use arrow_flight::{IpcMessage, SchemaAsIpc};
use datafusion::arrow::array::{ArrayRef, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, FieldRef, Schema, SchemaRef};
use datafusion::arrow::ipc::writer::IpcWriteOptions;
use datafusion::error::DataFusionError;
use tonic::Status;

/// The status for an engine error: the user's mistakes are InvalidArgument,
/// memory is ResourceExhausted, the rest Internal; the message is the
/// engine's own (it names the table, column or file).
pub fn engine_status(e: crate::Error) -> Status {
    use crate::Error;
    // A session's policy refused it (a reader's training query or path).
    if let Some(refused) = e.refusal() {
        return Status::permission_denied(refused.to_string());
    }
    let message = e.to_string();
    match &e {
        Error::Usage(_) | Error::Config { .. } | Error::Lake { .. } => {
            Status::invalid_argument(message)
        }
        Error::DataFusion(df) => match df.find_root() {
            DataFusionError::ResourcesExhausted(_) => Status::resource_exhausted(message),
            DataFusionError::NotImplemented(_) => Status::unimplemented(message),
            DataFusionError::SQL(..)
            | DataFusionError::Plan(_)
            | DataFusionError::SchemaError(..)
            | DataFusionError::Configuration(_) => Status::invalid_argument(message),
            _ => Status::internal(message),
        },
        _ => Status::internal(message),
    }
}

/// [`engine_status`] for an error inside a result stream.
pub(super) fn df_flight_error(e: DataFusionError) -> FlightError {
    FlightError::Tonic(Box::new(engine_status(crate::Error::from(e))))
}

/// What a client sees: view and dictionary types as their plain forms,
/// which every Flight SQL client (JDBC, ODBC, older pyarrow) understands.
pub fn wire_schema(schema: &Schema) -> SchemaRef {
    Arc::new(Schema::new_with_metadata(
        schema.fields().iter().map(wire_field).collect::<Vec<_>>(),
        schema.metadata().clone(),
    ))
}

fn wire_field(field: &FieldRef) -> FieldRef {
    let data_type = wire_type(field.data_type());
    if &data_type == field.data_type() {
        field.clone()
    } else {
        Arc::new(field.as_ref().clone().with_data_type(data_type))
    }
}

fn wire_type(data_type: &DataType) -> DataType {
    match data_type {
        DataType::Utf8View => DataType::Utf8,
        DataType::BinaryView => DataType::Binary,
        DataType::Dictionary(_, value) => wire_type(value),
        DataType::List(f) => DataType::List(wire_field(f)),
        DataType::ListView(f) => DataType::List(wire_field(f)),
        DataType::LargeList(f) => DataType::LargeList(wire_field(f)),
        DataType::LargeListView(f) => DataType::LargeList(wire_field(f)),
        DataType::FixedSizeList(f, n) => DataType::FixedSizeList(wire_field(f), *n),
        DataType::Struct(fields) => DataType::Struct(fields.iter().map(wire_field).collect()),
        DataType::Map(f, sorted) => DataType::Map(wire_field(f), *sorted),
        other => other.clone(),
    }
}

/// Casts `batch` to the announced schema (a no-op for columns already in it).
pub(super) fn to_wire(batch: &RecordBatch, schema: &SchemaRef) -> Result<RecordBatch, FlightError> {
    if batch.schema().fields() == schema.fields() {
        return Ok(batch.clone());
    }
    let columns = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(column, field)| {
            if column.data_type() == field.data_type() {
                Ok(column.clone())
            } else {
                cast(column, field.data_type())
            }
        })
        .collect::<Result<Vec<ArrayRef>, _>>()?;
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

/// A schema as the IPC message Flight SQL sends it in.
pub(super) fn schema_bytes(schema: &Schema) -> Result<Vec<u8>, Status> {
    let message: IpcMessage = SchemaAsIpc::new(schema, &IpcWriteOptions::default())
        .try_into()
        .map_err(|e| Status::internal(format!("encoding a schema: {e}")))?;
    Ok(message.0.to_vec())
}
