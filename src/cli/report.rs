//! `microseg report`: the segment report as one self-contained HTML file.

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::Args;

use super::LakeArgs;
use crate::error::{Error, Result};
use crate::report::{self, ReportOptions};

/// Options of `microseg report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    #[command(flatten)]
    lake: LakeArgs,
    /// Where to write the page.
    #[arg(long, default_value = "report.html")]
    out: PathBuf,
    /// Look back from this day (YYYY-MM-DD, exclusive; default: the day after the last order).
    #[arg(long)]
    as_of: Option<String>,
    /// A stored segment set, or TABLE[:COLUMN] keyed by customer_id (default: rfm()'s segment).
    #[arg(long)]
    segments: Option<String>,
    /// A model to profile (repeatable; default: every model of the lake).
    #[arg(long = "model")]
    models: Vec<String>,
}

impl ReportArgs {
    /// The arguments for `lake`, everything else default (for the demo).
    pub fn for_lake(lake: LakeArgs, out: PathBuf) -> ReportArgs {
        ReportArgs {
            lake,
            out,
            as_of: None,
            segments: None,
            models: Vec::new(),
        }
    }
}

/// Computes the report and writes it; returns the path written.
pub async fn run(args: ReportArgs) -> Result<PathBuf> {
    let options = ReportOptions {
        as_of: args.as_of.as_deref().map(report::parse_as_of).transpose()?,
        segments: args.segments.clone(),
        models: args.models.clone(),
    };
    let engine = crate::Engine::open(&args.lake.lake, args.lake.engine_options()).await?;
    let bar = if std::io::stderr().is_terminal() {
        indicatif::ProgressBar::new(report::STEPS as u64)
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template("report [{bar:30}] {pos}/{len} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let mut first = true;
    let mut progress = |step: &str| {
        if !first {
            bar.inc(1);
        }
        first = false;
        bar.set_message(step.to_string());
        if bar.is_hidden() {
            eprintln!("report: {step}…");
        }
    };
    let built = report::build(&engine, &options, &mut progress).await;
    bar.finish_and_clear();
    let built = built?;
    let html = report::html::report_file(&built);
    std::fs::write(&args.out, &html)
        .map_err(|e| Error::Usage(format!("cannot write {}: {e}", args.out.display())))?;
    let missing: usize = built.sections.iter().map(|s| s.missing.len()).sum();
    eprintln!(
        "wrote {} ({} charts, {} KB){}",
        args.out.display(),
        built.charts().count(),
        html.len() / 1024,
        if missing > 0 {
            format!("; {missing} part(s) missing, the page says what to run")
        } else {
            String::new()
        }
    );
    Ok(args.out)
}
