"""Independent reference for microseg's implicit ALS (tests/models/als.rs).

  compare TRIPLES FACTORS F LAMBDA ALPHA ITERATIONS
      TRIPLES: CSV u,i,r (dense 0-based indexes, r > 0); FACTORS: JSON {users, items} (row-major, F
      a row) fitted by microseg. Fits the `implicit` package's AlternatingLeastSquares (exact
      Cholesky solves, use_cg=False) on the confidences 1 + ALPHA*r with its alpha 1 (its confidence
      is the matrix value), regularization LAMBDA, F factors, ITERATIONS, float64, one thread.
      Computes with numpy, for both factor sets, the loss
          sum_ui c_ui (p_ui - x_u.y_i)^2 + LAMBDA (|X|^2 + |Y|^2),  c = 1 + ALPHA r, p = [r > 0]
      over every pair, and the mean overlap of each customer's top-10 unbought items.
      Prints JSON {ours, theirs, overlap}.
"""

import json
import sys

import numpy as np
import pandas as pd
import scipy.sparse as sp
from implicit.cpu.als import AlternatingLeastSquares


def loss(X, Y, R, alpha, lam):
    S = X @ Y.T
    C = 1 + alpha * R
    P = (R > 0).astype(float)
    return float((C * (P - S) ** 2).sum() + lam * ((X**2).sum() + (Y**2).sum()))


def top(X, Y, R, k=10):
    S = X @ Y.T
    S[R > 0] = -np.inf
    return np.argsort(-S, axis=1, kind="stable")[:, :k]


def main(triples, factors, f, lam, alpha, iterations):
    df = pd.read_csv(triples)
    ours = json.load(open(factors))
    X = np.array(ours["users"], dtype=float).reshape(-1, f)
    Y = np.array(ours["items"], dtype=float).reshape(-1, f)
    R = np.zeros((X.shape[0], Y.shape[0]))
    R[df["u"], df["i"]] = df["r"]
    conf = sp.csr_matrix(np.where(R > 0, 1 + alpha * R, 0.0))
    model = AlternatingLeastSquares(
        factors=f, regularization=lam, alpha=1.0, iterations=iterations,
        use_cg=False, dtype=np.float64, num_threads=1, random_state=42,
    )
    model.fit(conf, show_progress=False)
    Xt, Yt = np.asarray(model.user_factors), np.asarray(model.item_factors)
    a, b = top(X, Y, R), top(Xt, Yt, R)
    overlap = np.mean([len(set(a[u]) & set(b[u])) / a.shape[1] for u in range(a.shape[0])])
    return {
        "ours": loss(X, Y, R, alpha, lam),
        "theirs": loss(Xt, Yt, R, alpha, lam),
        "overlap": float(overlap),
    }


if __name__ == "__main__":
    _, command, triples, factors, f, lam, alpha, iterations = sys.argv
    assert command == "compare"
    print(json.dumps(main(triples, factors, int(f), float(lam), float(alpha), int(iterations))))
