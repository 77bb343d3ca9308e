//! microseg vs DuckDB on RFM: the per-customer base aggregate
//! (`--query base`) or the whole `rfm()` table function against the same
//! definition hand-written in DuckDB SQL (`--query rfm`); and on the
//! clickstream: `window_funnel` per customer against its nearest DuckDB
//! equivalent written with window functions (`--query funnel`).
//!
//! ```text
//! cargo bench --bench rfm_vs_duckdb -- [--query base|rfm|funnel] [--customers 1000000] [--runs 7] \
//!     [--lake bench-lake] [--python python3]
//! ```
//!
//! See `benches/README.md` for what is measured, how, and the figures.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Decimal128Type, Int64Type, TimeUnit};
use microseg::generate::{GenerateOptions, generate};
use microseg::{Engine, EngineOptions};
use serde_json::Value;

/// The base aggregate both engines run, byte for byte (the worker gets it
/// on its command line).
const RFM_SQL: &str = "SELECT customer_id, max(order_ts) AS last_order_ts, count(*) AS frequency, \
                       sum(amount) AS monetary FROM orders GROUP BY customer_id";

/// The whole RFM table in microseg: one call.
const RFM_TABLE_SQL: &str = "SELECT customer_id, last_ts AS last_order_ts, frequency, monetary, \
    first_ts, recency_days, tenure_days, avg_amount, r, f, m, rfm_code, segment \
    FROM rfm(orders, customer_id, order_ts, amount)";

/// The same table as an analyst writes it for DuckDB: rfm()'s documented
/// definition (as_of = latest order + 1 day, whole days, scores
/// 1 + floor(5 (rank - 1) / N) with RANK(), the standard R-F map).
const RFM_TABLE_DUCKDB_SQL: &str = "
WITH base AS (
  SELECT customer_id, min(order_ts) AS first_ts, max(order_ts) AS last_ts, count(*) AS frequency,
         sum(amount) AS monetary, avg(amount) AS avg_amount
  FROM orders WHERE customer_id IS NOT NULL GROUP BY customer_id
), days AS (
  SELECT *,
    (max(epoch_us(last_ts)) OVER () + 86400000000 - epoch_us(last_ts)) // 86400000000 AS recency_days,
    (max(epoch_us(last_ts)) OVER () + 86400000000 - epoch_us(first_ts)) // 86400000000 AS tenure_days
  FROM base
), scored AS (
  SELECT *,
    1 + (5 * (rank() OVER (ORDER BY recency_days DESC) - 1)) // count(*) OVER () AS r,
    1 + (5 * (rank() OVER (ORDER BY frequency) - 1)) // count(*) OVER () AS f,
    1 + (5 * (rank() OVER (ORDER BY monetary) - 1)) // count(*) OVER () AS m
  FROM days
)
SELECT customer_id, last_ts AS last_order_ts, frequency, monetary, first_ts, recency_days,
  tenure_days, avg_amount, r, f, m, CAST(r AS VARCHAR) || CAST(f AS VARCHAR) || CAST(m AS VARCHAR) AS rfm_code,
  CASE
    WHEN r = 5 AND f >= 4 THEN 'champions'
    WHEN r BETWEEN 3 AND 4 AND f >= 4 THEN 'loyal'
    WHEN r >= 4 AND f BETWEEN 2 AND 3 THEN 'potential_loyalist'
    WHEN r = 5 AND f = 1 THEN 'new_customers'
    WHEN r = 4 AND f = 1 THEN 'promising'
    WHEN r = 3 AND f = 3 THEN 'need_attention'
    WHEN r = 3 AND f <= 2 THEN 'about_to_sleep'
    WHEN r <= 2 AND f BETWEEN 3 AND 4 THEN 'at_risk'
    WHEN r <= 2 AND f = 5 THEN 'cant_lose_them'
    ELSE 'hibernating'
  END AS segment
FROM scored";

/// The funnel view → cart → checkout → purchase within an hour of the
/// view, per customer, in microseg: one aggregate call.
const FUNNEL_SQL: &str = "SELECT customer_id, \
    window_funnel(3600, event_ts, event_type = 'product_view', event_type = 'add_to_cart', \
                  event_type = 'checkout_start', event_type = 'purchase') AS level \
    FROM events \
    WHERE event_type IN ('product_view', 'add_to_cart', 'checkout_start', 'purchase') \
    GROUP BY customer_id";

