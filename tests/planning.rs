//! One query layer: segment sets and models stay names in the plan and are
//! resolved each time a statement, view or prepared statement runs.

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type, Int64Type};
use microseg::{Engine, EngineOptions};

use crate::fixtures::small_lake_copy;
use crate::support::{error, open, run};

/// Column `index` of every row, as text (NULL as "NULL").
fn texts(batches: &[RecordBatch], index: usize) -> Vec<String> {
    let mut out = Vec::new();
    for b in batches {
        let column = cast(b.column(index), &DataType::Utf8).expect("cast to text");
        let column = column.as_string::<i32>();
        for i in 0..column.len() {
            out.push(if column.is_null(i) {
                "NULL".into()
            } else {
                column.value(i).to_string()
            });
        }
    }
    out
}

fn floats(batches: &[RecordBatch], index: usize) -> Vec<f64> {
    batches
        .iter()
        .flat_map(|b| {
            let c = cast(b.column(index), &DataType::Float64).expect("cast to double");
            c.as_primitive::<Float64Type>().values().to_vec()
        })
        .collect()
}

const POINTS: &str = "(VALUES (1, 0.0), (2, 1.0), (3, 10.0), (4, 11.0)) AS t(id, x)";

/// Trains `m` (k = 2, one feature, no scaling) on `values`: with two well
/// separated pairs the centroids are the pairs' means, a closed form.
fn train(name: &str, values: [f64; 4], replace: bool) -> String {
    format!(
        "CREATE {}MODEL {name} OPTIONS (model_type 'kmeans', num_clusters 2, standardize false, seed 1) AS SELECT x FROM (VALUES ({}), ({}), ({}), ({})) AS t(x)",
        if replace { "OR REPLACE " } else { "" },
        values[0],
        values[1],
        values[2],
        values[3]
    )
}

/// |x − nearest centroid| for centroids `c`.
fn distances(xs: &[f64], c: &[f64]) -> Vec<f64> {
    xs.iter()
        .map(|x| {
            c.iter()
                .map(|c| (x - c).abs())
                .fold(f64::INFINITY, f64::min)
        })
        .collect()
}

