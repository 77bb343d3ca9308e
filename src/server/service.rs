//! The Flight SQL service: every SQL text goes through the session's
//! `Engine::plan` → role check → `Engine::execute`; results stream batch
//! by batch.
//!
//! This file dispatches the calls; what bounds a query is in `limits.rs`,
//! what the client receives (types, schemas, statuses) in `wire.rs`.

use std::pin::Pin;
use std::sync::Arc;

use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::error::FlightError;
use arrow_flight::flight_service_server::FlightService;
use arrow_flight::sql::Any;
use arrow_flight::sql::metadata::{SqlInfoData, XdbcTypeInfoData};
use arrow_flight::sql::server::{FlightSqlService, PeekableFlightDataStream};
use arrow_flight::sql::{
    ActionClosePreparedStatementRequest, ActionCreatePreparedStatementRequest,
    ActionCreatePreparedStatementResult, CommandGetCatalogs, CommandGetCrossReference,
    CommandGetDbSchemas, CommandGetExportedKeys, CommandGetImportedKeys, CommandGetPrimaryKeys,
    CommandGetSqlInfo, CommandGetTableTypes, CommandGetTables, CommandGetXdbcTypeInfo,
    CommandPreparedStatementQuery, CommandPreparedStatementUpdate, CommandStatementQuery,
    CommandStatementUpdate, DoPutPreparedStatementResult, ProstMessageExt, SqlInfo,
    TicketStatementQuery,
};
use arrow_flight::{
    Action, ActionType, CancelFlightInfoRequest, CancelFlightInfoResult, CancelStatus,
    FlightDescriptor, FlightEndpoint, FlightInfo, HandshakeRequest, HandshakeResponse, Ticket,
};
use datafusion::arrow::array::{RecordBatch, UInt64Array};
use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::dataframe::DataFrame;
use futures::{Stream, StreamExt, TryStreamExt};
use prost::Message;
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Instant;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::{Request, Response, Status, Streaming};

use super::audit::Pending;
use super::auth::{Auth, unauthenticated};
use super::limits::Gate;
use super::metadata::{self, foreign_keys_schema, keys_schema};
use super::prepared::Prepared;
use super::roles::authorize;
use super::session::{Cancelled, PendingResult, Session};
use super::wire::{df_flight_error, schema_bytes, to_wire};
use crate::engine::Planned;

// Kept at their old paths for callers of `server::service`.
pub use super::limits::Limits;
pub use super::wire::{engine_status, wire_schema};

/// The Flight (not Flight SQL) action that cancels a FlightInfo's query.
const CANCEL_FLIGHT_INFO: &str = "CancelFlightInfo";

/// The Flight SQL service over one lake.
pub struct MicrosegFlightSql {
    auth: Arc<Auth>,
    sql_info: SqlInfoData,
    xdbc_types: XdbcTypeInfoData,
    gate: Gate,
}

type DoGetStream = <MicrosegFlightSql as FlightService>::DoGetStream;

impl MicrosegFlightSql {
    /// A service authenticating through `auth`, within `limits`.
    pub fn new(auth: Arc<Auth>, limits: Limits) -> Result<Self, Status> {
        Ok(MicrosegFlightSql {
            auth,
            sql_info: metadata::sql_info()?,
            xdbc_types: metadata::xdbc_types()?,
            gate: Gate::new(limits),
        })
    }

    /// Plans `sql` in the session, checks the role, runs it; `audit` learns what it reads.
    async fn run_sql(
        &self,
        session: &Session,
        sql: &str,
        audit: &mut Pending,
    ) -> Result<DataFrame, Status> {
        let planned = session.engine.plan(sql).await.map_err(engine_status)?;
        audit.reads(&planned);
        self.run_planned(session, planned).await
    }

    async fn run_planned(&self, session: &Session, planned: Planned) -> Result<DataFrame, Status> {
        authorize(session.user.role, &planned, &session.engine.lake().location)
            .map_err(Status::permission_denied)?;
        let df = session
            .engine
            .execute(planned)
            .await
            .map_err(engine_status)?;
        Ok(self.gate.cap_memory(df))
    }

