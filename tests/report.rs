//! `microseg report`'s sections over the engine (the browser checks are in
//! tests/python/test_browser.py): what a partial lake shows and says, and
//! that the page cannot be broken out of by the data it shows.

use microseg::report::{self, Chart, ReportOptions};
use serde_json::json;

use crate::fixtures::small_lake_copy;
use crate::support::{open, run};

async fn build(
    engine: &microseg::Engine,
    options: &ReportOptions,
) -> microseg::Result<report::Report> {
    let mut steps = Vec::new();
    let built = report::build(engine, options, &mut |s| steps.push(s.to_string())).await?;
    assert_eq!(steps.len(), report::STEPS, "{steps:?}");
    Ok(built)
}

#[tokio::test]
async fn a_lake_without_models_or_snapshots_says_what_to_run() {
    let dir = small_lake_copy();
    let engine = open(dir.path().to_str().unwrap()).await;
    let built = build(&engine, &ReportOptions::default()).await.unwrap();
    let section = |id: &str| built.sections.iter().find(|s| s.id == id).unwrap();
    // Every buyer is in exactly one segment: the sizes add up to the buyers.
    let buyers = run(
        &engine,
        "SELECT count(DISTINCT customer_id) AS n FROM orders",
    )
    .await;
    let buyers = microseg::report::chart::rows(&buyers).unwrap()[0]["n"]
        .as_f64()
        .unwrap();
    let sizes = &section("segments").charts[0];
    assert_eq!(sizes.id, "segment-sizes");
    let total: f64 = sizes
        .rows
        .iter()
        .map(|r| r["customers"].as_f64().unwrap())
        .sum();
    assert_eq!(total, buyers);
    assert_eq!(section("segments").charts.len(), 3);
    assert!(section("segments").missing.is_empty());
    let clusters = section("clusters").missing.join(" ");
    assert!(
        clusters.contains("CREATE MODEL clusters OPTIONS (model_type 'kmeans'"),
        "{clusters}"
    );
    assert!(
        section("clv")
            .missing
            .join(" ")
            .contains("model_type 'gamma_gamma'")
    );
    let migration = section("migration").missing.join(" ");
    assert!(
        migration.contains("microseg materialize --lake LAKE sql/jobs/daily_segments.toml"),
        "{migration}"
    );
    for chart in built.charts() {
        assert!(
            !chart.rows.is_empty() && chart.reading.ends_with('.') && chart.sql.contains("SELECT"),
            "{}",
            chart.id
        );
    }
}

#[tokio::test]
async fn options_naming_what_the_lake_lacks_are_errors() {
    let dir = small_lake_copy();
    let engine = open(dir.path().to_str().unwrap()).await;
    let model = ReportOptions {
        models: vec!["nope".into()],
        ..ReportOptions::default()
    };
    let e = build(&engine, &model).await.unwrap_err().to_string();
    assert!(
        e.contains("--model nope: no such model in the lake (models: none)"),
        "{e}"
    );
    let segments = ReportOptions {
        segments: Some("orders:no_such_column".into()),
        ..ReportOptions::default()
    };
    let e = build(&engine, &segments).await.unwrap_err().to_string();
    assert!(e.contains("--segments orders:no_such_column"), "{e}");
    assert!(
        report::parse_as_of("31/10/2026")
            .unwrap_err()
            .to_string()
            .contains("--as-of")
    );
}

#[test]
fn shown_data_cannot_close_the_page_script() {
    let chart = Chart {
        id: "x<y>".into(),
        title: "<b>title</b>".into(),
        units: "u".into(),
        reading: "r.".into(),
        sql: "SELECT '</script>'".into(),
        spec: json!({"mark": "bar"}),
        rows: vec![
            json!({"segment": "</script><script>alert(1)</script>"})
                .as_object()
                .unwrap()
                .clone(),
        ],
    };
    let page = report::html::page(
        "t",
        "",
        &report::html::figure(&chart),
        &[&chart],
        report::html::Scripts::Linked,
    );
    assert!(!page.contains("<script>alert(1)"));
    assert_eq!(
        page.matches("</script").count(),
        page.matches("<script").count()
    );
    assert!(page.contains("&lt;b&gt;title&lt;/b&gt;"));
    assert!(page.contains("id=\"chart-x_y_\""));
    assert!(microseg::web::same_token("abc", "abc"));
    assert!(!microseg::web::same_token("abc", "abd"));
    assert!(!microseg::web::same_token("abc", "ab"));
}
