//! `microseg generate`: the synthetic lake, with a progress bar.

use std::io::IsTerminal;
use std::path::PathBuf;

use chrono::NaiveDate;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use crate::error::{Error, Result};
use crate::generate::{GenerateOptions, GenerateReport, generate};

/// Options of `microseg generate`.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Number of customers.
    #[arg(long, default_value_t = 100_000)]
    pub customers: u64,
    /// Random seed: the same seed gives byte-identical files.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Output folder (must not exist or be empty).
    #[arg(long)]
    pub out: PathBuf,
    /// Months of history, ending with the month of --as-of.
    #[arg(long, default_value_t = 24)]
    pub months: u32,
    /// Last day of history (YYYY-MM-DD).
    #[arg(long, default_value = "2026-10-31")]
    pub as_of: NaiveDate,
    /// Worker threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Skip the raw sources (src_* tables and _truth/identities); the other
    /// tables are the same bytes either way.
    #[arg(long)]
    pub no_sources: bool,
    /// Only these per-customer tables, comma-separated (customers, orders,
    /// order_items, events, tickets, campaign_sends, consents, drink_ratings,
    /// sources);
    /// products, stores and _truth/personas are always written. Each table
    /// written has the bytes of a full run: `--tables customers,orders`
    /// makes a 10M-customer lake in minutes and a few GB.
    #[arg(long, value_delimiter = ',')]
    pub tables: Option<Vec<String>>,
}

pub async fn run(args: GenerateArgs) -> Result<()> {
    let opts = GenerateOptions {
        customers: args.customers,
        seed: args.seed,
        out: args.out,
        months: args.months,
        as_of: args.as_of,
        threads: args.threads,
        sources: !args.no_sources,
        tables: args.tables,
    };
    let report = generate_with_progress(opts).await?;
    print_report(&report);
    Ok(())
}

/// Generates on a blocking thread, drawing a progress bar when stderr is a terminal.
pub async fn generate_with_progress(opts: GenerateOptions) -> Result<GenerateReport> {
    let pb = if std::io::stderr().is_terminal() {
        let pb = ProgressBar::new(opts.customers);
        pb.set_style(
            ProgressStyle::with_template("generating {bar:40} {pos}/{len} customers ({eta} left)")
                .expect("valid template"),
        );
        pb
    } else {
        ProgressBar::hidden()
    };
    let bar = pb.clone();
    let report = tokio::task::spawn_blocking(move || {
        generate(&opts, &|done, _total| bar.set_position(done))
    })
    .await
    .map_err(|e| Error::Usage(format!("generator thread failed: {e}")))?;
    pb.finish_and_clear();
    report
}

/// One line per table, then the overall rate.
pub fn print_report(report: &GenerateReport) {
    for t in &report.tables {
        eprintln!("  {:<20} {:>12} rows {:>6} files", t.table, t.rows, t.files);
    }
    let secs = report.elapsed.as_secs_f64();
    eprintln!(
        "{} rows in {secs:.1} s ({:.2} M rows/s)",
        report.total_rows(),
        report.total_rows() as f64 / secs.max(1e-9) / 1e6
    );
}
