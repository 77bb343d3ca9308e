"""Independent references for microseg's logistic regression (tests/models/classifier.rs).

  fit CSV LABEL LAMBDA [W0 W1]
      CSV: the training rows as microseg exported them (header, label column LABEL, the other
      columns the features in training order; empty = NULL). Standardizes as microseg documents
      (numbers: NULL -> column mean, z = (x - mean) / population std; text/booleans: one 0/1
      column per category, NULL a category, categories in sorted order with NULL first) and fits
      scikit-learn's LogisticRegression(C = 1/LAMBDA) (no penalty when LAMBDA is 0) with class
      weights {negative: W0, positive: W1}. Prints JSON {intercept, coefficients: {name: value}}.

  metrics CSV THRESHOLD
      CSV columns p (a probability) and y (0/1). Prints sklearn.metrics' values as JSON, plus the
      ROC curve (drop_intermediate=False) and the decile gains table in microseg's definition
      (a row's decile is 1 + floor(10 r / n), r = rows scoring strictly higher).

  auc CSV SCORE...
      roc_auc_score of each named score column against y.
"""

import json
import sys

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn import metrics as skm


def encode(df, skip):
    """The columns of `df` but `skip` encoded as microseg documents; (matrix, names)."""
    columns, names = [], []
    for name in df.columns:
        if name in skip:
            continue
        col = df[name]
        if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
            x = col.astype(float)
            mean = x.mean()  # NaN (NULL) skipped
            x = x.fillna(mean)
            std = x[col.notna()].std(ddof=0)
            std = std if std > 0 else 1.0
            columns.append(((x - mean) / std).to_numpy())
            names.append(name)
        else:
            text = col.map(lambda v: None if pd.isna(v) else str(v).lower() if isinstance(v, bool) else str(v))
            cats = sorted(set(text.dropna()))
            if text.isna().any():
                cats = [None] + cats
            for c in cats:
                hit = text.isna() if c is None else (text == c)
                columns.append(hit.astype(float).to_numpy())
                names.append(f"{name}={'NULL' if c is None else c}")
    return np.column_stack(columns), names


def fit(path, label, lam, weights):
    df = pd.read_csv(path, keep_default_na=True)
    y_text = df[label].astype(str).str.lower()
    values = sorted(y_text.unique())
    if set(values) <= {"true", "false"}:
        y = (y_text == "true").astype(int).to_numpy()
    else:
        numeric = pd.to_numeric(df[label])
        y = (numeric == numeric.max()).astype(int).to_numpy()
    X, names = encode(df, {label})
    # newton-cholesky: the exact optimum (lbfgs stops early along the flat
    # direction the one-hot columns share with the intercept).
    kwargs = dict(
        solver="newton-cholesky", tol=1e-12, max_iter=1000,
        class_weight={0: weights[0], 1: weights[1]},
    )
    if lam > 0:
        model = LogisticRegression(C=1.0 / lam, **kwargs)
    else:
        model = LogisticRegression(penalty=None, **kwargs)
    model.fit(X, y)
    return {
        "intercept": float(model.intercept_[0]),
        "coefficients": dict(zip(names, map(float, model.coef_[0]))),
    }


def gains(p, y):
    n = len(p)
    order = pd.Series(p)
    higher = order.rank(method="min", ascending=False).astype(int) - 1
    decile = 1 + (10 * higher // n).clip(upper=9)
    base = y.mean()
    rows = []
    cum_rows = cum_pos = 0
    for d in range(1, 11):
        mask = (decile == d).to_numpy()
        if not mask.any():
            continue
        r, pos = int(mask.sum()), int(y[mask].sum())
        cum_rows += r
        cum_pos += pos
        rows.append({
            "decile": d, "rows": r, "positives": pos,
            "lift": pos / r / base,
            "cumulative_capture": cum_pos / y.sum(),
            "cumulative_lift": cum_pos / cum_rows / base,
        })
    return rows


def metrics(path, threshold):
    df = pd.read_csv(path)
    p, y = df["p"].to_numpy(float), df["y"].to_numpy(int)
    pred = (p >= threshold).astype(int)
    fpr, tpr, thresholds = skm.roc_curve(y, p, drop_intermediate=False)
    return {
        "rows": len(p),
        "roc_auc": skm.roc_auc_score(y, p),
        "pr_auc": skm.average_precision_score(y, p),
        "log_loss": skm.log_loss(y, p),
        "brier": skm.brier_score_loss(y, p),
        "accuracy": skm.accuracy_score(y, pred),
        "precision": skm.precision_score(y, pred, zero_division=0),
        "recall": skm.recall_score(y, pred),
        "f1": skm.f1_score(y, pred),
        # Without sklearn's leading (inf, 0, 0) point.
        "roc": [
            {"threshold": float(t), "tpr": float(a), "fpr": float(b)}
            for t, a, b in zip(thresholds[1:], tpr[1:], fpr[1:])
        ],
        "gains": gains(p, y),
    }


def main():
    mode = sys.argv[1]
    if mode == "fit":
        weights = [float(w) for w in sys.argv[5:7]] or [1.0, 1.0]
        out = fit(sys.argv[2], sys.argv[3], float(sys.argv[4]), weights)
    elif mode == "metrics":
        out = metrics(sys.argv[2], float(sys.argv[3]))
    elif mode == "auc":
        df = pd.read_csv(sys.argv[2])
        out = {s: skm.roc_auc_score(df["y"], df[s]) for s in sys.argv[3:]}
    else:
        raise SystemExit(f"unknown mode {mode}")
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
