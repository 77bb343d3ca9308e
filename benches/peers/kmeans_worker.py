#!/usr/bin/env python3
"""k-means peers for benches/kmeans_vs_peers.rs: scikit-learn and faiss on
the very rows microseg trains on.

Usage: kmeans_worker.py DATA N D K ITERATIONS THREADS

DATA is n × d little-endian float32, row-major (written by the Rust runner).
Each peer fits k clusters for exactly ITERATIONS Lloyd iterations (tolerance
0) from its own default seeding, timed around the fit call only; prints one
JSON line per peer: {"peer", "version", "seconds", "inertia", "iterations"}.
Inertia is recomputed here the same way for both (float64 sum of squared
distances to the nearest centroid), so the numbers compare.
"""

import json
import os
import sys
import time


def main():
    path, n, d, k, iters, threads = sys.argv[1], *map(int, sys.argv[2:7])
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    import numpy as np

    x = np.fromfile(path, dtype="<f4").reshape(n, d)

    def inertia(centroids):
        c = np.asarray(centroids, dtype=np.float64)
        total = 0.0
        for start in range(0, n, 200_000):
            block = x[start:start + 200_000].astype(np.float64)
            d2 = ((block[:, None, :] - c[None, :, :]) ** 2).sum(axis=2)
            total += d2.min(axis=1).sum()
        return total

    try:
        import sklearn
        from sklearn.cluster import KMeans

        km = KMeans(n_clusters=k, init="k-means++", n_init=1, max_iter=iters, tol=0.0,
                    algorithm="lloyd", random_state=0)
        start = time.perf_counter()
        km.fit(x)
        seconds = time.perf_counter() - start
        print(json.dumps({"peer": "scikit-learn", "version": sklearn.__version__, "seconds": seconds,
                          "inertia": inertia(km.cluster_centers_), "iterations": int(km.n_iter_)}), flush=True)
    except ImportError as e:
        print(json.dumps({"peer": "scikit-learn", "error": str(e)}), flush=True)

    try:
        import faiss

        faiss.omp_set_num_threads(threads)
        km = faiss.Kmeans(d, k, niter=iters, seed=1, verbose=False, max_points_per_centroid=n)
        start = time.perf_counter()
        km.train(x)
        seconds = time.perf_counter() - start
        print(json.dumps({"peer": "faiss", "version": faiss.__version__, "seconds": seconds,
                          "inertia": inertia(km.centroids), "iterations": iters}), flush=True)
    except ImportError as e:
        print(json.dumps({"peer": "faiss", "error": str(e)}), flush=True)


if __name__ == "__main__":
    main()
