//! What an analyst may do and a reader may not: updates, DDL, paths
//! outside the lake, and relations planned into a statement.

use std::sync::Arc;

use datafusion::arrow::array::{Int64Array, RecordBatch, StringArray};

use super::{fixture, logged_in, message, pretty, query, single_i64, single_string, status};
use crate::fixtures::SMALL_LAKE_CUSTOMERS;
use crate::support::{batch, col, write_parquet};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analyst_updates_and_reader_is_refused_by_plan() {
    let f = fixture().await;
    let mut ana = logged_in(&f, "ana", "ana-pw").await;
    let mut rita = logged_in(&f, "rita", "rita-pw").await;

    let n = ana
        .execute_update(
            "CREATE VIEW big_orders AS SELECT * FROM orders WHERE amount > 100".into(),
            None,
        )
        .await
        .unwrap();
    assert_eq!(n, 0);
    // Views are shared by every session of the lake, readers included.
    assert!(single_i64(&mut rita, "SELECT count(*) FROM big_orders").await > 0);

    ana.execute_update(
        "CREATE SEGMENT SET spenders ('big' WHEN amount > 100, ELSE 'small')".into(),
        None,
    )
    .await
    .unwrap();
    let n = single_i64(
        &mut rita,
        "SELECT count(*) FROM orders WHERE segment_of('spenders') = 'big'",
    )
    .await;
    assert!(n > 0);

    let refused = [
        "CREATE VIEW v2 AS SELECT 1",
        "DROP VIEW big_orders",
        "CREATE SEGMENT SET s2 ('x' WHEN true)",
        "DROP SEGMENT SET spenders",
        "SET datafusion.execution.batch_size = 10",
        "CREATE TABLE t AS SELECT 1 AS a",
        "DROP MODEL IF EXISTS nothing_here",
    ];
    for sql in refused {
        let err = message(rita.execute_update(sql.into(), None).await.unwrap_err());
        assert!(err.contains("role reader may not run"), "{sql}: {err}");
        // A query call refuses the same statement: the plan decides, not the API.
        let err = message(rita.execute(sql.into(), None).await.unwrap_err());
        assert!(err.contains("role reader may not run"), "{sql}: {err}");
    }
    // Hidden in a comment-laden text, a write is still a write.
    let err = message(
        rita.execute_update("/* SELECT */ CREATE VIEW v3 AS SELECT 1".into(), None)
            .await
            .unwrap_err(),
    );
    assert!(err.contains("DDL"), "{err}");

    // DML answers its row count; single and multi-row parameter batches too.
    ana.execute_update("CREATE TABLE picks (id BIGINT, label TEXT)".into(), None)
        .await
        .unwrap();
    let n = ana
        .execute_update("INSERT INTO picks VALUES (1, 'a'), (2, 'b')".into(), None)
        .await
        .unwrap();
    assert_eq!(n, 2);
    let mut insert = ana
        .prepare("INSERT INTO picks VALUES ($1, $2)".into(), None)
        .await
        .unwrap();
    let params = Arc::new(insert.parameter_schema().unwrap().clone());
    let rows = RecordBatch::try_new(
        params,
        vec![
            Arc::new(Int64Array::from(vec![3, 4, 5])),
            Arc::new(StringArray::from(vec!["c", "d", "e"])),
        ],
    )
    .unwrap();
    insert.set_parameters(rows).unwrap();
    assert_eq!(insert.execute_update().await.unwrap(), 3);
    insert.close().await.unwrap();
    assert_eq!(single_i64(&mut ana, "SELECT count(*) FROM picks").await, 5);
    // A table without customer_id is not in [privacy] public_tables: readers
    // may not read it (issue 15).
    let err = super::query_err(&mut rita, "SELECT count(*) FROM picks").await;
    assert!(err.contains("privacy rule: entity-keyed tables"), "{err}");
    let err = message(
        rita.execute_update("INSERT INTO picks VALUES (6, 'f')".into(), None)
            .await
            .unwrap_err(),
    );
    assert!(err.contains("DML"), "{err}");
    // A reader cannot prepare a write either.
    let err = message(
        rita.prepare("DELETE FROM picks WHERE id = $1".into(), None)
            .await
            .expect_err("refused"),
    );
    assert!(err.contains("role reader may not run"), "{err}");

    // A file outside the lake: readers may not read it, analysts may.
    let outside = tempfile::tempdir().unwrap();
    let file = outside.path().join("secret.parquet");
    write_parquet(
        &file,
        &batch(vec![("x", col(Int64Array::from(vec![1, 2])))]),
    );
    let sql = format!("SELECT count(*) FROM '{}'", file.display());
    let err = message(rita.execute(sql.clone(), None).await.unwrap_err());
    assert!(err.contains("outside the lake"), "{err}");
    assert_eq!(single_i64(&mut ana, &sql).await, 2);
    // ...nor, since issue 15, the lake's own files by path: tables by name only.
    let inside = format!(
        "SELECT count(*) FROM '{}/customers/'",
        f.lake.path().display()
    );
    let err = message(rita.execute(inside.clone(), None).await.unwrap_err());
    assert!(err.contains("by path"), "{err}");
    assert_eq!(
        single_i64(&mut ana, &inside).await,
        SMALL_LAKE_CUSTOMERS as i64
    );

    // The server survives failing statements.
    let err = message(
        ana.execute("SELECT no_such_column FROM orders".into(), None)
            .await
            .unwrap_err(),
    );
    assert!(err.contains("no_such_column"), "{err}");
    assert_eq!(single_i64(&mut ana, "SELECT 1::BIGINT").await, 1);
    f.server.shutdown().await.unwrap();
}