    /// A FlightInfo whose one endpoint's ticket fetches `handle`.
    fn result_info(
        &self,
        session: &Session,
        frames: Vec<DataFrame>,
        permit: OwnedSemaphorePermit,
        deadline: Instant,
        descriptor: FlightDescriptor,
        audit: Pending,
    ) -> Result<Response<FlightInfo>, Status> {
        let schema = match frames.first() {
            Some(df) => wire_schema(df.schema().as_arrow()),
            None => Arc::new(Schema::empty()),
        };
        let mut pending = PendingResult::new(schema.clone(), frames, Some(permit), deadline);
        pending.audit = Some(audit);
        let handle = session.put_result(pending);
        let ticket = TicketStatementQuery {
            statement_handle: handle.into(),
        };
        let info = FlightInfo::new()
            .try_with_schema(&schema)
            .map_err(|e| Status::internal(format!("encoding the schema: {e}")))?
            .with_endpoint(
                FlightEndpoint::new().with_ticket(Ticket::new(ticket.as_any().encode_to_vec())),
            )
            .with_descriptor(descriptor)
            .with_ordered(true);
        Ok(Response::new(info))
    }

    /// A FlightInfo for a metadata command: the ticket is the command.
    fn metadata_info(
        &self,
        command: impl ProstMessageExt,
        schema: SchemaRef,
        descriptor: FlightDescriptor,
    ) -> Result<Response<FlightInfo>, Status> {
        let info = FlightInfo::new()
            .try_with_schema(&schema)
            .map_err(|e| Status::internal(format!("encoding the schema: {e}")))?
            .with_endpoint(
                FlightEndpoint::new().with_ticket(Ticket::new(command.as_any().encode_to_vec())),
            )
            .with_descriptor(descriptor);
        Ok(Response::new(info))
    }

    fn stream_result(
        &self,
        session: &Arc<Session>,
        handle: Vec<u8>,
        result: PendingResult,
    ) -> Response<DoGetStream> {
        let PendingResult {
            schema,
            frames,
            permit,
            deadline,
            audit,
            ..
        } = result;
        let (cancel, guard) = session.start_running(handle);
        let target = schema.clone();
        let batches = futures::stream::iter(frames)
            .then(|df| async move { df.execute_stream().await })
            .map_err(df_flight_error)
            .map_ok(|stream| stream.map_err(df_flight_error))
            .try_flatten()
            .map(move |batch| batch.and_then(|b| to_wire(&b, &target)));
        let bounded = Box::pin(self.gate.bound(batches, deadline, cancel, permit, guard));
        let bounded = match audit {
            Some(audit) => super::audit::audited(bounded, audit),
            None => bounded,
        };
        let encoded = FlightDataEncoderBuilder::new()
            .with_schema(schema)
            .build(bounded)
            .map_err(Status::from);
        Response::new(Box::pin(encoded) as DoGetStream)
    }

    fn batch_stream(batch: RecordBatch) -> Response<DoGetStream> {
        let schema = batch.schema();
        let encoded = FlightDataEncoderBuilder::new()
            .with_schema(schema)
            .build(futures::stream::once(async move { Ok(batch) }))
            .map_err(Status::from);
        Response::new(Box::pin(encoded) as DoGetStream)
    }
}

/// Rows affected: DataFusion's DML answers one `count` row; DDL, SET and
/// our statements answer none (0).
async fn affected_rows(df: DataFrame) -> Result<i64, Status> {
    let is_count = {
        let fields = df.schema().fields();
        fields.len() == 1 && fields[0].name() == "count"
    };
    let mut stream = df
        .execute_stream()
        .await
        .map_err(|e| engine_status(e.into()))?;
    let mut total: i64 = 0;
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(|e| engine_status(e.into()))?;
        let counts = batch
            .columns()
            .first()
            .and_then(|c| c.as_any().downcast_ref::<UInt64Array>())
            .filter(|_| is_count);
        let n = match counts {
            Some(counts) => counts.iter().flatten().sum::<u64>(),
            None => batch.num_rows() as u64,
        };
        total = total.saturating_add(i64::try_from(n).unwrap_or(i64::MAX));
    }
    Ok(total)
}

fn session_of<T>(request: &Request<T>) -> Result<Arc<Session>, Status> {
    request
        .extensions()
        .get::<Arc<Session>>()
        .cloned()
        .ok_or_else(unauthenticated)
}

/// Parameter rows of a DoPut, as record batches.
async fn read_batches(
    request: Request<PeekableFlightDataStream>,
) -> Result<Vec<RecordBatch>, Status> {
    // A DoPut that only names its command (as arrow-flight's client sends
    // for an update after binding) carries one message with no header.
    let stream = request
        .into_inner()
        .try_filter(|data| futures::future::ready(!data.data_header.is_empty()))
        .map_err(FlightError::from);
    arrow_flight::decode::FlightRecordBatchStream::new_from_flight_data(stream)
        .try_collect::<Vec<_>>()
        .await
        .map_err(|e| Status::invalid_argument(format!("reading parameters: {e}")))
}