fn assert_close(got: &[f64], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{got:?} vs {want:?}");
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() < 1e-4, "{got:?} vs {want:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn views_follow_replaced_segment_sets() {
    let lake = small_lake_copy();
    let engine = open(&lake.path().to_string_lossy()).await;
    run(
        &engine,
        "CREATE SEGMENT SET tiers ('high' WHEN x >= 10, 'one' WHEN x = 1, ELSE 'low')",
    )
    .await;
    run(
        &engine,
        &format!(
            "CREATE VIEW tiered AS SELECT id, segment_of('tiers') AS s, segments_of('tiers') AS all_s FROM {POINTS}"
        ),
    )
    .await;
    let before = run(&engine, "SELECT s, all_s FROM tiered ORDER BY id").await;
    assert_eq!(texts(&before, 0), ["low", "one", "high", "high"]);
    assert_eq!(texts(&before, 1), ["[low]", "[one]", "[high]", "[high]"]);

    run(
        &engine,
        "CREATE OR REPLACE SEGMENT SET tiers ('big' WHEN x > 5, 'odd' WHEN id % 2 = 1)",
    )
    .await;
    let after = run(&engine, "SELECT s, all_s FROM tiered ORDER BY id").await;
    assert_eq!(texts(&after, 0), ["odd", "NULL", "big", "big"]);
    assert_eq!(texts(&after, 1), ["[odd]", "[]", "[big, odd]", "[big]"]);

    // Another engine (another process, in effect) replaces the set: the
    // view sees it at its next run, without reopening the lake.
    let other = open(&lake.path().to_string_lossy()).await;
    run(
        &other,
        "CREATE OR REPLACE SEGMENT SET tiers ('all' WHEN true)",
    )
    .await;
    let third = run(&engine, "SELECT s FROM tiered ORDER BY id").await;
    assert_eq!(texts(&third, 0), ["all", "all", "all", "all"]);

    // A set whose rule names a column the view lacks: named at the run.
    run(
        &engine,
        "CREATE OR REPLACE SEGMENT SET tiers ('rich' WHEN monetary > 5)",
    )
    .await;
    let err = error(&engine, "SELECT s FROM tiered").await;
    assert!(
        err.contains("segment set 'tiers', rule 'rich'") && err.contains("monetary"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepared_statements_bind_sets_and_models_when_they_run() {
    let lake = small_lake_copy();
    let engine = open(&lake.path().to_string_lossy()).await;
    run(
        &engine,
        "CREATE SEGMENT SET a ('small' WHEN x < 5, ELSE 'large')",
    )
    .await;
    run(
        &engine,
        "CREATE SEGMENT SET b ('even' WHEN id % 2 = 0, ELSE 'odd')",
    )
    .await;
    run(&engine, &train("m", [0.0, 1.0, 10.0, 11.0], false)).await;
    run(&engine, &train("n", [0.0, 2.0, 20.0, 22.0], false)).await;

    // A placeholder where the set's name goes.
    run(
        &engine,
        &format!("PREPARE by_set(VARCHAR) AS SELECT segment_of($1) FROM {POINTS} ORDER BY id"),
    )
    .await;
    assert_eq!(
        texts(&run(&engine, "EXECUTE by_set('a')").await, 0),
        ["small", "small", "large", "large"]
    );
    assert_eq!(
        texts(&run(&engine, "EXECUTE by_set('b')").await, 0),
        ["odd", "even", "odd", "even"]
    );

    // A placeholder where the model's name goes, and in a feature.
    run(
        &engine,
        &format!(
            "PREPARE by_model(VARCHAR, DOUBLE) AS SELECT cluster_distance($1, x + $2) FROM {POINTS} ORDER BY id"
        ),
    )
    .await;
    let xs = [0.0, 1.0, 10.0, 11.0];
    let got = floats(&run(&engine, "EXECUTE by_model('m', 0.0)").await, 0);
    assert_close(&got, &distances(&xs, &[0.5, 10.5]));
    let got = floats(&run(&engine, "EXECUTE by_model('n@1', 1.0)").await, 0);
    let shifted: Vec<f64> = xs.iter().map(|x| x + 1.0).collect();
    assert_close(&got, &distances(&shifted, &[1.0, 21.0]));

    // Prepared before the model is replaced, run after: the new version.
    run(
        &engine,
        &format!("PREPARE fixed AS SELECT cluster_distance('m', x) FROM {POINTS} ORDER BY id"),
    )
    .await;
    run(&engine, &train("m", [100.0, 101.0, 200.0, 201.0], true)).await;
    let got = floats(&run(&engine, "EXECUTE fixed").await, 0);
    assert_close(&got, &distances(&xs, &[100.5, 200.5]));

    // A name that is no model, bound at the run, is named.
    let err = error(&engine, "EXECUTE by_model('nope', 0.0)").await;
    assert!(err.contains("unknown model nope"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn views_follow_replaced_models() {
    let lake = small_lake_copy();
    let location = lake.path().to_string_lossy().into_owned();
    let engine = open(&location).await;
    run(&engine, &train("m", [0.0, 1.0, 10.0, 11.0], false)).await;
    run(
        &engine,
        &format!(
            "CREATE VIEW scored AS SELECT id, cluster_assign('m', x) AS c, cluster_distance('m', x) AS d, cluster_distance('m@1', x) AS d1 FROM {POINTS}"
        ),
    )
    .await;
    let xs = [0.0, 1.0, 10.0, 11.0];
    let before = run(&engine, "SELECT d, d1, c FROM scored ORDER BY id").await;
    assert_close(&floats(&before, 0), &distances(&xs, &[0.5, 10.5]));
    assert_close(&floats(&before, 1), &distances(&xs, &[0.5, 10.5]));
    let clusters: Vec<i64> = before[0]
        .column(2)
        .as_primitive::<Int64Type>()
        .values()
        .to_vec();
    assert_eq!(clusters[0], clusters[1]);
    assert_ne!(clusters[1], clusters[2]);

    // Replaced from another engine on the same lake.
    let other = open(&location).await;
    run(&other, &train("m", [100.0, 101.0, 200.0, 201.0], true)).await;
    let after = run(&engine, "SELECT d, d1 FROM scored ORDER BY id").await;
    assert_close(&floats(&after, 0), &distances(&xs, &[100.5, 200.5]));
    // The pinned version does not move.
    assert_close(&floats(&after, 1), &distances(&xs, &[0.5, 10.5]));

    // A model replaced by one with other features: the view's call is
    // checked again and fails naming the model.
    run(
        &other,
        "CREATE OR REPLACE MODEL m OPTIONS (model_type 'kmeans', num_clusters 2) AS SELECT x, x * 2 AS y FROM (VALUES (0.0), (1.0), (10.0), (11.0)) AS t(x)",
    )
    .await;
    let err = error(&engine, "SELECT d FROM scored").await;
    assert!(
        err.contains("m@3") && err.contains("has 2 features"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn views_follow_replaced_lifetime_models() {
    let lake = small_lake_copy();
    let location = lake.path().to_string_lossy().into_owned();
    let engine = open(&location).await;
    let summary = "SELECT frequency, recency, T FROM clv_summary(orders, customer_id, order_ts, amount, DATE '2026-10-31')";
    let fit = |replace: bool, extra: &str| {
        format!(
            "CREATE {}MODEL life OPTIONS (model_type 'bgnbd') AS {summary}{extra}",
            if replace { "OR REPLACE " } else { "" }
        )
    };
    run(&engine, &fit(false, "")).await;
    run(
        &engine,
        &format!(
            "CREATE VIEW alive AS SELECT avg(p_alive('life', frequency, recency, T)) AS p FROM ({summary}) s"
        ),
    )
    .await;
    let direct = |version: u32| {
        format!("SELECT avg(p_alive('life@{version}', frequency, recency, T)) FROM ({summary}) s")
    };
    let v1 = floats(&run(&engine, &direct(1)).await, 0)[0];
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-12 * b.abs();
    let view = floats(&run(&engine, "SELECT p FROM alive").await, 0)[0];
    assert!(close(view, v1), "{view} vs {v1}");
    // Version 2 is fitted on the frequent buyers only: other parameters.
    run(&engine, &fit(true, " WHERE frequency >= 2")).await;
    let v2 = floats(&run(&engine, &direct(2)).await, 0)[0];
    assert!(
        (v1 - v2).abs() > 1e-6,
        "the two fits should differ: {v1} {v2}"
    );
    let view = floats(&run(&engine, "SELECT p FROM alive").await, 0)[0];
    assert!(close(view, v2), "{view} vs {v2}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn model_names_are_names_only() {
    let lake = small_lake_copy();
    let engine = open(&lake.path().to_string_lossy()).await;
    run(&engine, &train("m", [0.0, 1.0, 10.0, 11.0], false)).await;
    // What the engine used to paste into plans is no longer accepted.
    let forged = r#"microseg-model:{"label":"m@9","features":[{"kind":"numeric","name":"x","mean":0.0,"std":1.0,"standardize":false}],"k":1,"centroids":[1000.0],"sizes":[1]}"#;
    let err = error(&engine, &format!("SELECT cluster_assign('{forged}', 1.0)")).await;
    assert!(err.contains("model reference \"microseg-model:"), "{err}");
    let err = error(&engine, "SELECT p_alive('microseg-clv:{}', 1.0, 2.0, 3.0)").await;
    assert!(
        err.contains("invalid model name \"microseg-clv:{}\""),
        "{err}"
    );
    // Not a literal: named, with the argument.
    let err = error(
        &engine,
        "SELECT cluster_assign(x, x) FROM (VALUES ('m')) AS t(x)",
    )
    .await;
    assert!(
        err.contains("cluster_assign: argument 1 (model) must be a string literal or parameter"),
        "{err}"
    );
    // A k-means model where a lifetime model belongs.
    let err = error(&engine, "SELECT p_alive('m', 1.0, 2.0, 3.0)").await;
    assert!(
        err.contains("argument 1 (m@1) is a k-means model, not a BG/NBD model"),
        "{err}"
    );
    // Outside the engine's analyzer the registered function refuses to guess.
    let ctx = datafusion::prelude::SessionContext::new();
    let mut state = ctx.state();
    microseg_udfs::register_all(&mut state).unwrap();
    let ctx = datafusion::prelude::SessionContext::new_with_state(state);
    let err = ctx
        .sql("SELECT cluster_assign('m', 1.0)")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("was not resolved to a model"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dataframe_api_resolves_sets_and_models() {
    use datafusion::execution::FunctionRegistry;
    use datafusion::prelude::{col, lit};
    let lake = small_lake_copy();
    let engine = open(&lake.path().to_string_lossy()).await;
    run(
        &engine,
        "CREATE SEGMENT SET tiers ('high' WHEN x >= 10, ELSE 'low')",
    )
    .await;
    run(&engine, &train("m", [0.0, 1.0, 10.0, 11.0], false)).await;
    let ctx = engine.session();
    let segment_of = ctx.udf("segment_of").unwrap();
    let distance = ctx.udf("cluster_distance").unwrap();
    let df = ctx
        .sql(&format!("SELECT * FROM {POINTS}"))
        .await
        .unwrap()
        .select(vec![
            col("id"),
            segment_of.call(vec![lit("tiers")]).alias("s"),
            distance.call(vec![lit("m"), col("x")]).alias("d"),
        ])
        .unwrap()
        .sort(vec![col("id").sort(true, false)])
        .unwrap();
    let batches = df.collect().await.unwrap();
    assert_eq!(texts(&batches, 1), ["low", "low", "high", "high"]);
    assert_close(
        &floats(&batches, 2),
        &distances(&[0.0, 1.0, 10.0, 11.0], &[0.5, 10.5]),
    );
}

/// CREATE MODEL's training rows are counted in the memory pool: over the
/// limit it fails with DataFusion's "Resources exhausted", under it the same
/// statement trains.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn model_training_memory_is_counted_in_the_pool() {
    let lake = small_lake_copy();
    let location = lake.path().to_string_lossy().into_owned();
    // 300,000 rows × 4 features × 4 bytes = 4.8 MB of encoded rows alone.
    let create = "CREATE MODEL big OPTIONS (model_type 'kmeans', num_clusters 4, max_iterations 5, n_init 1) AS
        SELECT CAST(v % 97 AS DOUBLE) AS a, CAST(v % 89 AS DOUBLE) AS b, CAST(v % 83 AS DOUBLE) AS c, CAST(v % 79 AS DOUBLE) AS d
        FROM generate_series(1, 300000) t(v)";
    let small = Engine::open(
        &location,
        EngineOptions {
            memory_limit: Some("3MiB".into()),
            ..EngineOptions::default()
        },
    )
    .await
    .unwrap();
    let err = error(&small, create).await;
    assert!(
        err.contains("Resources exhausted") && err.contains("CREATE MODEL big"),
        "{err}"
    );
    // Nothing was stored.
    let err = error(&small, "DESCRIBE MODEL big").await;
    assert!(err.contains("unknown model big"), "{err}");
    let large = Engine::open(
        &location,
        EngineOptions {
            memory_limit: Some("256MiB".into()),
            ..EngineOptions::default()
        },
    )
    .await
    .unwrap();
    run(&large, create).await;
    let batches = run(&large, "SELECT count(*) FROM model_centroids('big')").await;
    assert_eq!(floats(&batches, 0), [16.0]);
}

/// Quoted mixed-case names keep their case through every extension: rule
/// predicates, model features, and table names given to table functions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quoted_mixed_case_names_keep_their_case() {
    let lake = small_lake_copy();
    let engine = open(&lake.path().to_string_lossy()).await;
    for sql in [
        r#"CREATE VIEW "MixedView" AS SELECT * FROM (VALUES (1, 0.0), (2, 1.0), (3, 10.0), (4, 11.0)) AS t("Id", "Spend")"#,
        r#"CREATE VIEW "Seeds" AS SELECT "Spend" FROM "MixedView" WHERE "Id" = 1"#,
        r#"CREATE VIEW "MixedOrders" AS SELECT customer_id AS "Cust", order_ts AS "Ts", amount AS "Amt" FROM orders"#,
        r#"CREATE SEGMENT SET cased ('big' WHEN "Spend" > 5, ELSE 'small')"#,
        r#"CREATE MODEL cased_m OPTIONS (model_type 'kmeans', num_clusters 2, standardize false) AS SELECT "Spend" FROM "MixedView""#,
    ] {
        run(&engine, sql).await;
    }
    let labels = run(
        &engine,
        r#"SELECT segment_of('cased') FROM "MixedView" ORDER BY "Id""#,
    )
    .await;
    assert_eq!(texts(&labels, 0), ["small", "small", "big", "big"]);
    let d = run(
        &engine,
        r#"SELECT cluster_distance('cased_m', "Spend") FROM "MixedView" ORDER BY "Id""#,
    )
    .await;
    assert_close(
        &floats(&d, 0),
        &distances(&[0.0, 1.0, 10.0, 11.0], &[0.5, 10.5]),
    );
    // The two candidates nearest to the seed (Spend 0): ids 1 and 2.
    let near = run(
        &engine,
        r#"SELECT "Id" FROM lookalike('cased_m', "Seeds", "MixedView", 2) ORDER BY "Id""#,
    )
    .await;
    assert_eq!(texts(&near, 0), ["1", "2"]);
    let customers = run(
        &engine,
        r#"SELECT (SELECT count(*) FROM rfm("MixedOrders", "Cust", "Ts", "Amt")), (SELECT count(DISTINCT customer_id) FROM orders)"#,
    )
    .await;
    assert_eq!(texts(&customers, 0), texts(&customers, 1));
}
