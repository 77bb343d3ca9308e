//! The synthetic customer lake: customers, orders, clickstream, tickets,
//! campaigns and consents for a retailer, with planted behaviour (personas,
//! buy-till-you-die purchasing, seasonality, life events, campaign effects)
//! for segmentation to rediscover. `sql/README.md`, section "The lake", is
//! the contract: tables, columns, types and the planted parameters.
//!
//! Output is deterministic: a customer's rows come from a random stream keyed
//! by (seed, customer id) only, customers are written in consecutive chunks
//! whose size depends on the customer count alone (see [`chunk_customers`];
//! one file per chunk and partition), and the single-file truth table is
//! written in chunk order. The same options therefore give byte-identical
//! files for any number of threads.

mod assortment;
mod calendar;
#[doc(hidden)]
pub mod calibration;
mod persona;
mod rng;
mod sim;
mod sources;
mod tables;
mod tastes;
mod text;
mod vocabulary;

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::BufWriter;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use datafusion::arrow::array::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;

use crate::error::{Error, Result};
use sim::{Scratch, World};
use sources::Sources;
use tables::{
    Columns, ConsentCols, CustomerCols, EventCols, ItemCols, OrderCols, ProductCols, RatingCols,
    SendCols, Sink, StoreCols, Table, TasteCols, TicketCols, TruthCols, close_writer, io_at,
    open_writer, parquet_err, write_single,
};

/// Customers per chunk, the unit of parallel work and of output files:
/// about 16 chunks so that 2–8 threads share the work evenly, but at least
/// 5,000 customers (no swarm of tiny files) and at most 50,000. It depends on
/// the customer count only, never on the thread count, so that the bytes
/// written do not either. Chunking moves file boundaries, not row contents.
pub fn chunk_customers(customers: u64) -> u64 {
    customers.div_ceil(16).clamp(5_000, 50_000)
}
/// How often (in customers) a worker flushes full batches and reports
/// progress; small enough that a batch overshoots its target only slightly.
const PROGRESS_EVERY: u64 = 250;
/// Keeps `customer_id * 10_000 + n` order ids inside an `i64`.
const MAX_CUSTOMERS: u64 = 1_000_000_000_000;

/// What to generate and where.
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    /// Number of customers (ids 1..=customers).
    pub customers: u64,
    /// Random seed; the same seed (and options) gives byte-identical files.
    pub seed: u64,
    /// Output folder; must not exist or be empty.
    pub out: PathBuf,
    /// Months of history: whole calendar months ending with the month of `as_of`.
    pub months: u32,
    /// Last simulated day; nothing is timestamped after its end.
    pub as_of: NaiveDate,
    /// Worker threads; `None` uses all cores.
    pub threads: Option<usize>,
    /// Also write the raw sources (`src_*` tables and `_truth/identities`);
    /// they come from their own random streams, so the other tables are the
    /// same bytes either way.
    pub sources: bool,
    /// Only these per-customer tables (by folder name, plus `sources` for
    /// the raw sources); `None` writes them all. Products, stores and
    /// `_truth/personas` are always written. A table written is the same
    /// bytes as in a full run.
    pub tables: Option<Vec<String>>,
}

/// What `tables` may name.
pub const SELECTABLE: [&str; 9] = [
    "customers",
    "orders",
    "order_items",
    "events",
    "tickets",
    "campaign_sends",
    "consents",
    "drink_ratings",
    "sources",
];

/// Which tables a run writes, indexed like [`Table::ALL`].
type Selection = [bool; Table::ALL.len()];

fn selection(opts: &GenerateOptions) -> Result<Selection> {
    let mut chosen: Selection = [true; Table::ALL.len()];
    if let Some(names) = &opts.tables {
        if names.is_empty() {
            return Err(Error::Usage(format!(
                "--tables names no table (choose from {})",
                SELECTABLE.join(", ")
            )));
        }
        for n in names {
            if !SELECTABLE.contains(&n.as_str()) {
                return Err(Error::Usage(format!(
                    "--tables: unknown table {n:?} (choose from {})",
                    SELECTABLE.join(", ")
                )));
            }
        }
        let named = |n: &str| names.iter().any(|x| x == n);
        for (c, t) in chosen.iter_mut().zip(Table::ALL) {
            *c = match t {
                Table::Products | Table::Stores | Table::Truth => true,
                t if t.is_source() => named("sources"),
                Table::Tastes => named("drink_ratings"),
                t => named(t.dir()),
            };
        }
    }
    if !opts.sources {
        for (c, t) in chosen.iter_mut().zip(Table::ALL) {
            *c &= !t.is_source();
        }
    }
    Ok(chosen)
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions {
            customers: 100_000,
            seed: 42,
            out: PathBuf::from("demo-lake"),
            months: 24,
            as_of: NaiveDate::from_ymd_opt(2026, 10, 31).expect("valid default date"),
            threads: None,
            sources: true,
            tables: None,
        }
    }
}

