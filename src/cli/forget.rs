//! `microseg forget --customer ID`: erasure of one person.

use clap::Args;

use super::LakeArgs;
use super::output::Format;
use crate::error::Result;

/// `microseg forget`.
#[derive(Debug, Args)]
pub struct ForgetArgs {
    #[command(flatten)]
    lake: LakeArgs,
    /// The person's entity key (customer_id unless the lake says otherwise).
    #[arg(long)]
    customer: String,
    /// Why (kept with the suppression entry, e.g. a request number).
    #[arg(long)]
    reason: Option<String>,
    /// Output format of the report on stdout.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

/// Suppresses the person, rewrites the Delta tables without them and
/// prints what was done per table.
pub async fn run(args: ForgetArgs) -> Result<()> {
    let engine = crate::Engine::open(&args.lake.lake, args.lake.engine_options()).await?;
    let report = engine
        .forget(&args.customer, args.reason.as_deref())
        .await?;
    let df = engine.session().read_batch(report.batch()?)?;
    super::output::print(df, args.format, usize::MAX, std::io::stdout()).await?;
    if !report.found() {
        eprintln!(
            "customer {} was found in no table of the lake; it is on the suppression list anyway, so rows that arrive later stay hidden",
            report.customer
        );
    }
    eprintln!(
        "versions of the Delta tables from before this forget can no longer be read by anyone (table_at included)"
    );
    Ok(())
}
