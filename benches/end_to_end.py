"""What users run, timed as they run it: the statement through the `microseg`
CLI (a whole process: lake opening, Parquet reading, training, the model
stored) against the peer doing the same job from the same Parquet in the
same run.

    cargo bench --no-run    # the release binary, target/release/microseg
    /work/bench-venv/bin/python benches/end_to_end.py --bin target/release/microseg --lake bench-lake

1. k-means: `CREATE MODEL … model_type 'kmeans', num_clusters 64,
   max_iterations 20, tolerance 0` over 8 numeric features of every customer
   with an order (one Parquet file, written once, untimed) against faiss
   reading that file, z-scoring the columns as microseg's `standardize`
   does, and training 20 iterations on every row (max_points_per_centroid
   = n, so faiss does not subsample).
2. BG/NBD: `CREATE MODEL … model_type 'bgnbd' AS SELECT … FROM
   clv_summary(orders, …)` straight from the order table against lifetimes'
   `BetaGeoFitter.fit` alone on the same summary (read from Parquet before
   its clock starts).

Each microseg figure is the wall clock of the process; its training time
(DESCRIBE MODEL's training_seconds) is printed beside it. Peers: whole
process and fit alone. Three runs each, the best kept.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

FEATURES = """
SELECT customer_id,
       CAST(count(*) AS DOUBLE) AS x0,
       CAST(sum(amount) AS DOUBLE) AS x1,
       CAST(avg(amount) AS DOUBLE) AS x2,
       CAST(max(amount) AS DOUBLE) AS x3,
       CAST(min(amount) AS DOUBLE) AS x4,
       CAST(date_part('epoch', TIMESTAMP '2026-11-01 00:00:00' - max(order_ts)) / 86400 AS DOUBLE) AS x5,
       CAST(date_part('epoch', TIMESTAMP '2026-11-01 00:00:00' - min(order_ts)) / 86400 AS DOUBLE) AS x6,
       CAST(count(DISTINCT date_trunc('month', order_ts)) AS DOUBLE) AS x7
FROM orders GROUP BY customer_id
"""

FAISS = r"""
import sys, time, json
t0 = time.perf_counter()
import numpy as np, pyarrow.parquet as pq, faiss
faiss.omp_set_num_threads(int(sys.argv[2]))
t = pq.read_table(sys.argv[1], columns=[f"x{i}" for i in range(8)])
x = np.column_stack([t.column(i).to_numpy() for i in range(8)]).astype(np.float64)
x = ((x - x.mean(0)) / x.std(0)).astype(np.float32)
n = x.shape[0]
t1 = time.perf_counter()
km = faiss.Kmeans(8, 64, niter=20, seed=1, verbose=False, max_points_per_centroid=n)
km.train(x)
t2 = time.perf_counter()
print(json.dumps({"rows": n, "fit_s": t2 - t1, "read_s": t1 - t0, "version": faiss.__version__}))
"""

LIFETIMES = r"""
import sys, time, json
import pyarrow.parquet as pq
from lifetimes import BetaGeoFitter
s = pq.read_table(sys.argv[1]).to_pandas()
t0 = time.perf_counter()
bg = BetaGeoFitter(penalizer_coef=0.0)
bg.fit(s["frequency"], s["recency"], s["t"])
t1 = time.perf_counter()
p = bg.params_
print(json.dumps({"rows": len(s), "fit_s": t1 - t0, "r": p["r"], "alpha": p["alpha"], "a": p["a"], "b": p["b"]}))
"""


def run(cmd, **kw):
    start = time.perf_counter()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)
    return time.perf_counter() - start, out.stdout


def microseg(args, sql):
    return run([args.bin, "sql", "--lake", args.lake, "--format", "json", "-c", sql])


def training_seconds(args, model):
    _, out = microseg(args, f"DESCRIBE MODEL {model}")
    for row in json.loads(out):
        values = list(row.values())
        if "training_seconds" in values:
            return float(values[-1])
    return float("nan")


def trainings(args, model, rest):
    """(process seconds, training_seconds) of `args.runs` CREATE OR REPLACE MODEL runs."""
    runs = []
    for _ in range(args.runs):
        wall, _ = microseg(args, f"CREATE OR REPLACE MODEL {model} {rest}")
        runs.append((wall, training_seconds(args, model)))
    return runs


def best(runs):
    return min(runs, key=lambda r: r[0])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="target/release/microseg")
    ap.add_argument("--lake", default="bench-lake")
    ap.add_argument("--python", default=sys.executable, help="a Python with faiss-cpu, pyarrow, lifetimes")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--skip", default="", help="comma-separated: kmeans, bgnbd")
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    threads = os.cpu_count()
    tmp = tempfile.mkdtemp(prefix="e2e-")
    print(f"load before: {open('/proc/loadavg').read().split()[:3]}")

    if "kmeans" not in skip:
        feat = os.path.join(tmp, "features.parquet")
        microseg(args, f"COPY ({FEATURES}) TO '{feat}' STORED AS PARQUET")
        select = ", ".join(f"x{i}" for i in range(8))
        ours = trainings(args, "e2e_kmeans",
                         f"OPTIONS (model_type 'kmeans', num_clusters 64, max_iterations 20, tolerance 0, seed 1) "
                         f"AS SELECT {select} FROM '{feat}'")
        theirs = []
        for i in range(args.runs):
            wall, out = run([args.python, "-c", FAISS, feat, str(threads)])
            theirs.append((wall, json.loads(out)))
        (w, train), (fw, f) = best(ours), best(theirs)
        print(f"kmeans rows={f['rows']} microseg process {w:.3f} s (training_seconds {train:.3f}); "
              f"faiss {f['version']} process {fw:.3f} s (read {f['read_s']:.3f}, fit {f['fit_s']:.3f}); "
              f"ratio process {w / fw:.2f}, microseg process / faiss fit {w / f['fit_s']:.2f}")

    if "bgnbd" not in skip:
        summary = os.path.join(tmp, "summary.parquet")
        clv = "clv_summary(orders, customer_id, order_ts, amount, DATE '2026-10-31')"
        microseg(args, f"COPY (SELECT frequency, recency, t FROM {clv}) TO '{summary}' STORED AS PARQUET")
        ours = trainings(args, "e2e_bgnbd",
                         f"OPTIONS (model_type 'bgnbd') AS SELECT frequency, recency, t FROM {clv}")
        wall, out = run([args.python, "-c", LIFETIMES, summary])
        life = json.loads(out)
        (w, train) = best(ours)
        print(f"bgnbd customers={life['rows']} microseg process {w:.3f} s (training_seconds {train:.3f}); "
              f"lifetimes fit alone {life['fit_s']:.3f} s (r {life['r']:.6f} alpha {life['alpha']:.5f} "
              f"a {life['a']:.6f} b {life['b']:.5f}); ratio {w / life['fit_s']:.3f}")
        _, described = microseg(args, "DESCRIBE MODEL e2e_bgnbd")
        print("microseg parameters:", [r for r in json.loads(described)
                                        if any(str(v).startswith("parameter.") for v in r.values())])
    print(f"load after: {open('/proc/loadavg').read().split()[:3]}")


if __name__ == "__main__":
    main()