/// Rows and files written for one table (or for `_truth/personas`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableReport {
    /// Folder below the lake root, e.g. `orders` or `_truth/personas`.
    pub table: String,
    /// Rows written.
    pub rows: u64,
    /// Parquet files written.
    pub files: u64,
}

/// What [`generate`] wrote and how long it took.
#[derive(Debug, Clone)]
pub struct GenerateReport {
    /// One entry per folder written, tables first and the truth last.
    pub tables: Vec<TableReport>,
    /// Wall-clock time of the whole run, validation to final rename.
    pub elapsed: Duration,
}

impl GenerateReport {
    /// Rows over all tables, truth included.
    pub fn total_rows(&self) -> u64 {
        self.tables.iter().map(|t| t.rows).sum()
    }
}

/// Generates a lake into `opts.out`.
///
/// Everything is written into a sibling folder `<out>.partial-<pid>` that is
/// renamed to `out` only when complete, so an interrupted run never leaves
/// something that looks like a finished lake; on error the partial folder is
/// removed. `progress(done_customers, total_customers)` is called from worker
/// threads now and then.
pub fn generate(
    opts: &GenerateOptions,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<GenerateReport> {
    generate_chunked(opts, progress, chunk_customers(opts.customers))
}

/// [`generate`] with another chunk size, so tests can exercise many chunks
/// (and thread interleavings) on few customers.
fn generate_chunked(
    opts: &GenerateOptions,
    progress: &(dyn Fn(u64, u64) + Sync),
    chunk_customers: u64,
) -> Result<GenerateReport> {
    let started = Instant::now();
    if opts.customers == 0 {
        return Err(Error::Usage("--customers must be at least 1".into()));
    }
    if opts.customers > MAX_CUSTOMERS {
        return Err(Error::Usage(format!(
            "--customers must be at most {MAX_CUSTOMERS}"
        )));
    }
    if opts.months == 0 {
        return Err(Error::Usage("--months must be at least 1".into()));
    }
    if opts.threads == Some(0) {
        return Err(Error::Usage("--threads must be at least 1".into()));
    }
    let chosen = selection(opts)?;
    check_out(&opts.out)?;
    let world = World::new(opts.seed, opts.as_of, opts.months)?;

    let partial = partial_path(&opts.out)?;
    if partial.exists() {
        // Our own pid: a leftover from an earlier run in this process.
        fs::remove_dir_all(&partial).map_err(|e| io_at(&partial, e))?;
    }
    fs::create_dir_all(&partial).map_err(|e| io_at(&partial, e))?;
    let guard = RemoveOnDrop(Some(partial.clone()));

    let tables = write_lake(&world, &partial, opts, &chosen, progress, chunk_customers)?;

    // Re-check: someone may have filled `out` while we were generating.
    check_out(&opts.out)?;
    if opts.out.exists() {
        fs::remove_dir(&opts.out).map_err(|e| io_at(&opts.out, e))?;
    }
    fs::rename(&partial, &opts.out).map_err(|e| io_at(&opts.out, e))?;
    drop(guard.disarm());
    Ok(GenerateReport {
        tables,
        elapsed: started.elapsed(),
    })
}

/// `out` must be absent or an empty folder.
fn check_out(out: &Path) -> Result<()> {
    match fs::metadata(out) {
        Ok(m) if !m.is_dir() => Err(Error::Usage(format!(
            "--out {} already exists and is not a folder",
            out.display()
        ))),
        Ok(_) => {
            let mut entries = fs::read_dir(out).map_err(|e| io_at(out, e))?;
            if entries.next().is_some() {
                Err(Error::Usage(format!(
                    "--out {} already exists and is not empty",
                    out.display()
                )))
            } else {
                Ok(())
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_at(out, e)),
    }
}

fn partial_path(out: &Path) -> Result<PathBuf> {
    let name = out
        .file_name()
        .ok_or_else(|| Error::Usage(format!("--out {} does not name a folder", out.display())))?;
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&parent).map_err(|e| io_at(&parent, e))?;
    let mut partial = name.to_os_string();
    partial.push(format!(".partial-{}", std::process::id()));
    Ok(parent.join(partial))
}

/// Removes the partial folder unless disarmed (also when a worker panics).
struct RemoveOnDrop(Option<PathBuf>);

impl RemoveOnDrop {
    fn disarm(mut self) -> Option<PathBuf> {
        self.0.take()
    }
}

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = fs::remove_dir_all(p);
        }
    }
}

