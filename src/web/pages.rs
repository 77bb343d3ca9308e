//! The live report and the SQL box.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use super::runner::WebRunner;
use super::{AppState, WebSession, html, nav, require, same_token};
use crate::report::chart::{Chart, Rows, rows};
use crate::report::html::{Scripts, esc, page};
use crate::report::{self, ReportOptions, Runner};

/// `/report?as_of=&segments=&model=`: the report computed now, as the
/// logged-in user.
#[derive(Debug, Default, Deserialize)]
pub struct ReportQuery {
    #[serde(default)]
    as_of: String,
    #[serde(default)]
    segments: String,
    #[serde(default)]
    model: String,
}

/// GET /report.
pub async fn report(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(query): Query<ReportQuery>,
) -> Response {
    let web = match require(&state, &headers) {
        Ok(web) => web,
        Err(redirect) => return *redirect,
    };
    let runner = WebRunner {
        session: web.session.clone(),
        gate: &state.gate,
    };
    let form = format!(
        "<form method=\"get\" action=\"/report\" id=\"report-options\">As of <input name=\"as_of\" placeholder=\"YYYY-MM-DD\" value=\"{}\"> \
         Segments <input name=\"segments\" placeholder=\"set, model or TABLE[:COLUMN]\" value=\"{}\"> \
         Model <input name=\"model\" value=\"{}\"> <button type=\"submit\">Show</button></form>",
        esc(&query.as_of),
        esc(&query.segments),
        esc(&query.model)
    );
    let options = (|| -> crate::Result<ReportOptions> {
        let filled = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
        Ok(ReportOptions {
            as_of: filled(&query.as_of)
                .map(|d| report::parse_as_of(&d))
                .transpose()?,
            segments: filled(&query.segments),
            models: filled(&query.model).into_iter().collect(),
        })
    })();
    let built = match options {
        Ok(options) => report::build(&runner, &options, &mut |_| {}).await,
        Err(e) => Err(e),
    };
    match built {
        Ok(built) => {
            let charts: Vec<&Chart> = built.charts().collect();
            let body = format!("{form}{}", report::html::body(&built));
            html(
                StatusCode::OK,
                page(
                    "Segment report",
                    &nav(&web),
                    &body,
                    &charts,
                    Scripts::Linked,
                ),
            )
        }
        Err(e) => {
            let body = format!("{form}<p class=\"error\">{}</p>", esc(&e.to_string()));
            html(
                StatusCode::OK,
                page("Segment report", &nav(&web), &body, &[], Scripts::Linked),
            )
        }
    }
}

/// The SQL box's form fields.
#[derive(Debug, Default, Deserialize)]
pub struct SqlForm {
    #[serde(default)]
    sql: String,
    #[serde(default)]
    view: String,
    #[serde(default)]
    csrf: String,
}

/// GET /sql: the empty box.
pub async fn sql_page(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    match require(&state, &headers) {
        Ok(web) => sql_response(&web, &SqlForm::default(), String::new(), None),
        Err(redirect) => *redirect,
    }
}

/// Rows shown in the table view at most.
const MAX_TABLE_ROWS: usize = 1000;