/// The same funnel in DuckDB SQL with window functions. For each step-1
/// event the best chain takes, step by step, the earliest next event of
/// the following step (any later choice leaves less of the window). "The
/// next purchase after the next checkout after this row" is the minimum,
/// over later checkout rows, of each one's own next purchase, because that
/// value never decreases along the rows; so each step is one more
/// backward-looking `min() OVER (… ROWS BETWEEN 1 FOLLOWING …)`. Rows at the
/// same time are ordered by step, as window_funnel takes them. A customer's
/// level is the best over their step-1 events (0 without one).
const FUNNEL_DUCKDB_SQL: &str = "
WITH e AS (
  SELECT customer_id, event_ts AS ts,
         CASE event_type WHEN 'product_view' THEN 1 WHEN 'add_to_cart' THEN 2
                         WHEN 'checkout_start' THEN 3 ELSE 4 END AS step
  FROM events
  WHERE event_type IN ('product_view', 'add_to_cart', 'checkout_start', 'purchase')
), p AS (
  SELECT *, min(CASE WHEN step = 4 THEN ts END) OVER w AS next_p
  FROM e WINDOW w AS (PARTITION BY customer_id ORDER BY ts, step ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING)
), c AS (
  SELECT *, min(CASE WHEN step = 3 THEN ts END) OVER w AS next_c,
            min(CASE WHEN step = 3 THEN next_p END) OVER w AS next_c_p
  FROM p WINDOW w AS (PARTITION BY customer_id ORDER BY ts, step ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING)
), a AS (
  SELECT *, min(CASE WHEN step = 2 THEN ts END) OVER w AS next_a,
            min(CASE WHEN step = 2 THEN next_c END) OVER w AS next_a_c,
            min(CASE WHEN step = 2 THEN next_c_p END) OVER w AS next_a_c_p
  FROM c WINDOW w AS (PARTITION BY customer_id ORDER BY ts, step ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING)
)
SELECT customer_id,
       CAST(coalesce(max(CASE WHEN step = 1 THEN
         CASE WHEN next_a IS NULL OR next_a > ts + INTERVAL 1 HOUR THEN 1
              WHEN next_a_c IS NULL OR next_a_c > ts + INTERVAL 1 HOUR THEN 2
              WHEN next_a_c_p IS NULL OR next_a_c_p > ts + INTERVAL 1 HOUR THEN 3
              ELSE 4 END END), 0) AS INTEGER) AS level
FROM a GROUP BY customer_id";

/// What is timed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Query {
    /// The per-customer aggregate, the same SQL in both engines.
    Base,
    /// The whole rfm() table vs the same definition in DuckDB SQL.
    Rfm,
    /// window_funnel per customer over `events` vs DuckDB window functions.
    Funnel,
}

impl Query {
    fn microseg_sql(self) -> &'static str {
        match self {
            Query::Base => RFM_SQL,
            Query::Rfm => RFM_TABLE_SQL,
            Query::Funnel => FUNNEL_SQL,
        }
    }

    fn duckdb_sql(self) -> &'static str {
        match self {
            Query::Base => RFM_SQL,
            Query::Rfm => RFM_TABLE_DUCKDB_SQL,
            Query::Funnel => FUNNEL_DUCKDB_SQL,
        }
    }
}

type Error = Box<dyn std::error::Error>;
type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, Parser)]
#[command(about = "Times RFM or a funnel in microseg and in DuckDB, alternating runs")]
struct Args {
    /// Which query to time.
    #[arg(long, value_enum, default_value = "base")]
    query: Query,
    /// Customers in the generated lake.
    #[arg(long, default_value_t = 1_000_000)]
    customers: u64,
    /// Timed runs per engine (after one untimed warm-up each).
    #[arg(long, default_value_t = 7, value_parser = clap::value_parser!(u64).range(1..))]
    runs: u64,
    /// Lake folder: generated if missing or empty, reused otherwise.
    #[arg(long, default_value = "bench-lake")]
    lake: PathBuf,
    /// Python interpreter that can `import duckdb, pyarrow`.
    #[arg(long, default_value = "python3")]
    python: String,
    /// Generator seed.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// `cargo bench` appends `--bench` to every harness-less bench.
    #[arg(long, hide = true)]
    bench: bool,
}

fn main() {
    if let Err(e) = run(Args::parse()) {
        eprintln!("rfm_vs_duckdb: {e}");
        std::process::exit(1);
    }
}