/// Rows and files per table, indexed like [`Table::ALL`].
type Counts = [(u64, u64); Table::ALL.len()];

fn slot(t: Table) -> usize {
    Table::ALL
        .iter()
        .position(|&x| x == t)
        .expect("table listed in ALL")
}

/// The truth table is one file, so chunks finishing out of order park their
/// batch here until every earlier chunk has been written.
struct OrderedTruth {
    next: u64,
    pending: BTreeMap<u64, RecordBatch>,
    writer: Option<ArrowWriter<BufWriter<File>>>,
    rows: u64,
}

impl OrderedTruth {
    fn offer(&mut self, chunk: u64, batch: RecordBatch) -> Result<()> {
        self.pending.insert(chunk, batch);
        while let Some(b) = self.pending.remove(&self.next) {
            if let Some(w) = self.writer.as_mut() {
                w.write(&b).map_err(parquet_err)?;
            }
            self.rows += b.num_rows() as u64;
            self.next += 1;
        }
        Ok(())
    }
}

fn write_lake(
    w: &World,
    root: &Path,
    opts: &GenerateOptions,
    chosen: &Selection,
    progress: &(dyn Fn(u64, u64) + Sync),
    chunk_customers: u64,
) -> Result<Vec<TableReport>> {
    let mut counts: Counts = [(0, 0); Table::ALL.len()];
    let mut products = ProductCols::new();
    products.push_all(&w.assortment);
    counts[slot(Table::Products)] = write_single(Table::Products, root, products)?;
    let mut stores = StoreCols::new();
    stores.push_all(&w.assortment);
    counts[slot(Table::Stores)] = write_single(Table::Stores, root, stores)?;

    let truth_path = root.join(Table::Truth.dir()).join("part-0.parquet");
    let truth = Mutex::new(OrderedTruth {
        next: 0,
        pending: BTreeMap::new(),
        writer: Some(open_writer(Table::Truth, &truth_path)?),
        rows: 0,
    });

    let total = opts.customers;
    let n_chunks = total.div_ceil(chunk_customers);
    let threads = opts
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .clamp(1, n_chunks.min(1024) as usize);
    let next_chunk = AtomicU64::new(0);
    let failed = AtomicBool::new(false);
    let done = AtomicU64::new(0);
    let results: Mutex<Vec<(u64, Result<Counts>)>> = Mutex::new(Vec::new());
    let tick = |k: u64| {
        let d = done.fetch_add(k, Ordering::Relaxed) + k;
        progress(d, total);
    };

    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                loop {
                    if failed.load(Ordering::Relaxed) {
                        break;
                    }
                    let chunk = next_chunk.fetch_add(1, Ordering::Relaxed);
                    if chunk >= n_chunks {
                        break;
                    }
                    let first = chunk * chunk_customers + 1;
                    let ids = first..(first + chunk_customers).min(total + 1);
                    let r = run_chunk(w, root, chunk, ids, chosen, &tick).and_then(|(c, batch)| {
                        truth
                            .lock()
                            .expect("truth writer lock")
                            .offer(chunk, batch)?;
                        Ok(c)
                    });
                    if r.is_err() {
                        failed.store(true, Ordering::Relaxed);
                    }
                    results.lock().expect("results lock").push((chunk, r));
                }
            });
        }
    });

    let mut results = results.into_inner().expect("results lock");
    results.sort_by_key(|r| r.0);
    for (_, r) in results {
        let c = r?;
        for (acc, x) in counts.iter_mut().zip(c) {
            acc.0 += x.0;
            acc.1 += x.1;
        }
    }
    let mut truth = truth.into_inner().expect("truth writer lock");
    if let Some(wr) = truth.writer.take() {
        close_writer(wr)?;
    }
    counts[slot(Table::Truth)] = (truth.rows, 1);

    Ok(Table::ALL
        .iter()
        .zip(counts)
        .filter(|(t, _)| chosen[slot(**t)])
        .map(|(t, (rows, files))| TableReport {
            table: t.dir().to_string(),
            rows,
            files,
        })
        .collect())
}

