//! The audit log over Flight SQL: one row per served statement (queries,
//! updates, prepared statements, refusals, errors), `audit_log` for
//! analysts only, rows that survive `kill -9`; and `FORGET CUSTOMER` as
//! an analyst's statement that readers may not run.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::Int64Type;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::*;

/// Rows in the audit log's files, read with the parquet crate alone.
fn audit_rows_on_disk(lake: &Path) -> Vec<RecordBatch> {
    let mut out = Vec::new();
    let root = lake.join("_microseg/audit");
    let Ok(days) = std::fs::read_dir(&root) else {
        return out;
    };
    for day in days {
        let day = day.unwrap().path();
        assert!(
            day.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("date=")
        );
        for file in std::fs::read_dir(&day).unwrap() {
            let file = std::fs::File::open(file.unwrap().path()).unwrap();
            let reader = ParquetRecordBatchReaderBuilder::try_new(file)
                .unwrap()
                .build()
                .unwrap();
            out.extend(reader.map(|b| b.unwrap()));
        }
    }
    out
}

fn count(batches: &[RecordBatch]) -> usize {
    batches.iter().map(RecordBatch::num_rows).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_served_statement_is_one_audit_row_and_readers_cannot_read_them() {
    let f = fixture().await;
    let mut ana = logged_in(&f, "ana", "ana-pw").await;
    let mut rita = logged_in(&f, "rita", "rita-pw").await;

    // 1-3: an analyst's queries; the second returns 7 rows.
    assert!(single_i64(&mut ana, "SELECT count(*) FROM orders").await > 0);
    let seven = query(
        &mut ana,
        "SELECT customer_id FROM customers ORDER BY customer_id LIMIT 7",
    )
    .await;
    assert_eq!(seven.iter().map(RecordBatch::num_rows).sum::<usize>(), 7);
    query(
        &mut ana,
        "CREATE VIEW big AS SELECT * FROM orders WHERE amount > 100",
    )
    .await;
    // 4: an update.
    ana.execute_update("CREATE TABLE t AS SELECT 1 AS x".into(), None)
        .await
        .unwrap();
    // 5: a prepared statement run once.
    let mut prepared = ana
        .prepare("SELECT count(*) FROM big".into(), None)
        .await
        .unwrap();
    let info = prepared.execute().await.unwrap();
    fetch(&mut ana, info).await;
    // 6: an error.
    assert!(
        ana.execute("SELECT * FROM no_such_table".into(), None)
            .await
            .is_err()
    );
    // 7-8: a reader refused the audit log, by name and by path.
    let err = rita
        .execute("SELECT * FROM audit_log".into(), None)
        .await
        .unwrap_err();
    let denied = status(err);
    assert_eq!(denied.code(), tonic::Code::PermissionDenied);
    assert!(
        denied.message().contains("audit_log"),
        "{}",
        denied.message()
    );
    let path = f.lake.path().join("_microseg/audit/");
    let err = rita
        .execute(format!("SELECT * FROM '{}'", path.display()), None)
        .await
        .unwrap_err();
    assert_eq!(status(err).code(), tonic::Code::PermissionDenied);
    // 9: a reader may not forget anyone.
    let err = rita
        .execute("FORGET CUSTOMER 1".into(), None)
        .await
        .unwrap_err();
    let denied = status(err);
    assert_eq!(denied.code(), tonic::Code::PermissionDenied);
    assert!(
        denied.message().contains("FORGET CUSTOMER"),
        "{}",
        denied.message()
    );

    let on_disk = audit_rows_on_disk(f.lake.path());
    assert_eq!(count(&on_disk), 9);
    let rows = query(
        &mut ana,
        "SELECT user, role, statement, CAST(rows AS BIGINT), outcome, array_to_string(tables, ',') \
         FROM audit_log ORDER BY time",
    )
    .await;
    let text = pretty(&rows);
    assert_eq!(count(&rows), 9, "{text}");
    let b = &rows[0];
    let line = |i: usize| -> Vec<String> {
        (0..b.num_columns())
            .map(|c| {
                datafusion::arrow::util::display::array_value_to_string(b.column(c), i).unwrap()
            })
            .collect()
    };
    assert_eq!(
        line(0)[..3],
        ["ana", "analyst", "SELECT count(*) FROM orders"]
    );
    assert_eq!(line(0)[4..], ["ok", "orders"]);
    assert_eq!(line(1)[3], "7");
    assert_eq!(line(4)[2], "SELECT count(*) FROM big");
    assert_eq!(line(4)[5], "orders", "the view's scan is what is read");
    assert_eq!(line(5)[4], "error");
    assert_eq!(line(6)[..2], ["rita", "reader"]);
    assert!(
        line(6)[4].starts_with("refused: role reader may not run"),
        "{text}"
    );
    assert!(line(8)[4].contains("FORGET CUSTOMER"), "{text}");
    // The analyst's look at the log is itself logged, once it has ended.
    assert_eq!(count(&audit_rows_on_disk(f.lake.path())), 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_analyst_forgets_over_flight_sql() {
    let f = fixture().await;
    let mut ana = logged_in(&f, "ana", "ana-pw").await;
    let mut rita = logged_in(&f, "rita", "rita-pw").await;
    let victim = single_i64(&mut ana, "SELECT min(customer_id) FROM orders").await;
    let orders = single_i64(&mut ana, "SELECT count(*) FROM orders").await;
    let theirs = single_i64(
        &mut ana,
        &format!("SELECT count(*) FROM orders WHERE customer_id = {victim}"),
    )
    .await;
    assert!(theirs > 0);
    let report = query(&mut ana, &format!("FORGET CUSTOMER {victim}")).await;
    assert!(
        pretty(&report).contains("needs deletion upstream"),
        "{}",
        pretty(&report)
    );
    for c in [&mut ana, &mut rita] {
        let left = single_i64(c, "SELECT count(*) FROM orders").await;
        assert_eq!(left, orders - theirs);
    }
    assert_eq!(
        single_i64(
            &mut ana,
            &format!("SELECT count(*) FROM orders WHERE customer_id = {victim}")
        )
        .await,
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_loses_no_committed_audit_row() {
    let lake = small_lake_copy();
    let mut child = Command::new(env!("CARGO_BIN_EXE_microseg"))
        .args(["serve", "--lake", lake.path().to_str().unwrap()])
        .args(["--bind", "127.0.0.1:0", "--insecure-no-auth"])
        .env_remove("MICROSEG_LAKE")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let mut address = None;
    for line in stderr.lines() {
        let line = line.unwrap();
        if let Some(at) = line.split("grpc://").nth(1) {
            address = Some(at.split_whitespace().next().unwrap().to_string());
            break;
        }
    }
    let address = address.expect("the server's address");
    let channel = Channel::from_shared(format!("http://{address}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut c = FlightSqlServiceClient::new(channel);
    const N: usize = 6;
    for i in 0..N {
        let n = single_i64(&mut c, &format!("SELECT count(*) + {i} FROM orders")).await;
        assert!(n > 0);
    }
    // kill -9: no shutdown, no flush.
    child.kill().unwrap();
    child.wait().unwrap();
    let rows = audit_rows_on_disk(lake.path());
    assert_eq!(count(&rows), N);
    let mut statements: Vec<String> = Vec::new();
    let mut returned = 0;
    for b in &rows {
        let s = b.column_by_name("statement").unwrap().as_string::<i32>();
        statements.extend(s.iter().map(|v| v.unwrap().to_string()));
        let r = b
            .column_by_name("rows")
            .unwrap()
            .as_primitive::<Int64Type>();
        returned += r.iter().map(|v| v.unwrap()).sum::<i64>();
        assert!(b.column_by_name("purpose").unwrap().is_null(0));
    }
    statements.sort();
    let expected: Vec<String> = (0..N)
        .map(|i| format!("SELECT count(*) + {i} FROM orders"))
        .collect();
    assert_eq!(statements, expected);
    assert_eq!(returned, N as i64);
}