fn run(args: Args) -> Result<()> {
    let lake = std::path::absolute(&args.lake)?;
    let lake_str = lake
        .to_str()
        .ok_or_else(|| format!("lake path {} is not UTF-8", lake.display()))?;
    ensure_lake(&lake, &args)?;
    let (bytes, files) = folder_size(&lake)?;
    let (order_bytes, order_files) = folder_size(&lake.join("orders"))?;
    println!(
        "lake {}: {} in {files} files; orders: {} in {order_files} files",
        lake.display(),
        mib(bytes),
        mib(order_bytes)
    );

    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let engine = rt.block_on(Engine::open(lake_str, EngineOptions::default()))?;
    let facts = rt.block_on(lake_facts(&engine, args.query))?;
    if let Some(n) = facts.customers_table
        && n != args.customers
    {
        return Err(format!(
            "{} holds {n} customers but --customers {} was asked: delete the folder or pass another --lake",
            lake.display(),
            args.customers
        )
        .into());
    }
    println!(
        "orders: {} rows, {} distinct customers with orders",
        facts.order_rows, facts.buying_customers
    );
    if let Some((rows, customers)) = facts.funnel {
        println!("funnel events: {rows} rows, {customers} distinct customers");
    }

    let mut duck = DuckDb::start(&args.python, &lake, threads, args.query.duckdb_sql())?;
    println!(
        "microseg: target_partitions = {}; DuckDB {} (python {}, threads = {}, {})",
        engine.settings().target_partitions,
        duck.version,
        duck.python,
        duck.threads,
        duck.fetch
    );
    let load_before = load_average();

    // The warm-ups double as the cross-check: full results of both engines,
    // checksummed after their clocks stopped.
    let (ms_warm, batches) = rt.block_on(time_microseg(&engine, args.query.microseg_sql()))?;
    let ours = checksums(&batches)?;
    drop(batches);
    let (duck_warm, theirs) = duck.check()?;
    println!(
        "warm-up: microseg {:.3} s, DuckDB {:.3} s",
        ms_warm.as_secs_f64(),
        duck_warm.as_secs_f64()
    );
    cross_check(&ours, &theirs, &facts)?;
    if facts.funnel.is_some() {
        println!(
            "cross-check ok: {} rows, level histogram (0..4) {:?}",
            ours.rows, ours.levels
        );
    } else {
        println!(
            "cross-check ok: {} rows, frequency total {}, monetary total {}, last_order_ts checksum {}",
            ours.rows,
            ours.frequency_total,
            cents_to_string(ours.monetary_cents),
            ours.last_ts_micros_total
        );
    }

    let mut ms_times = Vec::new();
    let mut duck_times = Vec::new();
    for i in 1..=args.runs {
        let (elapsed, batches) = rt.block_on(time_microseg(&engine, args.query.microseg_sql()))?;
        expect_rows("microseg", batch_rows(&batches), facts.result_rows())?;
        drop(batches);
        ms_times.push(elapsed.as_secs_f64());

        let (elapsed, rows) = duck.run()?;
        expect_rows("DuckDB", rows, facts.result_rows())?;
        duck_times.push(elapsed.as_secs_f64());
        println!(
            "run {i}/{}: microseg {:.3} s, DuckDB {:.3} s",
            args.runs,
            ms_times.last().unwrap(),
            duck_times.last().unwrap()
        );
    }
    let load_after = load_average();

    let ms = Summary::of(&ms_times);
    let dk = Summary::of(&duck_times);
    let ratio = ms.median / dk.median;
    println!();
    println!(
        "{:<10} {:>5} {:>9} {:>9} {:>9}",
        "engine", "runs", "median s", "min s", "max s"
    );
    for (name, s) in [("microseg", &ms), ("DuckDB", &dk)] {
        println!(
            "{name:<10} {:>5} {:>9.3} {:>9.3} {:>9.3}",
            args.runs, s.median, s.min, s.max
        );
    }
    println!("microseg ÷ DuckDB (medians): {ratio:.2}  (< 1 means microseg is faster)");
    println!(
        "load average (1/5/15 min): before {load_before}, after {load_after}; {threads} cores"
    );

    let commit = git_commit();
    println!();
    println!("README row:");
    println!(
        "| {} | {} | {} | {:.3} | {:.3} | {ratio:.2} | {} | {commit} | {load_before} → {load_after} |",
        chrono::Utc::now().format("%Y-%m-%d"),
        args.customers,
        facts.funnel.map_or(facts.order_rows, |(rows, _)| rows),
        ms.median,
        dk.median,
        duck.version,
    );
    Ok(())
}

