//! Session settings and prepared statements.

use std::sync::Arc;

use datafusion::arrow::array::{Array, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::DataType;

use super::{fetch, fixture, logged_in, open_server, query, single_string};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_persists_per_session_only() {
    let f = fixture().await;
    let mut one = logged_in(&f, "ana", "ana-pw").await;
    let mut two = logged_in(&f, "ana", "ana-pw").await;
    one.execute_update("SET datafusion.execution.batch_size = 77".into(), None)
        .await
        .unwrap();
    let show = "SELECT value FROM information_schema.df_settings WHERE name = 'datafusion.execution.batch_size'";
    let value = |batches: Vec<RecordBatch>| -> String {
        let column = batches[0]
            .column(0)
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap()
            .clone();
        column.value(0).to_string()
    };
    assert_eq!(value(query(&mut one, show).await), "77");
    assert_ne!(value(query(&mut two, show).await), "77");
    f.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepared_statements_bind_parameters() {
    let f = fixture().await;
    let mut c = logged_in(&f, "ana", "ana-pw").await;
    let mut prepared = c
        .prepare(
            "SELECT count(*) AS n FROM orders WHERE amount > $1 AND channel = $2".into(),
            None,
        )
        .await
        .unwrap();
    let params = prepared.parameter_schema().unwrap().clone();
    assert_eq!(params.fields().len(), 2, "{params:?}");
    assert_eq!(params.field(1).data_type(), &DataType::Utf8);
    let channel = single_string(&mut c, "SELECT min(channel) FROM orders").await;
    // amount's own type (a decimal), as a client reading the schema would bind.
    let amounts = datafusion::arrow::compute::cast(
        &datafusion::arrow::array::Float64Array::from(vec![0.0, 1e9]),
        params.field(0).data_type(),
    )
    .unwrap();
    let binding = RecordBatch::try_new(
        Arc::new(params),
        vec![
            amounts,
            Arc::new(StringArray::from(vec![channel.clone(), channel.clone()])),
        ],
    )
    .unwrap();
    prepared.set_parameters(binding).unwrap();
    let info = prepared.execute().await.unwrap();
    let batches = fetch(&mut c, info).await;
    let counts: Vec<i64> = batches
        .iter()
        .flat_map(|b| {
            b.column(0)
                .as_any()
                .downcast_ref::<Int64Array>()
                .unwrap()
                .iter()
                .flatten()
                .collect::<Vec<_>>()
        })
        .collect();
    // One result per parameter row, in order.
    assert_eq!(counts.len(), 2, "{counts:?}");
    assert!(counts[0] > 0 && counts[1] == 0, "{counts:?}");
    prepared.close().await.unwrap();

    let question = c.prepare("SELECT ? + 1 AS x".into(), None).await.unwrap();
    assert_eq!(question.parameter_schema().unwrap().fields().len(), 1);
    question.close().await.unwrap();
    f.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_a_prepared_statement_frees_its_handle() {
    use arrow_flight::sql::{
        ActionClosePreparedStatementRequest, ActionCreatePreparedStatementRequest,
        ActionCreatePreparedStatementResult, Any, ProstMessageExt,
    };
    use prost::Message;
    let (server, mut c, _lake) = open_server(Default::default()).await;
    let create = ActionCreatePreparedStatementRequest {
        query: "SELECT $1::BIGINT + 1".into(),
        transaction_id: None,
    };
    let action =
        arrow_flight::Action::new("CreatePreparedStatement", create.as_any().encode_to_vec());
    let mut results = c.inner_mut().do_action(action).await.unwrap().into_inner();
    let body = results.message().await.unwrap().unwrap().body;
    let created: ActionCreatePreparedStatementResult =
        Any::decode(body).unwrap().unpack().unwrap().unwrap();
    let close = ActionClosePreparedStatementRequest {
        prepared_statement_handle: created.prepared_statement_handle.clone(),
    };
    let action =
        || arrow_flight::Action::new("ClosePreparedStatement", close.as_any().encode_to_vec());
    c.inner_mut().do_action(action()).await.unwrap();
    let err = c.inner_mut().do_action(action()).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound, "{err}");
    // Executing a closed statement names the problem.
    let query = arrow_flight::sql::CommandPreparedStatementQuery {
        prepared_statement_handle: created.prepared_statement_handle,
    };
    let descriptor = arrow_flight::FlightDescriptor::new_cmd(query.as_any().encode_to_vec());
    let err = c.inner_mut().get_flight_info(descriptor).await.unwrap_err();
    assert!(
        err.message().contains("unknown prepared statement"),
        "{err}"
    );
    server.shutdown().await.unwrap();
}
