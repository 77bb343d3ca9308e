#!/usr/bin/env python3
"""Independent reference for the identity-graph quality test: pairwise
precision, recall and F1 of an identity graph's profiles against the
generator's truth, from scikit-learn's pair_confusion_matrix.

Usage: identity_pairs_reference.py COMPONENTS_PARQUET TRUTH_DIR

Prints "precision recall f1" on one line.
"""

import sys

try:
    import pyarrow.parquet as pq
    from sklearn.metrics.cluster import pair_confusion_matrix
except ImportError as e:
    sys.exit(f"{sys.executable}: {e}; install scikit-learn and pyarrow (tests/run.sh does)")

components, truth_dir = sys.argv[1], sys.argv[2]
graph = pq.read_table(components, columns=["source", "record_key", "profile_id"]).to_pydict()
truth = pq.read_table(truth_dir).to_pydict()
customer = {(s, k): c for s, k, c in zip(truth["source"], truth["record_key"], truth["customer_id"])}
predicted, actual = [], []
for s, k, p in zip(graph["source"], graph["record_key"], graph["profile_id"]):
    predicted.append(p)
    actual.append(customer[(s, k)])
# Ordered pairs: [[both apart, apart in truth but together here], [together in truth but apart here, both together]].
m = pair_confusion_matrix(actual, predicted)
tp, fp, fn = (int(x) for x in (m[1][1], m[0][1], m[1][0]))
precision = tp / (tp + fp)
recall = tp / (tp + fn)
print(f"{precision!r} {recall!r} {2 * precision * recall / (precision + recall)!r}")