/// Generates the lake unless the folder already holds one. (The generator
/// writes to a partial folder and renames it at the end, so an interrupted
/// run leaves nothing here to be mistaken for a lake.)
fn ensure_lake(lake: &Path, args: &Args) -> Result<()> {
    if std::fs::read_dir(lake).is_ok_and(|mut entries| entries.next().is_some()) {
        println!(
            "reusing the lake in {} (delete it to regenerate)",
            lake.display()
        );
        return Ok(());
    }
    eprintln!(
        "generating {} customers (seed {}) into {}",
        args.customers,
        args.seed,
        lake.display()
    );
    let last_tenth = AtomicU64::new(0);
    let start = Instant::now();
    generate(
        &GenerateOptions {
            customers: args.customers,
            seed: args.seed,
            out: lake.to_path_buf(),
            ..GenerateOptions::default()
        },
        &|done, total| {
            let tenth = done * 10 / total.max(1);
            if tenth > last_tenth.fetch_max(tenth, Ordering::Relaxed) {
                eprintln!("  {}%", tenth * 10);
            }
        },
    )?;
    println!(
        "generated {} customers in {:.1} s",
        args.customers,
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Bytes and files under `dir`, recursively.
fn folder_size(dir: &Path) -> Result<(u64, u64)> {
    let (mut bytes, mut files) = (0, 0);
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        if meta.is_dir() {
            let (b, f) = folder_size(&entry.path())?;
            bytes += b;
            files += f;
        } else {
            bytes += meta.len();
            files += 1;
        }
    }
    Ok((bytes, files))
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1u64 << 20) as f64)
}

struct LakeFacts {
    order_rows: u64,
    /// What every run's row count must equal.
    buying_customers: u64,
    /// Rows of the `customers` table, if the lake has one.
    customers_table: Option<u64>,
    /// With `--query funnel`: funnel events and their distinct customers.
    funnel: Option<(u64, u64)>,
}

impl LakeFacts {
    /// What every run's row count must equal: one row per customer.
    fn result_rows(&self) -> u64 {
        self.funnel.map_or(self.buying_customers, |(_, c)| c)
    }
}

async fn lake_facts(engine: &Engine, query: Query) -> Result<LakeFacts> {
    let counts = engine
        .sql("SELECT count(*), count(DISTINCT customer_id) FROM orders")
        .await?
        .collect()
        .await?;
    let customers_table = if engine.session().table_exist("customers")? {
        let batches = engine
            .sql("SELECT count(*) FROM customers")
            .await?
            .collect()
            .await?;
        Some(single_i64(&batches, 0)?)
    } else {
        None
    };
    let funnel = if query == Query::Funnel {
        let batches = engine
            .sql(
                "SELECT count(*), count(DISTINCT customer_id) FROM events \
                 WHERE event_type IN ('product_view', 'add_to_cart', 'checkout_start', 'purchase')",
            )
            .await?
            .collect()
            .await?;
        Some((single_i64(&batches, 0)?, single_i64(&batches, 1)?))
    } else {
        None
    };
    Ok(LakeFacts {
        order_rows: single_i64(&counts, 0)?,
        buying_customers: single_i64(&counts, 1)?,
        customers_table,
        funnel,
    })
}

fn single_i64(batches: &[RecordBatch], column: usize) -> Result<u64> {
    let batch = batches
        .iter()
        .find(|b| b.num_rows() > 0)
        .ok_or("count query returned no rows")?;
    let value = batch
        .column(column)
        .as_primitive_opt::<Int64Type>()
        .ok_or("count query did not return BIGINT")?
        .value(0);
    Ok(u64::try_from(value)?)
}

async fn time_microseg(engine: &Engine, sql: &str) -> Result<(Duration, Vec<RecordBatch>)> {
    let start = Instant::now();
    let batches = engine.sql(sql).await?.collect().await?;
    Ok((start.elapsed(), batches))
}

fn batch_rows(batches: &[RecordBatch]) -> u64 {
    batches.iter().map(|b| b.num_rows() as u64).sum()
}

fn expect_rows(engine: &str, rows: u64, expected: u64) -> Result<()> {
    if rows == expected {
        Ok(())
    } else {
        Err(format!(
            "{engine} returned {rows} rows, but the input has {expected} distinct customers"
        )
        .into())
    }
}