#[tonic::async_trait]
impl FlightSqlService for MicrosegFlightSql {
    type FlightService = MicrosegFlightSql;

    async fn do_handshake(
        &self,
        request: Request<Streaming<HandshakeRequest>>,
    ) -> Result<
        Response<Pin<Box<dyn Stream<Item = Result<HandshakeResponse, Status>> + Send>>>,
        Status,
    > {
        let header = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let token = self.auth.handshake(header.as_deref()).await?;
        let response = HandshakeResponse {
            protocol_version: 0,
            payload: token.clone().into(),
        };
        let mut response = Response::new(Box::pin(futures::stream::iter([Ok(response)]))
            as Pin<Box<dyn Stream<Item = Result<HandshakeResponse, Status>> + Send>>);
        let bearer: MetadataValue<Ascii> = format!("Bearer {token}")
            .parse()
            .map_err(|_| Status::internal("token is not a valid header"))?;
        response.metadata_mut().insert("authorization", bearer);
        Ok(response)
    }

    async fn get_flight_info_statement(
        &self,
        query: CommandStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let session = session_of(&request)?;
        let mut audit = Pending::start(&session, &query.query);
        let run = async {
            let permit = self.gate.slot().await?;
            let deadline = self.gate.deadline();
            let df = self
                .gate
                .before(deadline, self.run_sql(&session, &query.query, &mut audit))
                .await?;
            Ok((df, permit, deadline))
        };
        let (df, permit, deadline) = match run.await {
            Ok(ran) => ran,
            Err(status) => return Err(audit.failed(status).await),
        };
        self.result_info(
            &session,
            vec![df],
            permit,
            deadline,
            request.into_inner(),
            audit,
        )
    }

    async fn do_get_statement(
        &self,
        ticket: TicketStatementQuery,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        let session = session_of(&request)?;
        let handle = ticket.statement_handle.to_vec();
        let result = session.take_result(&handle).ok_or_else(|| {
            Status::not_found("unknown or already fetched result: call GetFlightInfo again")
        })?;
        Ok(self.stream_result(&session, handle, result))
    }

