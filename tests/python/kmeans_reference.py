#!/usr/bin/env python3
"""Independent reference for microseg's k-means: scikit-learn on the same rows.

Usage: kmeans_reference.py CSV K N_INIT SEED

The CSV (header, numeric columns) holds the training rows exactly as microseg
trained on them. They are z-scored with the population standard deviation
(what CREATE MODEL … standardize true does), then scikit-learn's KMeans runs
with k-means++ seeding (greedy, its default), N_INIT restarts, tol 1e-4 and
max_iter 300. Prints the best inertia.
"""

import csv
import sys

try:
    import numpy as np
    from sklearn.cluster import KMeans
except ImportError as e:
    sys.exit(f"{sys.executable}: {e}; install it with `pip install scikit-learn` (tests/run.sh does)")


def main():
    path, k, n_init, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    with open(path, newline="") as f:
        rows = [[float(v) for v in row] for i, row in enumerate(csv.reader(f)) if i > 0]
    x = np.array(rows, dtype=np.float64)
    std = x.std(axis=0)
    std[std == 0] = 1.0
    z = (x - x.mean(axis=0)) / std
    km = KMeans(n_clusters=k, n_init=n_init, random_state=seed, tol=1e-4, max_iter=300).fit(z)
    print(repr(float(km.inertia_)))


if __name__ == "__main__":
    main()
