"""Streaming throughput of `microseg serve` on loopback, against DuckDB
reading the same Parquet files in-process.

A BI extract is one big result: every order, several columns. microseg's
side is what a client sees: `microseg serve` (the binary, separate
process) → gRPC on 127.0.0.1 → ADBC's Flight SQL driver →
`fetch_arrow_table()`. DuckDB's side has no network at all:
`con.sql(SQL).to_arrow_table()` over `read_parquet` of the lake's files.
So the ratio is the price of the server and the wire, plus any difference
between the engines' Parquet scans.

Both clocks cover submitting the query to holding the whole result as a
pyarrow Table. GB/s is the Arrow size of the result (`Table.nbytes`) over
the time; both results must have the same rows and the same checksums
(sum of order_id, of customer_id and of amount), or the run stops.

    MICROSEG_BIN=target/release/microseg target/test-venv/bin/python \\
        benches/flight_throughput.py --lake /path/to/lake [--runs 3]

Without `--lake`, a lake of `--customers` customers is generated into a
temporary folder first. The lake is only read.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import adbc_driver_flightsql.dbapi as flight_sql
import duckdb
import pyarrow.compute as pc

from flight_server import serving

COLUMNS = "order_id, customer_id, order_ts, channel, device, store_id, amount, discount, n_items, status, promo_code"


def checksums(table):
    """Exact values both engines must agree on (amount is a decimal: exact)."""
    return (table.num_rows,
            pc.sum(table["order_id"]).as_py(),
            pc.sum(table["customer_id"]).as_py(),
            pc.sum(table["amount"]).as_py())


def loadavg():
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lake", help="an existing lake (only read); default: generate one")
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    binary = os.environ.get("MICROSEG_BIN", "target/release/microseg")
    threads = os.cpu_count()

    work = Path(tempfile.mkdtemp(prefix="microseg-throughput-"))
    if args.lake:
        lake = Path(args.lake).resolve()
    else:
        lake = work / "lake"
        started = time.perf_counter()
        subprocess.run([binary, "generate", "--customers", str(args.customers), "--out", str(lake)],
                       check=True, capture_output=True)
        print(f"generated {args.customers} customers in {time.perf_counter() - started:.0f} s")
    sql = f"SELECT {COLUMNS} FROM orders"

    with serving(binary, lake, work) as (server, uri, kwargs):
        conn = flight_sql.connect(uri, db_kwargs=kwargs, autocommit=True)
        duck = duckdb.connect()
        duck.execute(f"SET threads = {threads}")
        duck.execute(
            "CREATE VIEW orders AS SELECT * FROM "
            f"read_parquet('{lake}/orders/*/*.parquet', hive_partitioning = true)")

        def microseg_run():
            with conn.cursor() as cur:
                started = time.perf_counter()
                cur.execute(sql)
                table = cur.fetch_arrow_table()
                return time.perf_counter() - started, table

        def duckdb_run():
            started = time.perf_counter()
            table = duck.sql(sql).to_arrow_table()
            return time.perf_counter() - started, table

        load_before = loadavg()
        # Warm-up (page cache, footers, connection) and cross-check.
        _, ours = microseg_run()
        _, theirs = duckdb_run()
        if checksums(ours) != checksums(theirs):
            sys.exit(f"the engines disagree: microseg {checksums(ours)}, DuckDB {checksums(theirs)}")
        rows, our_bytes, their_bytes = ours.num_rows, ours.nbytes, theirs.nbytes
        print(f"{rows} rows, {len(ours.columns)} columns; Arrow size: microseg {our_bytes / 1e9:.2f} GB, "
              f"DuckDB {their_bytes / 1e9:.2f} GB")
        print("types (microseg / DuckDB):")
        for a, b in zip(ours.schema, theirs.schema):
            print(f"  {a.name}: {a.type} / {b.type}")
        del ours, theirs

        times = {"microseg": [], "duckdb": []}
        for _ in range(args.runs):
            for name, run in (("microseg", microseg_run), ("duckdb", duckdb_run)):
                seconds, table = run()
                if table.num_rows != rows:
                    sys.exit(f"{name} returned {table.num_rows} rows, expected {rows}")
                times[name].append(seconds)
                del table
        load_after = loadavg()

        print(f"{'engine':<32}{'median s':>10}{'min s':>8}{'max s':>8}{'GB/s':>8}{'Mrows/s':>9}")
        medians = {}
        for name, size, label in (("microseg", our_bytes, "microseg serve → ADBC (loopback)"),
                                  ("duckdb", their_bytes, "DuckDB in-process")):
            xs = times[name]
            medians[name] = statistics.median(xs)
            print(f"{label:<32}{medians[name]:>10.2f}{min(xs):>8.2f}{max(xs):>8.2f}"
                  f"{size / medians[name] / 1e9:>8.2f}{rows / medians[name] / 1e6:>9.1f}")
        ratio = (our_bytes / medians["microseg"]) / (their_bytes / medians["duckdb"])
        print(f"microseg GB/s ÷ DuckDB GB/s = {ratio:.2f} (> 1: microseg streams faster)")
        print(f"threads {threads}, load average before {load_before}, after {load_after}")
        conn.close()
        if server.poll() is not None:
            print("the server died:\n" + (work / "serve.log").read_text())
            return 1
        return 0


if __name__ == "__main__":
    sys.exit(main())