/// Order-independent fingerprints of one full RFM result. Integer sums
/// (i128, so nothing wraps) let the engines be compared exactly: a float
/// total could hide a one-cent disagreement.
#[derive(Debug, PartialEq, Eq)]
struct Checksums {
    rows: u64,
    frequency_total: i128,
    monetary_cents: i128,
    last_ts_micros_total: i128,
    /// Σ (100 r + 10 f + m) with `--query rfm`, 0 otherwise.
    scores_total: i128,
    /// With `--query funnel`: customers per funnel level 0..4 (all 0 otherwise).
    levels: [u64; 5],
}

fn checksums(batches: &[RecordBatch]) -> Result<Checksums> {
    let mut sums = Checksums {
        rows: batch_rows(batches),
        frequency_total: 0,
        monetary_cents: 0,
        last_ts_micros_total: 0,
        scores_total: 0,
        levels: [0; 5],
    };
    for batch in batches {
        // The funnel result has customer_id and level only.
        if let Some(level) = batch.column_by_name("level") {
            let level = cast(level, &DataType::Int64)?;
            for l in level.as_primitive::<Int64Type>().iter() {
                let l = l.ok_or("NULL funnel level")?;
                let slot = usize::try_from(l).ok().filter(|&i| i < 5);
                sums.levels[slot.ok_or_else(|| format!("funnel level {l} out of 0..4"))?] += 1;
            }
            continue;
        }
        let column = |name: &str| {
            batch
                .column_by_name(name)
                .ok_or_else(|| format!("result has no column {name}"))
        };

        let frequency = cast(column("frequency")?, &DataType::Int64)?;
        sums.frequency_total += int_total(frequency.as_primitive::<Int64Type>().iter());

        // Rescaling to two decimals makes the sum count cents whatever
        // precision DataFusion chose for sum(DECIMAL(12,2)).
        let monetary = cast(column("monetary")?, &DataType::Decimal128(38, 2))?;
        sums.monetary_cents += monetary
            .as_primitive::<Decimal128Type>()
            .iter()
            .flatten()
            .sum::<i128>();

        for (name, weight) in [("r", 100), ("f", 10), ("m", 1)] {
            if let Some(scores) = batch.column_by_name(name) {
                let scores = cast(scores, &DataType::Int64)?;
                sums.scores_total += weight * int_total(scores.as_primitive::<Int64Type>().iter());
            }
        }

        let ts = column("last_order_ts")?;
        let micros_per_tick: (i128, i128) = match ts.data_type() {
            DataType::Timestamp(TimeUnit::Second, _) => (1_000_000, 1),
            DataType::Timestamp(TimeUnit::Millisecond, _) => (1_000, 1),
            DataType::Timestamp(TimeUnit::Microsecond, _) => (1, 1),
            DataType::Timestamp(TimeUnit::Nanosecond, _) => (1, 1_000),
            other => return Err(format!("last_order_ts is {other}, not a timestamp").into()),
        };
        // Timestamp -> Int64 keeps the raw epoch ticks (no time-zone shift);
        // each value is floored to whole microseconds, as the worker does.
        let ticks = cast(ts, &DataType::Int64)?;
        let (mul, div) = micros_per_tick;
        sums.last_ts_micros_total += ticks
            .as_primitive::<Int64Type>()
            .iter()
            .flatten()
            .map(|t| (i128::from(t) * mul).div_euclid(div))
            .sum::<i128>();
    }
    Ok(sums)
}

fn int_total(values: impl Iterator<Item = Option<i64>>) -> i128 {
    values.flatten().map(i128::from).sum()
}

fn cross_check(ours: &Checksums, theirs: &Checksums, facts: &LakeFacts) -> Result<()> {
    expect_rows("microseg", ours.rows, facts.result_rows())?;
    expect_rows("DuckDB", theirs.rows, facts.result_rows())?;
    if facts.funnel.is_none() && ours.frequency_total != i128::from(facts.order_rows) {
        return Err(format!(
            "microseg frequencies add up to {}, but orders has {} rows",
            ours.frequency_total, facts.order_rows
        )
        .into());
    }
    if ours != theirs {
        return Err(format!(
            "THE ENGINES DISAGREE on the result:\n  microseg: {ours:?} (monetary {})\n  DuckDB:   {theirs:?} (monetary {})",
            cents_to_string(ours.monetary_cents),
            cents_to_string(theirs.monetary_cents)
        )
        .into());
    }
    Ok(())
}

fn cents_to_string(cents: i128) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let abs = cents.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

struct Summary {
    median: f64,
    min: f64,
    max: f64,
}

