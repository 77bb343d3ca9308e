//! The report as one HTML page: the Vega bundles inline (a file report)
//! or linked from the server's `/assets/` (the live pages), each chart's
//! spec and rows as JSON in the page, no request to anywhere else.

use std::fmt::Write as _;

use serde_json::Value;

use super::assets;
use super::{Chart, Report};

/// How the page gets the Vega bundles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scripts {
    /// Copied into the page: it opens from disk, offline.
    Inline,
    /// `<script src="/assets/…">` from the live server.
    Linked,
}

/// Text for HTML element content and attribute values.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// An element id from any name.
pub fn dom_id(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:0;color:#222;background:#fafafa}\
header{background:#1f3a5f;color:#fff;padding:12px 24px}header a{color:#fff;margin-right:16px}\
header h1{font-size:20px;margin:0 0 4px}main{padding:8px 24px;max-width:1100px}\
section{background:#fff;border:1px solid #ddd;border-radius:6px;padding:8px 16px;margin:16px 0}\
figure{margin:16px 0;padding-bottom:8px;border-bottom:1px solid #eee}figure h3{margin:4px 0}\
.units{color:#666;font-size:13px;margin:2px 0}.reading{font-weight:600}\
.missing{background:#fff7e0;border-left:4px solid #e0a800;padding:6px 10px}\
pre{background:#f4f4f4;padding:8px;overflow-x:auto;font-size:12px}\
table.result{border-collapse:collapse;font-size:13px}table.result td,table.result th{border:1px solid #ccc;padding:2px 6px}\
.error{color:#a00;font-weight:600}form.inline{display:inline}textarea{width:100%;font-family:monospace}";

/// A whole page: `nav` goes in the header, `body` in `<main>`; the charts
/// are embedded when the page loads.
pub fn page(title: &str, nav: &str, body: &str, charts: &[&Chart], scripts: Scripts) -> String {
    let mut html = String::with_capacity(1 << 20);
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <link rel=\"icon\" href=\"data:,\"><title>{}</title><style>{STYLE}</style>",
        esc(title)
    );
    for (name, text) in assets::SCRIPTS {
        match scripts {
            Scripts::Inline => {
                html.push_str("<script>");
                html.push_str(assets::script(text));
                html.push_str("</script>\n");
            }
            Scripts::Linked => {
                let _ = write!(html, "<script src=\"/assets/{name}\"></script>");
            }
        }
    }
    let _ = write!(
        html,
        "</head><body><header><h1>{}</h1>{nav}</header><main>{body}</main>",
        esc(title)
    );
    let specs: Vec<Value> = charts
        .iter()
        .map(|c| serde_json::json!({"id": dom_id(&c.id), "spec": c.full_spec()}))
        .collect();
    // No `<` at all inside the script element (`</script`, `<!--`): in
    // JSON it can only be inside a string, where \u003c means the same.
    let json = serde_json::to_string(&specs)
        .unwrap_or_else(|_| "[]".into())
        .replace('<', "\\u003c");
    let _ = write!(
        html,
        "<script type=\"application/json\" id=\"chart-specs\">{json}</script>\n<script>{EMBED}</script>\
         <!-- Charts drawn with Vega, Vega-Lite and vega-embed (BSD-3-Clause):\n{}\n--></body></html>\n",
        assets::LICENSES.replace("--", "- -")
    );
    html
}

/// Draws every chart of the page; `microsegViews[id]` is its Vega view,
/// `body[data-rendered]` says when all are drawn (`error` if one failed).
const EMBED: &str = "window.microsegViews={};\
(function(){var specs=JSON.parse(document.getElementById('chart-specs').textContent);\
Promise.all(specs.map(function(c){return vegaEmbed('#chart-'+c.id,c.spec,{actions:false,renderer:'svg'})\
.then(function(r){window.microsegViews[c.id]=r.view;});}))\
.then(function(){document.body.dataset.rendered='true';},function(e){document.body.dataset.rendered='error';console.error(e);});})();";

/// One chart's figure: title, units, the drawing, the reading, its SQL.
pub fn figure(chart: &Chart) -> String {
    format!(
        "<figure class=\"chart\" id=\"fig-{id}\"><h3>{title}</h3><p class=\"units\">Units: {units}</p>\
         <div class=\"vis\" id=\"chart-{id}\"></div><p class=\"reading\">{reading}</p>\
         <details><summary>SQL</summary><pre class=\"sql\">{sql}</pre></details></figure>",
        id = dom_id(&chart.id),
        title = esc(&chart.title),
        units = esc(&chart.units),
        reading = esc(&chart.reading),
        sql = esc(&chart.sql),
    )
}

/// The report's sections as page body.
pub fn body(report: &Report) -> String {
    let mut html = format!(
        "<p>Lake <code>{}</code> · data before {} · segments: {}</p><nav>",
        esc(&report.lake),
        report.as_of,
        esc(&report.segments_label)
    );
    for s in &report.sections {
        let _ = write!(
            html,
            "<a href=\"#{}\">{}</a> · ",
            dom_id(&s.id),
            esc(&s.title)
        );
    }
    html.push_str("</nav>");
    for s in &report.sections {
        let _ = write!(
            html,
            "<section id=\"{}\"><h2>{}</h2>",
            dom_id(&s.id),
            esc(&s.title)
        );
        for chart in &s.charts {
            html.push_str(&figure(chart));
        }
        for note in &s.missing {
            let _ = write!(html, "<p class=\"missing\">{}</p>", esc(note));
        }
        html.push_str("</section>");
    }
    html
}

/// The file report: one self-contained page.
pub fn report_file(report: &Report) -> String {
    let charts: Vec<&Chart> = report.charts().collect();
    page(
        "microseg segment report",
        "",
        &body(report),
        &charts,
        Scripts::Inline,
    )
}
