#!/usr/bin/env python3
"""Independent reference for model_evaluate: scikit-learn's silhouette and
Davies-Bouldin scores of given labels on z-scored features.

Usage: cluster_metrics_reference.py CSV
The CSV has a header; the last column is the cluster label, the others are
numeric features, z-scored here with the population standard deviation.
Prints "silhouette davies_bouldin".
"""

import csv
import sys

try:
    import numpy as np
    from sklearn.metrics import davies_bouldin_score, silhouette_score
except ImportError as e:
    sys.exit(f"{sys.executable}: {e}; install it with `pip install scikit-learn` (tests/run.sh does)")

with open(sys.argv[1], newline="") as f:
    rows = [[float(v) for v in row] for i, row in enumerate(csv.reader(f)) if i > 0]
data = np.array(rows)
x, labels = data[:, :-1], data[:, -1].astype(int)
std = x.std(axis=0)
std[std == 0] = 1.0
z = (x - x.mean(axis=0)) / std
print(silhouette_score(z, labels), davies_bouldin_score(z, labels))
