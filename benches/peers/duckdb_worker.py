#!/usr/bin/env python3
"""DuckDB peer for benches/rfm_vs_duckdb.rs.

Usage: duckdb_worker.py LAKE THREADS SQL

The Rust runner starts this once and talks to it over stdin/stdout, one JSON
object per line, so that interpreter start-up, `import duckdb` and opening
the connection are paid once and never timed -- just as the microseg Engine
is opened once in-process. The SQL comes from the runner so both engines are
guaranteed to run the very same text.

Commands (one per stdin line):
  run    -> {"seconds": s, "rows": n}
  check  -> {"seconds": s, "rows": n, "frequency_total": n,
             "monetary_cents": "…", "last_ts_micros_total": "…"}
            (with a `level` column instead: {"seconds": s, "rows": n,
             "levels": [customers at level 0, …, 4], …zeros})
            (the checksums are computed after the clock stops)
  quit   -> exits (so does end of input)

The first line written is {"ready": true, ...} or {"error": "..."}.
"""

import json
import os
import sys
import time


def reply(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


try:
    import duckdb
    import pyarrow as pa
except ImportError as e:
    reply(
        {
            "error": f"{sys.executable}: {e}. Install the peer with "
            "`pip install duckdb pyarrow` (ideally in a venv, then pass "
            "--python /path/to/venv/bin/python)"
        }
    )
    sys.exit(2)


def materializer(con, sql):
    """Returns a function running `sql` into one in-memory Arrow table.

    Arrow rather than fetchall(): microseg's side collects Arrow record
    batches, so this is the like-for-like materialization. fetchall() would
    also time building a million Python tuples of Decimal and datetime
    objects, which measures CPython, not DuckDB.

    con.sql(...) rather than con.execute(...): DuckDB 2 warns that Arrow
    output from a DB-API cursor makes an extra copy of every row.
    `to_arrow_table` is the DuckDB >= 1.4 name; older releases call it
    `fetch_arrow_table` (deprecated in 2.0).
    """
    probe = con.sql("SELECT 1")
    name = "to_arrow_table" if hasattr(probe, "to_arrow_table") else "fetch_arrow_table"
    return lambda: getattr(con.sql(sql), name)(), name


def sql_literal(text):
    return "'" + text.replace("'", "''") + "'"


def timed(fetch):
    start = time.perf_counter()
    table = fetch()
    return time.perf_counter() - start, table


def exact_int_total(column):
    return sum(v for v in column.to_pylist() if v is not None)


def checksums(table):
    # Exact integer arithmetic (Python ints), never floats: the runner
    # compares these to the cent with microseg's i128 totals.
    if "level" in table.column_names:
        # The funnel: customers per level 0..4 (the runner rejects others).
        levels = [0] * 5
        for level in table.column("level").to_pylist():
            levels[level] += 1
        return {
            "levels": levels,
            "frequency_total": 0,
            "monetary_cents": "0",
            "last_ts_micros_total": "0",
            "scores_total": "0",
        }
    monetary = table.column("monetary").cast(pa.decimal128(38, 2))
    cents = sum(int(v.scaleb(2)) for v in monetary.to_pylist() if v is not None)

    ts = table.column("last_order_ts")
    mul, div = {"s": (1_000_000, 1), "ms": (1_000, 1), "us": (1, 1), "ns": (1, 1_000)}[ts.type.unit]
    micros = sum(v * mul // div for v in ts.cast(pa.int64()).to_pylist() if v is not None)

    names = table.column_names
    scores = sum(
        weight * exact_int_total(table.column(name))
        for name, weight in (("r", 100), ("f", 10), ("m", 1))
        if name in names
    )

    return {
        "scores_total": str(scores),
        "frequency_total": exact_int_total(table.column("frequency")),
        "monetary_cents": str(cents),
        "last_ts_micros_total": str(micros),
    }


def main():
    if len(sys.argv) != 4:
        reply({"error": "usage: duckdb_worker.py LAKE THREADS SQL"})
        sys.exit(2)
    lake, threads, sql = sys.argv[1], int(sys.argv[2]), sys.argv[3]

    con = duckdb.connect()
    con.execute(f"SET threads = {threads}")
    # Views over the tables the benchmarks read; a view costs nothing until
    # a query uses it.
    for table in ("orders", "events"):
        glob = os.path.join(lake, table, "*", "*.parquet")
        con.execute(
            f"CREATE VIEW {table} AS SELECT * FROM "
            f"read_parquet({sql_literal(glob)}, hive_partitioning = true)"
        )
    fetch, method = materializer(con, sql)
    reply(
        {
            "ready": True,
            "duckdb": duckdb.__version__,
            "pyarrow": pa.__version__,
            "python": sys.version.split()[0],
            "threads": con.execute("SELECT current_setting('threads')").fetchall()[0][0],
            "fetch": method,
        }
    )

    for line in sys.stdin:
        command = line.strip()
        if command == "quit":
            break
        try:
            reply(handle(command, fetch))
        except Exception as e:  # noqa: BLE001 -- the runner prints it and stops
            reply({"error": f"{type(e).__name__}: {e}"})


def handle(command, fetch):
    # The result table is a local, so it is freed on return, before the
    # runner times microseg: neither engine runs beside the other's result.
    if command == "run":
        seconds, table = timed(fetch)
        return {"seconds": seconds, "rows": table.num_rows}
    if command == "check":
        seconds, table = timed(fetch)
        return {"seconds": seconds, "rows": table.num_rows, **checksums(table)}
    return {"error": f"unknown command {command!r}"}


if __name__ == "__main__":
    main()
