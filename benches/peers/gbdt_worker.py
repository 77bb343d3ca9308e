"""The peers of benches/standalone/gbdt_fit.rs on the same rows: LightGBM with the
same parameters and threads, scikit-learn's LogisticRegression (lbfgs, C = 1).

  gbdt_worker.py PATH N D TREES LEAVES THREADS
PATH holds N×D little-endian f64 (NaN missing) then N label bytes; the first 80%
train, the rest score.
"""
import sys
import time

import numpy as np
import lightgbm
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

path, n, d, trees, leaves, threads = sys.argv[1], *map(int, sys.argv[2:])
raw = np.fromfile(path, dtype=np.uint8)
x = raw[: n * d * 8].view("<f8").reshape(n, d)
y = raw[n * d * 8 :].astype(int)
cut = n * 4 // 5
model = lightgbm.LGBMClassifier(
    n_estimators=trees, num_leaves=leaves, learning_rate=0.1, min_child_samples=20,
    min_child_weight=1e-3, reg_lambda=0.0, max_bin=255, n_jobs=threads, verbose=-1,
)
start = time.perf_counter()
model.fit(x[:cut], y[:cut])
seconds = time.perf_counter() - start
start = time.perf_counter()
p = model.predict_proba(x[cut:])[:, 1]
predict = time.perf_counter() - start
print(f"lightgbm           fit {seconds:>8.3f} s  test AUC {roc_auc_score(y[cut:], p):.5f}  "
      f"predict {len(p) / predict:.3e} rows/s ({threads} threads)")
filled = np.nan_to_num(x[:cut], nan=0.0)
start = time.perf_counter()
lr = LogisticRegression(C=1.0, solver="lbfgs", max_iter=1000).fit(filled, y[:cut])
print(f"sklearn lbfgs      fit {time.perf_counter() - start:>8.3f} s  iterations {lr.n_iter_[0]}")