/// Simulates and writes one chunk of customers; returns its counts and its
/// slice of the truth table.
fn run_chunk(
    w: &World,
    root: &Path,
    chunk: u64,
    ids: Range<u64>,
    chosen: &Selection,
    tick: &(dyn Fn(u64) + Sync),
) -> Result<(Counts, RecordBatch)> {
    let name = format!("part-{chunk:05}.parquet");
    let labels = &w.cal.labels;
    // A table left out is never built, not built and dropped.
    fn sink<'a, C: Columns>(
        t: Table,
        chosen: &Selection,
        root: &Path,
        name: &str,
        labels: &'a [String],
    ) -> Option<Sink<'a, C>> {
        chosen[slot(t)].then(|| Sink::new(t, root, name.to_string(), labels))
    }
    let mut customers: Option<Sink<CustomerCols>> =
        sink(Table::Customers, chosen, root, &name, labels);
    let mut orders: Option<Sink<OrderCols>> = sink(Table::Orders, chosen, root, &name, labels);
    let mut items: Option<Sink<ItemCols>> = sink(Table::OrderItems, chosen, root, &name, labels);
    let mut events: Option<Sink<EventCols>> = sink(Table::Events, chosen, root, &name, labels);
    let mut tickets: Option<Sink<TicketCols>> = sink(Table::Tickets, chosen, root, &name, labels);
    let mut sends: Option<Sink<SendCols>> = sink(Table::CampaignSends, chosen, root, &name, labels);
    let mut consents: Option<Sink<ConsentCols>> =
        sink(Table::Consents, chosen, root, &name, labels);
    let mut ratings: Option<Sink<RatingCols>> =
        sink(Table::DrinkRatings, chosen, root, &name, labels);
    let mut taste_truth: Option<Sink<TasteCols>> = sink(Table::Tastes, chosen, root, &name, labels);
    let mut rated = Vec::new();
    let mut sources =
        chosen[slot(Table::Identities)].then(|| Sources::new(w.seed, root, &name, labels));
    let mut truth = TruthCols::new();
    let mut scratch = Scratch::default();
    let assortment = &w.assortment;
    let mut since_tick = 0;
    for id in ids {
        let p = sim::simulate(w, id, &mut scratch);
        let cid = p.id;
        if let Some(c) = customers.as_mut() {
            c.cols(0).push(&p, assortment);
        }
        truth.push(&p);
        if let Some(c) = consents.as_mut() {
            for x in &scratch.consents {
                c.cols(0).push(cid, x);
            }
        }
        if let Some(c) = sends.as_mut() {
            for x in &scratch.sends {
                c.cols(0).push(cid, x, assortment);
            }
        }
        if let Some(c) = tickets.as_mut() {
            for x in &scratch.tickets {
                c.cols(0).push(cid, x);
            }
        }
        if orders.is_some() || items.is_some() {
            for o in &scratch.orders {
                let m = w.cal.month_of(o.ts);
                if let Some(c) = orders.as_mut() {
                    c.cols(m).push(cid, o, w);
                }
                if let Some(c) = items.as_mut() {
                    let item_cols = c.cols(m);
                    for it in &scratch.items[o.items.0 as usize..o.items.1 as usize] {
                        item_cols.push(cid, o.id, it, assortment);
                    }
                }
            }
        }
        if let Some(c) = events.as_mut() {
            for e in &scratch.events {
                c.cols(w.cal.month_of(e.ts)).push(cid, e, assortment);
            }
        }
        if (ratings.is_some() || taste_truth.is_some())
            && let Some(taste) = tastes::rate(w, &p, &mut rated)
        {
            if let Some(c) = taste_truth.as_mut() {
                c.cols(0).push(cid, taste);
            }
            if let Some(c) = ratings.as_mut() {
                for r in &rated {
                    c.cols(0).push(cid, r, assortment);
                }
            }
        }
        if let Some(s) = sources.as_mut() {
            s.push(w, &p);
        }
        since_tick += 1;
        if since_tick == PROGRESS_EVERY {
            flush(&mut customers)?;
            flush(&mut orders)?;
            flush(&mut items)?;
            flush(&mut events)?;
            flush(&mut tickets)?;
            flush(&mut sends)?;
            flush(&mut consents)?;
            flush(&mut ratings)?;
            flush(&mut taste_truth)?;
            tick(since_tick);
            since_tick = 0;
        }
    }
    if since_tick > 0 {
        tick(since_tick);
    }
    let mut counts: Counts = [(0, 0); Table::ALL.len()];
    counts[slot(Table::Customers)] = finish(customers)?;
    counts[slot(Table::Orders)] = finish(orders)?;
    counts[slot(Table::OrderItems)] = finish(items)?;
    counts[slot(Table::Events)] = finish(events)?;
    counts[slot(Table::Tickets)] = finish(tickets)?;
    counts[slot(Table::CampaignSends)] = finish(sends)?;
    counts[slot(Table::Consents)] = finish(consents)?;
    counts[slot(Table::DrinkRatings)] = finish(ratings)?;
    counts[slot(Table::Tastes)] = finish(taste_truth)?;
    if let Some(s) = sources {
        for (t, c) in s.finish()? {
            counts[slot(t)] = c;
        }
    }
    Ok((counts, tables::batch(Table::Truth, truth)?))
}

