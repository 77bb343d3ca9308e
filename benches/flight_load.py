"""Load on `microseg serve`: N concurrent ADBC clients for D seconds.

Each client logs in (Basic → bearer) on its own connection and loops over
a mix of BI-style queries. Reports the error count, p50/p99 latency per
query and overall, and the server's peak resident memory (sampled every
0.2 s from /proc). It asserts nothing about time; it exits non-zero when
any query failed.

    MICROSEG_BIN=target/debug/microseg target/test-venv/bin/python \
        benches/flight_load.py [--clients 32] [--seconds 60] [--customers 2000]

With `--lookups`, each client instead offers one single-customer lookup
(`SELECT * FROM customers WHERE customer_id = ?`, a random id, prepared
with a bound parameter) every `--interval` seconds, paced by the clock: a
slow answer delays only the lookups queued behind it on that client, so
the offered load stays clients / interval queries per second.
"""

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import adbc_driver_flightsql.dbapi as flight_sql

from flight_server import serving

QUERIES = {
    "count": "SELECT count(*) FROM customers",
    "group_by": "SELECT channel, count(*), sum(amount) FROM orders GROUP BY channel",
    "rfm_segments": "SELECT segment, count(*) FROM rfm(orders, customer_id, order_ts, amount) GROUP BY segment",
    "segment_of": "SELECT segment_of('load_spend') AS s, count(*) FROM orders GROUP BY 1",
    "prepared": "SELECT count(*) FROM orders WHERE channel = ?",
    "rows_10k": "SELECT * FROM orders LIMIT 10000",
}


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def rss_kib(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--customers", type=int, default=2000)
    ap.add_argument("--lookups", action="store_true",
                    help="paced single-customer lookups instead of the BI mix")
    ap.add_argument("--interval", type=float, default=0.1,
                    help="seconds between one client's lookups")
    ap.add_argument("--lake", help="an existing lake (read only) instead of generating one")
    args = ap.parse_args()
    binary = os.environ.get("MICROSEG_BIN", "target/debug/microseg")

    work = Path(tempfile.mkdtemp(prefix="microseg-load-"))
    if args.lake:
        lake = Path(args.lake).resolve()
    else:
        lake = work / "lake"
        subprocess.run([binary, "generate", "--customers", str(args.customers), "--out", str(lake)],
                       check=True, capture_output=True)
    queries = QUERIES
    if args.lookups:
        queries = {"lookup": "SELECT * FROM customers WHERE customer_id = ?"}
    flags = ("--max-concurrent-queries", str(args.clients))
    with serving(binary, lake, work, *flags) as (server, uri, kwargs):
        with flight_sql.connect(uri, db_kwargs=kwargs, autocommit=True) as conn, conn.cursor() as cur:
            if not args.lookups:
                cur.execute("CREATE OR REPLACE SEGMENT SET load_spend ('big' WHEN amount > 100, ELSE 'small')")
                cur.fetchall()
            cur.execute("SELECT min(channel), max(customer_id) FROM orders")
            channel, last_customer = cur.fetchone()

        latencies = {name: [] for name in queries}
        errors = []
        lock = threading.Lock()
        stop_at = time.monotonic() + args.seconds
        peak = [0]

        def client(i):
            names = list(queries)
            pick = random.Random(i)
            with flight_sql.connect(uri, db_kwargs=kwargs, autocommit=True) as conn:
                n = i
                due = time.monotonic() + pick.random() * args.interval
                while time.monotonic() < stop_at:
                    name = names[n % len(names)]
                    n += 1
                    if args.lookups:
                        time.sleep(max(0.0, due - time.monotonic()))
                        due += args.interval
                        params = (pick.randint(1, last_customer),)
                    else:
                        params = (channel,) if name == "prepared" else None
                    started = time.perf_counter()
                    try:
                        with conn.cursor() as cur:
                            cur.execute(queries[name], params)
                            cur.fetch_arrow_table()
                    except Exception as e:  # counted and reported, not raised
                        with lock:
                            errors.append(f"{name}: {e}")
                        continue
                    with lock:
                        latencies[name].append(time.perf_counter() - started)

        def sample():
            while time.monotonic() < stop_at:
                peak[0] = max(peak[0], rss_kib(server.pid))
                time.sleep(0.2)

        threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
        threads.append(threading.Thread(target=sample))
        for t in threads:
            t.start()
        for t in threads:
            t.join()

        everything = [x for xs in latencies.values() for x in xs]
        size = f"lake {lake}" if args.lake else f"{args.customers} customers"
        print(f"{args.clients} clients, {args.seconds:.0f} s, {size}: "
              f"{len(everything)} queries, {len(errors)} errors, "
              f"peak server RSS {peak[0] / 1024:.0f} MiB")
        print(f"{'query':<14}{'n':>7}{'p50 ms':>10}{'p99 ms':>10}")
        for name, xs in list(latencies.items()) + [("all", everything)]:
            if xs:
                print(f"{name:<14}{len(xs):>7}{percentile(xs, 50) * 1000:>10.1f}"
                      f"{percentile(xs, 99) * 1000:>10.1f}")
        for e in errors[:10]:
            print("error:", e)
        if server.poll() is not None:
            print("the server died:\n" + (work / "serve.log").read_text())
            return 1
        return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
