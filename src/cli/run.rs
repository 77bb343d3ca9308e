//! Running statements and scripts, with a spinner for slow queries and a
//! row count and timing after each result.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use super::output::{self, Format};
use crate::engine::Engine;
use crate::error::{Error, Result};

/// How results are shown.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub format: Format,
    pub output: Option<PathBuf>,
    pub max_rows: usize,
    pub quiet: bool,
    /// Print each statement's leading comment as a heading (the demo tour).
    pub captions: bool,
}

/// Runs every statement of `script` in order; the first failure stops the
/// script and is reported with its line (and file, when there is one).
pub async fn run_script(
    engine: &Engine,
    script: &str,
    file: Option<&Path>,
    opts: &RunOptions,
) -> Result<()> {
    let where_ = |line: u64| match file {
        Some(f) => format!("{}:{line}", f.display()),
        None => format!("line {line}"),
    };
    let statements = engine
        .split_script(script)
        .map_err(|e| Error::Usage(format!("{}: {e}", where_(1))))?;
    let last = statements.len().saturating_sub(1);
    for (i, st) in statements.iter().enumerate() {
        if opts.captions && !st.comment.is_empty() {
            println!("\n== {}", st.comment.join("\n   "));
        }
        // Only the last result goes to --output: earlier ones are setup.
        let output = if i == last {
            opts.output.as_deref()
        } else {
            None
        };
        run_one(engine, &st.sql, output, opts)
            .await
            .map_err(|e| Error::Usage(format!("{}: {e}", where_(st.line))))?;
    }
    Ok(())
}

/// Runs one statement and prints (or writes) its result.
pub async fn run_one(
    engine: &Engine,
    sql: &str,
    output: Option<&Path>,
    opts: &RunOptions,
) -> Result<()> {
    let started = Instant::now();
    let spinner = Spinner::start();
    let result = async {
        let df = engine.sql(sql).await?;
        let is_statement = df.schema().fields().is_empty();
        let rows = match output {
            Some(path) => output::write_file(df, path).await?,
            None if opts.format == Format::Table => {
                // A table shows at most max_rows rows, so buffering it is
                // bounded, and keeps the spinner's line out of the result.
                let mut buf = Vec::new();
                let rows = output::print(df, opts.format, opts.max_rows, &mut buf).await?;
                spinner.stop();
                std::io::stdout().lock().write_all(&buf)?;
                rows
            }
            None => {
                // Other formats stream straight to stdout, never held whole.
                if std::io::stdout().is_terminal() {
                    spinner.stop();
                }
                let out = std::io::BufWriter::new(std::io::stdout());
                output::print(df, opts.format, opts.max_rows, out).await?
            }
        };
        Ok::<_, Error>((rows, is_statement))
    }
    .await;
    spinner.stop();
    let (rows, is_statement) = result?;
    if !opts.quiet {
        let elapsed = started.elapsed().as_secs_f64();
        if is_statement {
            eprintln!("ok in {elapsed:.3} s");
        } else {
            let target = output
                .map(|p| format!(" written to {}", p.display()))
                .unwrap_or_default();
            let plural = if rows == 1 { "" } else { "s" };
            eprintln!("{rows} row{plural}{target} in {elapsed:.3} s");
        }
    }
    Ok(())
}

/// A spinner on stderr that appears only after a query has run ~1 s, and
/// only when stderr is a terminal.
struct Spinner(Option<ProgressBar>);

impl Spinner {
    fn start() -> Spinner {
        if !std::io::stderr().is_terminal() {
            return Spinner(None);
        }
        let pb = ProgressBar::hidden();
        pb.set_style(
            ProgressStyle::with_template("{spinner} running… {elapsed}").expect("valid template"),
        );
        let shown = pb.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            if !shown.is_finished() {
                shown.set_draw_target(indicatif::ProgressDrawTarget::stderr());
                shown.enable_steady_tick(Duration::from_millis(100));
            }
        });
        Spinner(Some(pb))
    }

    fn stop(&self) {
        if let Some(pb) = &self.0 {
            pb.finish_and_clear();
        }
    }
}