impl Summary {
    fn of(times: &[f64]) -> Summary {
        let mut sorted = times.to_vec();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        let median = if n % 2 == 1 {
            sorted[n / 2]
        } else {
            (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
        };
        Summary {
            median,
            min: sorted[0],
            max: sorted[n - 1],
        }
    }
}

/// The long-lived `benches/peers/duckdb_worker.py`, spoken to in JSON lines.
struct DuckDb {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    version: String,
    python: String,
    threads: String,
    fetch: String,
}

impl DuckDb {
    fn start(python: &str, lake: &Path, threads: usize, sql: &str) -> Result<DuckDb> {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/peers/duckdb_worker.py");
        let mut child = Command::new(python)
            .arg(&script)
            .arg(lake)
            .arg(threads.to_string())
            .arg(sql)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| {
                format!("cannot start `{python}`: {e} (pass --python /path/to/venv/bin/python)")
            })?;
        let stdin = child.stdin.take().expect("stdin is piped");
        let stdout = BufReader::new(child.stdout.take().expect("stdout is piped"));
        let mut duck = DuckDb {
            child,
            stdin,
            stdout,
            version: String::new(),
            python: String::new(),
            threads: String::new(),
            fetch: String::new(),
        };
        let hello = duck
            .read_reply()
            .map_err(|e| format!("{e}\n  (started as: {python} {})", script.display()))?;
        let text = |key: &str| match &hello[key] {
            Value::String(s) => s.clone(),
            Value::Null => "?".to_string(),
            other => other.to_string(),
        };
        duck.version = text("duckdb");
        duck.python = text("python");
        duck.threads = text("threads");
        duck.fetch = text("fetch");
        Ok(duck)
    }

    fn read_reply(&mut self) -> Result<Value> {
        let mut line = String::new();
        if self.stdout.read_line(&mut line)? == 0 {
            return Err("the DuckDB worker exited (its stderr is above)".into());
        }
        let reply: Value = serde_json::from_str(&line)
            .map_err(|e| format!("unreadable reply from the DuckDB worker {line:?}: {e}"))?;
        if let Some(message) = reply.get("error") {
            return Err(format!("DuckDB worker: {}", message.as_str().unwrap_or_default()).into());
        }
        Ok(reply)
    }

    fn request(&mut self, command: &str) -> Result<Value> {
        writeln!(self.stdin, "{command}")?;
        self.stdin.flush()?;
        self.read_reply()
    }

    fn run(&mut self) -> Result<(Duration, u64)> {
        let reply = self.request("run")?;
        Ok((seconds(&reply)?, uint(&reply, "rows")?))
    }

    fn check(&mut self) -> Result<(Duration, Checksums)> {
        let reply = self.request("check")?;
        let big = |key: &str| -> Result<i128> {
            let text = reply[key]
                .as_str()
                .ok_or_else(|| format!("worker reply lacks {key}: {reply}"))?;
            Ok(text.parse()?)
        };
        let sums = Checksums {
            rows: uint(&reply, "rows")?,
            frequency_total: i128::from(uint(&reply, "frequency_total")?),
            monetary_cents: big("monetary_cents")?,
            last_ts_micros_total: big("last_ts_micros_total")?,
            scores_total: big("scores_total")?,
            levels: match reply.get("levels") {
                Some(Value::Array(counts)) if counts.len() == 5 => {
                    let mut levels = [0; 5];
                    for (slot, n) in levels.iter_mut().zip(counts) {
                        *slot = n.as_u64().ok_or_else(|| format!("bad levels: {reply}"))?;
                    }
                    levels
                }
                _ => [0; 5],
            },
        };
        Ok((seconds(&reply)?, sums))
    }
}

impl Drop for DuckDb {
    fn drop(&mut self) {
        let _ = writeln!(self.stdin, "quit");
        let _ = self.stdin.flush();
        let _ = self.child.wait();
    }
}

fn seconds(reply: &Value) -> Result<Duration> {
    let s = reply["seconds"]
        .as_f64()
        .ok_or_else(|| format!("worker reply lacks seconds: {reply}"))?;
    Ok(Duration::from_secs_f64(s))
}

fn uint(reply: &Value, key: &str) -> Result<u64> {
    reply[key]
        .as_u64()
        .ok_or_else(|| format!("worker reply lacks {key}: {reply}").into())
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".to_string())
}

fn git_commit() -> String {
    Command::new("git")
        .args(["describe", "--always", "--dirty", "--abbrev=12"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".to_string())
}