fn flush<C: Columns>(sink: &mut Option<Sink<'_, C>>) -> Result<()> {
    sink.as_mut().map_or(Ok(()), Sink::flush_full)
}

fn finish<C: Columns>(sink: Option<Sink<'_, C>>) -> Result<(u64, u64)> {
    sink.map_or(Ok((0, 0)), Sink::finish)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
        let mut out = BTreeMap::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    out.insert(
                        p.strip_prefix(dir).unwrap().to_path_buf(),
                        fs::read(&p).unwrap(),
                    );
                }
            }
        }
        out
    }

    #[test]
    fn bytes_do_not_depend_on_thread_count_across_many_chunks() {
        let tmp = std::env::temp_dir().join(format!("microseg-gen-unit-{}", std::process::id()));
        let _ = fs::remove_dir_all(&tmp);
        let run = |threads: usize, name: &str| {
            let opts = GenerateOptions {
                customers: 230,
                out: tmp.join(name),
                threads: Some(threads),
                ..GenerateOptions::default()
            };
            let report = generate_chunked(&opts, &|_, _| {}, 40).unwrap();
            (report, snapshot(&opts.out))
        };
        let (r1, one) = run(1, "one");
        let (r3, three) = run(3, "three");
        let _ = fs::remove_dir_all(&tmp);
        assert_eq!(r1.tables, r3.tables);
        assert!(
            one.keys().any(|k| k.ends_with("part-00005.parquet")),
            "six chunks of 40"
        );
        assert_eq!(
            one.keys().collect::<Vec<_>>(),
            three.keys().collect::<Vec<_>>()
        );
        for (k, v) in &one {
            assert!(
                three[k] == *v,
                "{} differs between 1 and 3 threads",
                k.display()
            );
        }
        let customers = r1.tables.iter().find(|t| t.table == "customers").unwrap();
        assert_eq!((customers.rows, customers.files), (230, 6));
    }

    #[test]
    fn a_failing_run_leaves_nothing_behind() {
        let tmp = std::env::temp_dir().join(format!("microseg-gen-fail-{}", std::process::id()));
        let _ = fs::remove_dir_all(&tmp);
        fs::create_dir_all(&tmp).unwrap();
        // A file where the lake's parent folder should be makes every write fail.
        let blocker = tmp.join("blocker");
        fs::write(&blocker, b"x").unwrap();
        let opts = GenerateOptions {
            customers: 10,
            out: blocker.join("lake"),
            ..GenerateOptions::default()
        };
        assert!(generate(&opts, &|_, _| {}).is_err());
        let left: Vec<_> = fs::read_dir(&tmp)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        let _ = fs::remove_dir_all(&tmp);
        assert_eq!(left, vec![std::ffi::OsString::from("blocker")]);
    }

    #[test]
    fn chunking_depends_on_customer_count_only() {
        assert_eq!(chunk_customers(1), 5_000);
        assert_eq!(chunk_customers(100_000), 6_250);
        assert_eq!(chunk_customers(1_000_000), 50_000);
        assert_eq!(chunk_customers(10_000_000), 50_000);
    }

    #[test]
    fn report_totals_add_up() {
        let r = GenerateReport {
            tables: vec![
                TableReport {
                    table: "a".into(),
                    rows: 2,
                    files: 1,
                },
                TableReport {
                    table: "b".into(),
                    rows: 5,
                    files: 3,
                },
            ],
            elapsed: Duration::ZERO,
        };
        assert_eq!(r.total_rows(), 7);
    }
}
