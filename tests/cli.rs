//! The `microseg` command line, run as a user would run it.

use std::process::{Command, Output};

use crate::fixtures::small_lake_str;

fn microseg(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_microseg"))
        .args(args)
        .env_remove("MICROSEG_LAKE")
        .output()
        .expect("run microseg")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn sql_command_prints_csv_and_json() {
    let lake = small_lake_str();
    let o = microseg(&[
        "sql",
        "--lake",
        &lake,
        "--format",
        "csv",
        "-c",
        "SELECT channel, count(*) AS n FROM orders GROUP BY channel ORDER BY channel",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "channel,n");
    assert_eq!(lines.len(), 4, "three channels:\n{out}");
    assert!(stderr(&o).contains("3 rows in"), "{}", stderr(&o));

    let o = microseg(&[
        "sql",
        "--lake",
        &lake,
        "--format",
        "ndjson",
        "-q",
        "-c",
        "SELECT 1 AS a, 'x' AS b",
    ]);
    assert_eq!(stdout(&o).trim(), r#"{"a":1,"b":"x"}"#);
    assert!(
        stderr(&o).is_empty(),
        "quiet prints nothing on stderr: {}",
        stderr(&o)
    );

    let o = microseg(&[
        "sql",
        "--lake",
        &lake,
        "--format",
        "json",
        "-q",
        "-c",
        "SELECT 1 AS a UNION ALL SELECT 2",
    ]);
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).expect("valid JSON");
    assert_eq!(v.as_array().map(|a| a.len()), Some(2));
}

#[test]
fn script_stops_at_first_error_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("s.sql");
    std::fs::write(
        &script,
        "-- setup\nCREATE VIEW v AS SELECT 1 AS x;\n\nSELECT x FROM v;\nSELECT nope\n  FROM v;\nSELECT 'never reached' AS marker;\n",
    )
    .unwrap();
    let o = microseg(&[
        "sql",
        "--lake",
        &small_lake_str(),
        "-f",
        script.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains("s.sql:5:"),
        "line of the failing statement: {err}"
    );
    assert!(err.contains("nope"), "{err}");
    assert!(!stdout(&o).contains("never reached"));
}

#[test]
fn output_file_is_written_whole_or_not_at_all() {
    let dir = tempfile::tempdir().unwrap();
    let lake = small_lake_str();
    let target = dir.path().join("rfm.parquet");
    let o = microseg(&[
        "sql",
        "--lake",
        &lake,
        "--output",
        target.to_str().unwrap(),
        "-c",
        "SELECT customer_id, count(*) AS frequency FROM orders GROUP BY customer_id",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    // Read it back through the engine to check it is real Parquet.
    let o2 = microseg(&[
        "sql",
        "--lake",
        &lake,
        "--format",
        "csv",
        "-q",
        "-c",
        &format!("SELECT count(*) AS n FROM '{}'", target.display()),
    ]);
    assert!(o2.status.success(), "{}", stderr(&o2));
    let n: u64 = stdout(&o2).lines().nth(1).unwrap().parse().unwrap();
    assert!(n > 0);

    // A failing query leaves no file behind, not even a partial one.
    let failed = dir.path().join("failed.csv");
    let o = microseg(&[
        "sql",
        "--lake",
        &lake,
        "--output",
        failed.to_str().unwrap(),
        "-c",
        "SELECT CAST('x' || customer_id AS INT) FROM orders",
    ]);
    assert!(!o.status.success());
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left.len(), 1, "only the first file remains: {left:?}");

    let o = microseg(&[
        "sql", "--lake", &lake, "--output", "x.xlsx", "-c", "SELECT 1",
    ]);
    assert!(stderr(&o).contains("unknown extension"), "{}", stderr(&o));
}

#[test]
fn missing_lake_is_a_clear_error() {
    let o = microseg(&["sql", "--lake", "/definitely/not/here", "-c", "SELECT 1"]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains("/definitely/not/here") && err.contains("does not exist"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn generate_rejects_bad_options() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("lake");
    let o = microseg(&[
        "generate",
        "--customers",
        "0",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--customers"), "{}", stderr(&o));
    let o = microseg(&[
        "generate",
        "--customers",
        "10",
        "--as-of",
        "2026-13-01",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--as-of"), "{}", stderr(&o));
    assert!(!out.exists());
}

#[test]
fn demo_generates_a_lake_and_tours_it() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("demo-lake");
    let o = microseg(&[
        "demo",
        "--lake",
        lake.to_str().unwrap(),
        "--customers",
        "300",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("== What the lake holds"), "{out}");
    assert!(out.contains("top5_pct_revenue_share"), "{out}");
    assert!(
        out.contains("== RFM segments") && out.contains("champions"),
        "{out}"
    );
    // The segment library is installed in the lake and used; micro-segments
    // and affinities are shown.
    assert!(
        out.contains("== A segment set") && out.contains("lapsed"),
        "{out}"
    );
    assert!(
        out.contains("== Micro-segments") && out.contains("city="),
        "{out}"
    );
    assert!(
        out.contains("== Beer sub-segments") && out.contains("craft_beer"),
        "{out}"
    );
    // Journey functions, the trigger library and the experiment readout.
    assert!(
        out.contains("== Funnel by channel") && out.contains("started_checkout"),
        "{out}"
    );
    assert!(
        out.contains("== Weekly retention") && out.contains("week_7_pct"),
        "{out}"
    );
    assert!(
        out.contains("== Ready triggers")
            && out.contains("abandoned_cart")
            && out.contains("slipping"),
        "{out}"
    );
    assert!(
        out.contains("== Campaign lift by RFM segment") && out.contains("(all)"),
        "{out}"
    );
    assert!(lake.join("_microseg/segment_sets/lifecycle.json").is_file());
    assert!(
        out.contains("== Cluster profiles") && out.contains("recency_days"),
        "{out}"
    );
    assert!(
        out.contains("== Applying the model") && out.contains("median_distance"),
        "{out}"
    );
    assert!(
        out.contains("== Lookalikes") && out.contains("distance"),
        "{out}"
    );
    assert!(
        lake.join("_microseg/models/demo_clusters/v1/model.json")
            .is_file()
    );
    assert!(lake.join("orders").is_dir());
    assert!(stderr(&o).contains("demo finished"));
    // It ends with the report: two snapshots of the daily job, so the
    // migration section has data; CLV models, so that section too.
    assert!(
        out.contains("== Expected value of the next 12 months") && out.contains("avg_clv_12m"),
        "{out}"
    );
    // A segment of resolved identities: the identity job ran first.
    assert!(
        out.contains("== Resolved identities") && out.contains("sources_known"),
        "{out}"
    );
    assert!(lake.join("identity/unified_customers/_delta_log").is_dir());
    let report = dir.path().join("demo-report.html");
    assert!(
        out.trim_end()
            .ends_with(&format!("report: {}", report.display())),
        "{out}"
    );
    let html = std::fs::read_to_string(&report).unwrap();
    for id in [
        "segment-sizes",
        "rfm-grid",
        "centroids-demo_clusters",
        "clv-by-segment",
        "funnel",
        "retention",
        "migration",
        "lift",
    ] {
        assert!(
            html.contains(&format!("id=\"chart-{id}\"")),
            "{id} missing from the report"
        );
    }
    assert!(!html.contains("class=\"missing\""), "a section is missing");
}

#[test]
fn interactive_mode_reads_multi_line_statements_and_backslash_commands() {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_microseg"))
        .args(["sql", "--lake", &small_lake_str(), "--format", "csv"])
        .env("HOME", tempfile::tempdir().unwrap().path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"SELECT 40 +\n  2 AS answer;\n\\d\nSELECT nope;\n\\d orders\n\\q\nSELECT 'after quit';\n")
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("answer\n42\n"), "multi-line statement: {out}");
    assert!(out.contains("orders,BASE TABLE"), "\\d lists tables: {out}");
    assert!(out.contains("order_month"), "\\d orders describes: {out}");
    assert!(
        stderr(&o).contains("nope"),
        "errors are reported and the prompt goes on"
    );
    assert!(!out.contains("after quit"));
}

/// Lists and structs (our retention and prop_test results among them) are
/// written to CSV as DuckDB writes them: `[a, b]` and `{field: value}`,
/// quoted where they hold commas; a NULL inside is written NULL, a NULL
/// value is an empty field. JSON keeps them nested.
#[test]
fn nested_columns_are_text_in_csv() {
    let lake = small_lake_str();
    let query = "SELECT id, make_array('a', NULL, 'c d') AS l, \
                 named_struct('x', id, 'y', 'z') AS s, \
                 CASE WHEN id = 2 THEN NULL ELSE make_array(id) END AS maybe \
                 FROM (VALUES (1), (2)) AS t(id) ORDER BY id";
    let want = "id,l,s,maybe\n\
                1,\"[a, NULL, c d]\",\"{x: 1, y: z}\",[1]\n\
                2,\"[a, NULL, c d]\",\"{x: 2, y: z}\",\n";
    let o = microseg(&["sql", "--lake", &lake, "--format", "csv", "-q", "-c", query]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), want);

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("nested.csv");
    let o = microseg(&[
        "sql",
        "--lake",
        &lake,
        "-q",
        "--output",
        file.to_str().unwrap(),
        "-c",
        query,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), want);

    // Our own functions' nested results: retention's documented example
    // ([true, false, true]) and prop_test where nobody converts (no lift,
    // z or p-value; a zero-width interval).
    let o = microseg(&[
        "sql",
        "--lake",
        &lake,
        "--format",
        "csv",
        "-q",
        "-c",
        "SELECT r, prop_test(0, 50, 0, 70) AS t FROM (\
         SELECT retention(d = DATE '2026-01-01', d = DATE '2026-01-02', d = DATE '2026-01-03') AS r \
         FROM (VALUES (DATE '2026-01-01'), (DATE '2026-01-03')) AS v(d))",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "r,t\n\"[true, false, true]\",\"{lift: NULL, z: NULL, p_value: NULL, ci_low: 0.0, ci_high: 0.0}\"\n"
    );

    let o = microseg(&[
        "sql", "--lake", &lake, "--format", "json", "-q", "-c", query,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).expect("valid JSON");
    assert_eq!(
        v,
        serde_json::json!([
            {"id": 1, "l": ["a", null, "c d"], "s": {"x": 1, "y": "z"}, "maybe": [1]},
            {"id": 2, "l": ["a", null, "c d"], "s": {"x": 2, "y": "z"}}
        ])
    );

    let o = microseg(&["sql", "--lake", &lake, "-q", "-c", query]);
    assert!(o.status.success(), "{}", stderr(&o));
    let table = stdout(&o);
    assert!(
        table.contains("| [a, , c d]") || table.contains("| [a, NULL, c d]"),
        "{table}"
    );
    assert!(table.contains("{x: 2, y: z}"), "{table}");
}
