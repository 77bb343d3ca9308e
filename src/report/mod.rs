//! `microseg report` and the live pages' charts: the morning picture of a
//! lake's segments, computed by SQL through the engine like any statement
//! and drawn with Vega-Lite.
//!
//! - [`runner`]: where the SQL runs (an engine, or a web session with its
//!   role and limits).
//! - [`chart`]: a chart's words, SQL, rows and spec.
//! - [`sections`]: what the report shows, one file per subject.
//! - [`html`]: the self-contained page.
//! - [`assets`]: the Vega bundles, compiled in.

pub mod assets;
pub mod chart;
pub mod html;
pub mod runner;
pub mod sections;

use chrono::NaiveDate;

pub use chart::Chart;
pub use runner::Runner;

use crate::error::{Error, Result};

/// What `microseg report` is asked for.
#[derive(Debug, Clone, Default)]
pub struct ReportOptions {
    /// The day the report looks back from (default: the last order's day).
    pub as_of: Option<NaiveDate>,
    /// A stored segment set, or a table/view with `customer_id` and
    /// `segment` (`TABLE:COLUMN` names another column); default: rfm()'s
    /// standard segment.
    pub segments: Option<String>,
    /// Models to profile (default: every k-means model, and the newest
    /// BG/NBD + Gamma-Gamma pair for CLV).
    pub models: Vec<String>,
}

/// One part of the report.
#[derive(Debug, Clone)]
pub struct Section {
    /// Anchor in the page.
    pub id: String,
    /// Heading.
    pub title: String,
    /// Its charts, in order.
    pub charts: Vec<Chart>,
    /// Why something is not shown, and what to run to get it.
    pub missing: Vec<String>,
}

impl Section {
    fn new(id: &str, title: &str) -> Section {
        Section {
            id: id.into(),
            title: title.into(),
            charts: Vec::new(),
            missing: Vec::new(),
        }
    }

    /// Adds `chart`, or the reason it could not be computed.
    fn push(&mut self, chart: Result<Option<Chart>>, what: &str) {
        match chart {
            Ok(Some(chart)) => self.charts.push(chart),
            Ok(None) => self
                .missing
                .push(format!("{what}: the query returned no rows.")),
            Err(e) => self
                .missing
                .push(format!("{what}: could not be computed: {e}")),
        }
    }
}

/// A computed report.
#[derive(Debug, Clone)]
pub struct Report {
    /// Where it was computed from (shown in the heading).
    pub lake: String,
    /// The day it looks back from.
    pub as_of: NaiveDate,
    /// What the segments are.
    pub segments_label: String,
    /// Its parts.
    pub sections: Vec<Section>,
}

impl Report {
    /// Every chart, in page order.
    pub fn charts(&self) -> impl Iterator<Item = &Chart> {
        self.sections.iter().flat_map(|s| s.charts.iter())
    }
}

/// The sections in order, for a progress bar's length.
pub const STEPS: usize = 6;

/// Computes the report over `runner`'s lake; `progress` hears each step's
/// name before it runs.
pub async fn build(
    runner: &dyn Runner,
    options: &ReportOptions,
    progress: &mut (dyn FnMut(&str) + Send),
) -> Result<Report> {
    progress("checking the lake");
    let context = sections::Context::new(runner, options).await?;
    let mut report = Report {
        lake: runner.lake().location.display_root(),
        as_of: context.as_of,
        segments_label: context.segments_label(),
        sections: Vec::new(),
    };
    progress("segments and RFM grid");
    report
        .sections
        .push(sections::segments::section(runner, &context).await);
    progress("cluster profiles and CLV");
    report
        .sections
        .push(sections::clusters::section(runner, &context).await);
    report
        .sections
        .push(sections::clv::section(runner, &context).await);
    progress("funnel and retention");
    report
        .sections
        .push(sections::behaviour::section(runner, &context).await);
    progress("segment migration");
    report
        .sections
        .push(sections::migration::section(runner, &context).await);
    progress("campaign lift");
    report
        .sections
        .push(sections::lift::section(runner, &context).await);
    Ok(report)
}

/// `--as-of` text → date.
pub fn parse_as_of(text: &str) -> Result<NaiveDate> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|_| Error::Usage(format!("--as-of {text:?}: use a date such as 2026-10-31")))
}