fn refused(err: arrow_flight::error::FlightError, what: &[&str]) {
    let err = status(err);
    assert_eq!(err.code(), tonic::Code::PermissionDenied, "{err}");
    for part in what {
        assert!(err.message().contains(part), "{part:?} not in: {err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reader_checks_reach_inner_queries_and_paths_before_they_run() {
    let f = fixture().await;
    let mut ana = logged_in(&f, "ana", "ana-pw").await;
    let mut rita = logged_in(&f, "rita", "rita-pw").await;
    let outside = tempfile::tempdir().unwrap();
    let file = outside.path().join("secret.parquet");
    write_parquet(
        &file,
        &batch(vec![(
            "amount",
            col(datafusion::arrow::array::Float64Array::from(vec![1.0, 2.0])),
        )]),
    );
    let secret = file.display().to_string();
    let missing = outside.path().join("missing.parquet").display().to_string();

    // A path outside the lake, in any statement form: analysts see it,
    // readers are refused before it is opened (a missing file is refused
    // the same way, so nothing is learnt about what exists).
    let columns = pretty(&query(&mut ana, &format!("DESCRIBE '{secret}'")).await);
    assert!(columns.contains("amount"), "{columns}");
    for sql in [
        format!("DESCRIBE '{secret}'"),
        format!("DESCRIBE '{missing}'"),
        format!("EXPLAIN SELECT * FROM '{secret}'"),
        format!("SELECT * FROM (SELECT amount FROM '{secret}') s WHERE amount > 0"),
    ] {
        let err = rita.execute(sql.clone(), None).await.unwrap_err();
        refused(err, &["role reader may not", "outside the lake"]);
    }
    let err = rita
        .execute(format!("DESCRIBE '{secret}'"), None)
        .await
        .unwrap_err();
    refused(err, &[&secret]);

    // A model to run lookalike and model_evaluate with, and the views an
    // analyst prepares for them (two read the file outside the lake).
    ana.execute_update(
        "CREATE MODEL spend OPTIONS (model_type 'kmeans', num_clusters 2, seed 1) AS SELECT CAST(amount AS DOUBLE) AS amount FROM orders".into(),
        None,
    )
    .await
    .unwrap();
    for view in [
        "CREATE VIEW seed5 AS SELECT CAST(amount AS DOUBLE) AS amount FROM orders LIMIT 5".to_string(),
        "CREATE VIEW order_candidates AS SELECT order_id, CAST(amount AS DOUBLE) AS amount FROM orders".to_string(),
        format!("CREATE VIEW secret_amounts AS SELECT amount FROM '{secret}'"),
        format!("CREATE VIEW secret_candidates AS SELECT 1 AS id, amount FROM '{secret}'"),
    ] {
        ana.execute_update(view.clone(), None)
            .await
            .unwrap_or_else(|e| panic!("{view}: {e}"));
    }
    // Relations inside the lake work for an analyst; a reader's privacy
    // rule refuses them when the statement runs (order rows, not groups)...
    let sql = "SELECT count(*) FROM lookalike('spend', seed5, order_candidates, 3)";
    assert_eq!(single_i64(&mut ana, sql).await, 3);
    let err = super::query_err(&mut rita, sql).await;
    assert!(err.contains("privacy rule"), "{err}");
    let sql = "SELECT rows FROM model_evaluate('spend', seed5)";
    assert_eq!(single_i64(&mut ana, sql).await, 5);
    // ...and an analyst's may read the outside file.
    let sql = "SELECT rows FROM model_evaluate('spend', secret_amounts)";
    assert_eq!(single_i64(&mut ana, sql).await, 2);

    // The relations are planned into the statement: the policy judges the
    // whole plan, views included, before anything runs.
    let cases = [
        (
            "SELECT * FROM lookalike('spend', seed5, secret_candidates, 3)",
            vec!["role reader may not", "outside the lake", &secret],
        ),
        (
            "SELECT * FROM lookalike('spend', secret_amounts, order_candidates, 3)",
            vec!["role reader may not", "outside the lake", &secret],
        ),
        (
            "SELECT * FROM model_evaluate('spend', secret_amounts)",
            vec!["role reader may not", "outside the lake", &secret],
        ),
        (
            "EXPLAIN SELECT * FROM model_evaluate('spend', secret_amounts)",
            vec!["role reader may not", "outside the lake"],
        ),
    ];
    for (sql, what) in &cases {
        let err = rita.execute(sql.to_string(), None).await.unwrap_err();
        refused(err, what);
        let err = rita.prepare(sql.to_string(), None).await.unwrap_err();
        refused(err, what);
    }
    // Statements are no longer arguments: text is only ever a name, and
    // these name no table, for a reader as for an analyst.
    for sql in [
        "SELECT * FROM lookalike('spend', 'CREATE TABLE leak AS SELECT 1.0 AS amount', order_candidates, 3)",
        "SELECT * FROM model_evaluate('spend', 'CREATE VIEW leak AS SELECT 1.0 AS amount')",
        "SELECT * FROM model_evaluate('spend', 'SET datafusion.execution.batch_size = 1')",
    ] {
        let err = message(rita.execute(sql.into(), None).await.unwrap_err());
        assert!(err.contains("unknown table"), "{sql}: {err}");
        let err = message(ana.execute(sql.into(), None).await.unwrap_err());
        assert!(err.contains("unknown table"), "{sql}: {err}");
    }
    // Nothing the statements-as-text asked for happened.
    let err = message(
        ana.execute("SELECT * FROM leak".into(), None)
            .await
            .unwrap_err(),
    );
    assert!(err.contains("leak"), "{err}");
    let show = "SELECT value FROM information_schema.df_settings WHERE name = 'datafusion.execution.batch_size'";
    assert_ne!(single_string(&mut rita, show).await, "1");

    // CREATE MODEL's training query never runs for a reader: the statement
    // itself is refused first.
    let err = rita
        .execute_update(
            format!(
                "CREATE MODEL m2 OPTIONS (model_type 'kmeans', num_clusters 2) AS SELECT amount FROM '{secret}'"
            ),
            None,
        )
        .await
        .unwrap_err();
    refused(err, &["role reader may not run CREATE MODEL"]);
    f.server.shutdown().await.unwrap();
}