/// POST /sql: runs the statement as the user, shows a table or a chart.
pub async fn sql_run(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Form(form): Form<SqlForm>,
) -> Response {
    let web = match require(&state, &headers) {
        Ok(web) => web,
        Err(redirect) => return *redirect,
    };
    if !same_token(&web.csrf, &form.csrf) {
        return html(StatusCode::FORBIDDEN, "invalid CSRF token".into());
    }
    let runner = WebRunner {
        session: web.session.clone(),
        gate: &state.gate,
    };
    let result = match runner.query(&form.sql).await.and_then(|b| {
        // JSON objects sort their keys: keep the result's column order apart.
        let columns: Vec<String> = b
            .first()
            .map(|batch| {
                batch
                    .schema()
                    .fields()
                    .iter()
                    .map(|f| f.name().clone())
                    .collect()
            })
            .unwrap_or_default();
        Ok((columns, rows(&b)?))
    }) {
        Ok(result) => result,
        Err(e) => {
            let message = format!(
                "<p class=\"error\" id=\"sql-error\">{}</p>",
                esc(&e.to_string())
            );
            return sql_response(&web, &form, message, None);
        }
    };
    if form.view == "chart" {
        match auto_chart(&form.sql, &result.0, result.1) {
            Ok(chart) => {
                let body = crate::report::html::figure(&chart);
                sql_response(&web, &form, body, Some(chart))
            }
            Err(message) => sql_response(
                &web,
                &form,
                format!("<p class=\"error\" id=\"sql-error\">{}</p>", esc(&message)),
                None,
            ),
        }
    } else {
        sql_response(&web, &form, table(&result.0, &result.1), None)
    }
}

fn sql_response(
    web: &WebSession,
    form: &SqlForm,
    result: String,
    chart: Option<Chart>,
) -> Response {
    let checked = |v: &str| {
        if (form.view == v) || (v == "table" && form.view != "chart") {
            " checked"
        } else {
            ""
        }
    };
    let body = format!(
        "<h2>SQL</h2><form method=\"post\" action=\"/sql\" id=\"sql-form\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <textarea name=\"sql\" id=\"sql\" rows=\"8\">{sql}</textarea>\
         <p><label><input type=\"radio\" name=\"view\" value=\"table\"{t}> table</label> \
         <label><input type=\"radio\" name=\"view\" value=\"chart\"{c}> chart (first column: labels, first numeric column: values)</label> \
         <button type=\"submit\" id=\"run\">Run</button></p></form><div id=\"result\">{result}</div>",
        csrf = esc(&web.csrf),
        sql = esc(&form.sql),
        t = checked("table"),
        c = checked("chart"),
    );
    let charts: Vec<&Chart> = chart.iter().collect();
    html(
        StatusCode::OK,
        page("SQL", &nav(web), &body, &charts, Scripts::Linked),
    )
}

/// A result as an HTML table.
fn table(columns: &[String], rows: &Rows) -> String {
    if rows.is_empty() {
        return "<p id=\"row-count\">0 rows</p>".into();
    }
    let mut html = format!(
        "<p id=\"row-count\">{} rows</p><table class=\"result\" id=\"result-table\"><tr>",
        rows.len()
    );
    for name in columns {
        let _ = write!(html, "<th>{}</th>", esc(name));
    }
    html.push_str("</tr>");
    for row in rows.iter().take(MAX_TABLE_ROWS) {
        html.push_str("<tr>");
        for value in columns.iter().map(|c| &row[c]) {
            let text = match value {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Null => "NULL".into(),
                other => other.to_string(),
            };
            let _ = write!(html, "<td>{}</td>", esc(&text));
        }
        html.push_str("</tr>");
    }
    html.push_str("</table>");
    html
}

/// Bars of the first numeric column against the first column.
fn auto_chart(sql: &str, columns: &[String], rows: Rows) -> Result<Chart, String> {
    if rows.is_empty() {
        return Err("the query returned no rows: nothing to draw".into());
    }
    let label = columns
        .first()
        .cloned()
        .ok_or("the result has no columns")?;
    let value = columns
        .iter()
        .skip(1)
        .find(|c| rows.iter().any(|r| r[c.as_str()].is_number()))
        .cloned()
        .ok_or("a chart needs a label column first and a numeric column after it")?;
    Ok(Chart {
        id: "sql-chart".into(),
        title: format!("{value} by {label}"),
        units: format!("{value} as returned"),
        reading: format!("{} rows drawn.", rows.len()),
        sql: sql.to_string(),
        spec: json!({
            "mark": {"type": "bar", "tooltip": true},
            "encoding": {
                "x": {"field": label, "type": "nominal", "sort": null},
                "y": {"field": value, "type": "quantitative"}
            }
        }),
        rows,
    })
}
