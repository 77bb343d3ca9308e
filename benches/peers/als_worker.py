"""The `implicit` package's ALS on the same triples as benches/standalone/als_fit.rs.

    als_worker.py TRIPLES_CSV FACTORS ITERATIONS THREADS LAMBDA ALPHA

Confidences 1 + ALPHA*r as its matrix (its alpha 1: its confidence is the matrix value), its
default conjugate-gradient solver and float32, as users run it; timed around fit only. Prints the
time and the loss sum c (p - x.y)^2 + LAMBDA (|X|^2 + |Y|^2) over every pair, computed blockwise.
"""

import os
import sys
import time

# implicit parallelises itself; a BLAS thread pool under it only contends.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import scipy.sparse as sp  # noqa: E402
from implicit.cpu.als import AlternatingLeastSquares  # noqa: E402

path, f, iterations, threads, lam, alpha = sys.argv[1:]
f, iterations, threads, lam, alpha = int(f), int(iterations), int(threads), float(lam), float(alpha)
df = pd.read_csv(path)
users, items = df["u"].max() + 1, df["i"].max() + 1
conf = sp.csr_matrix((1 + alpha * df["r"].to_numpy(float), (df["u"], df["i"])), shape=(users, items))
model = AlternatingLeastSquares(factors=f, regularization=lam, alpha=1.0, iterations=iterations,
                                num_threads=threads, random_state=42)
start = time.perf_counter()
model.fit(conf, show_progress=False)
seconds = time.perf_counter() - start
X = np.asarray(model.user_factors, dtype=float)
Y = np.asarray(model.item_factors, dtype=float)
# Sum over all pairs of (x.y)^2 via the Gram matrices, then the observed pairs corrected.
total = float(((X.T @ X) * (Y.T @ Y)).sum())
# In blocks of rows: the gathered factors of 23M pairs at once would need tens of GB.
u, i, r = df["u"].to_numpy(), df["i"].to_numpy(), df["r"].to_numpy(float)
for start in range(0, len(u), 1 << 20):
    block = slice(start, start + (1 << 20))
    s = np.einsum("ij,ij->i", X[u[block]], Y[i[block]])
    c = 1 + alpha * r[block]
    total += float((c * (1 - s) ** 2 - s**2).sum())
total += lam * float((X**2).sum() + (Y**2).sum())
print(f"implicit {f} factors, {iterations} iterations, {threads} threads: {seconds:.2f} s, loss {total:.6e}")