    async fn do_put_statement_update(
        &self,
        command: CommandStatementUpdate,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<i64, Status> {
        let session = session_of(&request)?;
        let mut audit = Pending::start(&session, &command.query);
        let update = async {
            let _permit = self.gate.slot().await?;
            let update = async {
                let df = self.run_sql(&session, &command.query, &mut audit).await?;
                affected_rows(df).await
            };
            self.gate.before(self.gate.deadline(), update).await
        };
        match update.await {
            Ok(rows) => {
                audit.ok(rows).await?;
                Ok(rows)
            }
            Err(status) => Err(audit.failed(status).await),
        }
    }

    async fn do_action_create_prepared_statement(
        &self,
        query: ActionCreatePreparedStatementRequest,
        request: Request<Action>,
    ) -> Result<ActionCreatePreparedStatementResult, Status> {
        let session = session_of(&request)?;
        // Planning opens files named as tables (schema inference).
        let planning = async {
            session
                .engine
                .plan(&query.query)
                .await
                .map_err(engine_status)
        };
        let planned = self.gate.before(self.gate.deadline(), planning).await?;
        authorize(session.user.role, &planned, &session.engine.lake().location)
            .map_err(Status::permission_denied)?;
        let dataset_schema = match &planned {
            Planned::DataFusion(plan) => wire_schema(plan.schema().as_arrow()),
            // Ours run when executed; their result schema is known then.
            Planned::Microseg(_) => Arc::new(Schema::empty()),
        };
        let mut prepared = Prepared::new(planned)?;
        prepared.statement = query.query.clone();
        let parameter_schema = schema_bytes(&prepared.parameter_schema)?;
        let handle = session.put_prepared(prepared);
        Ok(ActionCreatePreparedStatementResult {
            prepared_statement_handle: handle.into(),
            dataset_schema: schema_bytes(&dataset_schema)?.into(),
            parameter_schema: parameter_schema.into(),
        })
    }

    async fn do_action_close_prepared_statement(
        &self,
        query: ActionClosePreparedStatementRequest,
        request: Request<Action>,
    ) -> Result<(), Status> {
        let session = session_of(&request)?;
        if session.close_prepared(&query.prepared_statement_handle) {
            Ok(())
        } else {
            Err(Status::not_found("unknown prepared statement"))
        }
    }

    async fn do_put_prepared_statement_query(
        &self,
        query: CommandPreparedStatementQuery,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<DoPutPreparedStatementResult, Status> {
        let session = session_of(&request)?;
        let batches = read_batches(request).await?;
        let handle = query.prepared_statement_handle;
        session
            .with_prepared(&handle, |p| p.bound = batches)
            .ok_or_else(|| Status::not_found("unknown prepared statement"))?;
        Ok(DoPutPreparedStatementResult {
            prepared_statement_handle: Some(handle),
        })
    }

    async fn get_flight_info_prepared_statement(
        &self,
        query: CommandPreparedStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let session = session_of(&request)?;
        let (plans, text) = session
            .with_prepared(&query.prepared_statement_handle, |p| {
                (p.plans(), p.statement.clone())
            })
            .ok_or_else(|| Status::not_found("unknown prepared statement"))?;
        let mut audit = Pending::start(&session, &text);
        let run = async {
            let plans = plans?;
            let permit = self.gate.slot().await?;
            let deadline = self.gate.deadline();
            let run = async {
                let mut frames = Vec::with_capacity(plans.len());
                for planned in plans {
                    audit.reads(&planned);
                    frames.push(self.run_planned(&session, planned).await?);
                }
                Ok(frames)
            };
            let frames = self.gate.before(deadline, run).await?;
            Ok((frames, permit, deadline))
        };
        let (frames, permit, deadline) = match run.await {
            Ok(ran) => ran,
            Err(status) => return Err(audit.failed(status).await),
        };
        self.result_info(
            &session,
            frames,
            permit,
            deadline,
            request.into_inner(),
            audit,
        )
    }

    async fn do_put_prepared_statement_update(
        &self,
        query: CommandPreparedStatementUpdate,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<i64, Status> {
        let session = session_of(&request)?;
        let handle = query.prepared_statement_handle;
        let batches = read_batches(request).await?;
        let (plans, text) = session
            .with_prepared(&handle, |p| {
                // Parameters may come with this call (ADBC) or have been
                // bound before it.
                if !batches.is_empty() {
                    p.bound = batches;
                }
                (p.plans(), p.statement.clone())
            })
            .ok_or_else(|| Status::not_found("unknown prepared statement"))?;
        let mut audit = Pending::start(&session, &text);
        let update = async {
            let plans = plans?;
            let _permit = self.gate.slot().await?;
            let update = async {
                let mut total = 0i64;
                for planned in plans {
                    audit.reads(&planned);
                    let df = self.run_planned(&session, planned).await?;
                    total = total.saturating_add(affected_rows(df).await?);
                }
                Ok(total)
            };
            self.gate.before(self.gate.deadline(), update).await
        };
        match update.await {
            Ok(rows) => {
                audit.ok(rows).await?;
                Ok(rows)
            }
            Err(status) => Err(audit.failed(status).await),
        }
    }

    async fn get_flight_info_catalogs(
        &self,
        query: CommandGetCatalogs,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.metadata_info(query, metadata::catalogs_schema(), request.into_inner())
    }

    async fn do_get_catalogs(
        &self,
        query: CommandGetCatalogs,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        let session = session_of(&request)?;
        let batch = metadata::catalogs(session.engine.session(), query)?;
        Ok(Self::batch_stream(batch))
    }

    async fn get_flight_info_schemas(
        &self,
        query: CommandGetDbSchemas,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.metadata_info(query, metadata::schemas_schema(), request.into_inner())
    }

    async fn do_get_schemas(
        &self,
        query: CommandGetDbSchemas,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        let session = session_of(&request)?;
        let batch = metadata::schemas(session.engine.session(), query)?;
        Ok(Self::batch_stream(batch))
    }

    async fn get_flight_info_tables(
        &self,
        query: CommandGetTables,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let schema = metadata::tables_schema(query.include_schema);
        self.metadata_info(query, schema, request.into_inner())
    }

    async fn do_get_tables(
        &self,
        query: CommandGetTables,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        let session = session_of(&request)?;
        let visibility = metadata::Visibility::of(session.user.role, session.engine.privacy());
        let batch = metadata::tables(session.engine.session(), query, visibility.as_ref()).await?;
        Ok(Self::batch_stream(batch))
    }

    async fn get_flight_info_table_types(
        &self,
        query: CommandGetTableTypes,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let schema = query.into_builder().schema();
        self.metadata_info(query, schema, request.into_inner())
    }

    async fn do_get_table_types(
        &self,
        query: CommandGetTableTypes,
        _request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        let mut builder = query.into_builder();
        for table_type in metadata::TABLE_TYPES {
            builder.append(table_type);
        }
        let batch = builder
            .build()
            .map_err(|e| Status::internal(e.to_string()))?;
        Ok(Self::batch_stream(batch))
    }

    async fn get_flight_info_sql_info(
        &self,
        query: CommandGetSqlInfo,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let schema = query.clone().into_builder(&self.sql_info).schema();
        self.metadata_info(query, schema, request.into_inner())
    }

    async fn do_get_sql_info(
        &self,
        query: CommandGetSqlInfo,
        _request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        let batch = query
            .into_builder(&self.sql_info)
            .build()
            .map_err(|e| Status::internal(e.to_string()))?;
        Ok(Self::batch_stream(batch))
    }

    async fn get_flight_info_xdbc_type_info(
        &self,
        query: CommandGetXdbcTypeInfo,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let schema = query.into_builder(&self.xdbc_types).schema();
        self.metadata_info(query, schema, request.into_inner())
    }

    async fn do_get_xdbc_type_info(
        &self,
        query: CommandGetXdbcTypeInfo,
        _request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        let batch = query
            .into_builder(&self.xdbc_types)
            .build()
            .map_err(|e| Status::internal(e.to_string()))?;
        Ok(Self::batch_stream(batch))
    }

    async fn get_flight_info_primary_keys(
        &self,
        query: CommandGetPrimaryKeys,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.metadata_info(query, keys_schema(), request.into_inner())
    }

    async fn do_get_primary_keys(
        &self,
        _query: CommandGetPrimaryKeys,
        _request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        Ok(Self::batch_stream(RecordBatch::new_empty(keys_schema())))
    }

    async fn get_flight_info_exported_keys(
        &self,
        query: CommandGetExportedKeys,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.metadata_info(query, foreign_keys_schema(), request.into_inner())
    }

    async fn do_get_exported_keys(
        &self,
        _query: CommandGetExportedKeys,
        _request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        Ok(Self::batch_stream(RecordBatch::new_empty(
            foreign_keys_schema(),
        )))
    }

    async fn get_flight_info_imported_keys(
        &self,
        query: CommandGetImportedKeys,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.metadata_info(query, foreign_keys_schema(), request.into_inner())
    }

    async fn do_get_imported_keys(
        &self,
        _query: CommandGetImportedKeys,
        _request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        Ok(Self::batch_stream(RecordBatch::new_empty(
            foreign_keys_schema(),
        )))
    }

    async fn get_flight_info_cross_reference(
        &self,
        query: CommandGetCrossReference,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.metadata_info(query, foreign_keys_schema(), request.into_inner())
    }

    async fn do_get_cross_reference(
        &self,
        _query: CommandGetCrossReference,
        _request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        Ok(Self::batch_stream(RecordBatch::new_empty(
            foreign_keys_schema(),
        )))
    }

    async fn do_action_fallback(
        &self,
        request: Request<Action>,
    ) -> Result<Response<<Self as FlightService>::DoActionStream>, Status> {
        if request.get_ref().r#type != CANCEL_FLIGHT_INFO {
            return Err(Status::invalid_argument(format!(
                "unknown action {:?}",
                request.get_ref().r#type
            )));
        }
        let session = session_of(&request)?;
        let cancel = CancelFlightInfoRequest::decode(request.get_ref().body.clone())
            .map_err(|e| Status::invalid_argument(format!("CancelFlightInfo request: {e}")))?;
        let info = cancel
            .info
            .ok_or_else(|| Status::invalid_argument("CancelFlightInfo without a FlightInfo"))?;
        let mut outcome = Cancelled::Unknown;
        for endpoint in info.endpoint {
            let Some(ticket) = endpoint.ticket else {
                continue;
            };
            let handle = Any::decode(ticket.ticket)
                .ok()
                .and_then(|any| any.unpack::<TicketStatementQuery>().ok().flatten());
            if let Some(handle) = handle {
                let found = session.cancel(&handle.statement_handle);
                if found != Cancelled::Unknown {
                    outcome = found;
                }
            }
        }
        if outcome == Cancelled::Unknown {
            return Err(Status::not_found(
                "no such query: it finished, was fetched, or belongs to another session",
            ));
        }
        let result = CancelFlightInfoResult::new(CancelStatus::Cancelled);
        let body = arrow_flight::Result::new(result.encode_to_vec());
        Ok(Response::new(Box::pin(futures::stream::iter([Ok(body)]))))
    }

    async fn list_custom_actions(&self) -> Option<Vec<Result<ActionType, Status>>> {
        Some(vec![Ok(ActionType {
            r#type: CANCEL_FLIGHT_INFO.into(),
            description: "Cancel a query: CancelFlightInfoRequest in, CancelFlightInfoResult out"
                .into(),
        })])
    }

    async fn register_sql_info(&self, _id: i32, _result: &SqlInfo) {}
}
