"""Independent references for microseg's uplift models (tests/models/uplift.rs).

  metrics CSV
      CSV columns s (a score), y (0/1 outcome), t (0/1 treated). Prints scikit-uplift's values as
      JSON: qini_coefficient (qini_auc_score, negative_effect=True), auuc (uplift_auc_score), the
      areas (sklearn.metrics.auc) under the model's, the random (the diagonal to the curve's end, as
      scikit-uplift draws it) and the perfect curves, and uplift_at_k(strategy='overall') at 10, 20,
      30% for the scores and for scikit-uplift's perfect uplift ranking. Refuses tied scores (ties
      at the cut of uplift@k depend on row order there).

  learners CSV LAMBDA
      CSV: the features (training order), then t (0/1) and y (0/1). Encodes the features as microseg
      documents (logistic_reference.encode), fits scikit-learn's LogisticRegression(C = 1/LAMBDA) on
      each arm (T-learner: p1 - p0) and, for the X-learner (Kunzel et al. 2019), Ridge(alpha=LAMBDA)
      on each arm's imputed effects (treated y - p0, control p1 - y), combined as g*tau0 +
      (1 - g)*tau1 with g the treated share. Prints JSON {t: [...], x: [...]} per row.
"""

import json
import sys

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import auc
from sklift import metrics as sm

from logistic_reference import encode


def metrics(path):
    df = pd.read_csv(path)
    s, y, t = df["s"].to_numpy(float), df["y"].to_numpy(int), df["t"].to_numpy(int)
    if len(np.unique(s)) != len(s):
        sys.exit("tied scores: uplift@k would depend on row order")
    out = {
        "qini_coefficient": sm.qini_auc_score(y, s, t, negative_effect=True),
        "auuc": sm.uplift_auc_score(y, s, t),
    }
    for name, curve, perfect in [
        ("qini", sm.qini_curve, lambda: sm.perfect_qini_curve(y, t, negative_effect=True)),
        ("uplift", sm.uplift_curve, lambda: sm.perfect_uplift_curve(y, t)),
    ]:
        xs, ys = curve(y, s, t)
        xp, yp = perfect()
        out[f"{name}_area"] = auc(xs, ys)
        out[f"{name}_perfect_area"] = auc(xp, yp)
        out[f"{name}_random_area"] = auc([0, xp[-1]], [0, yp[-1]])
    # scikit-uplift's perfect uplift ranking (perfect_uplift_curve's score).
    cr = np.sum((y == 1) & (t == 0))
    tn = np.sum((y == 0) & (t == 1))
    perfect = 2 * (y == t) + (y if cr > tn else t)
    for k in (10, 20, 30):
        out[f"uplift_at_{k}"] = sm.uplift_at_k(y, s, t, strategy="overall", k=k / 100)
        out[f"perfect_uplift_at_{k}"] = sm.uplift_at_k(y, perfect, t, strategy="overall", k=k / 100)
    out["average_uplift"] = y[t == 1].mean() - y[t == 0].mean()
    # JSON has no NaN: an undefined value (no row of an arm in the cut) is null.
    return {k: (float(v) if np.isfinite(v) else None) for k, v in out.items()}


def learners(path, lam):
    df = pd.read_csv(path)
    t = df["t"].to_numpy(int) == 1
    y = df["y"].to_numpy(int)
    X, _ = encode(df, {"t", "y"})
    kwargs = dict(solver="newton-cholesky", tol=1e-12, max_iter=1000)
    arm = lambda: LogisticRegression(C=1.0 / lam, **kwargs) if lam > 0 else LogisticRegression(penalty=None, **kwargs)
    m0 = arm().fit(X[~t], y[~t])
    m1 = arm().fit(X[t], y[t])
    p0 = m0.predict_proba(X)[:, 1]
    p1 = m1.predict_proba(X)[:, 1]
    tau1 = Ridge(alpha=lam, solver="cholesky").fit(X[t], y[t] - p0[t])
    tau0 = Ridge(alpha=lam, solver="cholesky").fit(X[~t], p1[~t] - y[~t])
    g = t.mean()
    x = g * tau0.predict(X) + (1 - g) * tau1.predict(X)
    return {"t": (p1 - p0).tolist(), "x": x.tolist()}


if __name__ == "__main__":
    command = sys.argv[1]
    if command == "metrics":
        print(json.dumps(metrics(sys.argv[2])))
    elif command == "learners":
        print(json.dumps(learners(sys.argv[2], float(sys.argv[3]))))
    else:
        sys.exit(f"unknown command {command}")
