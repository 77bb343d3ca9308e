"""Independent references for microseg's boosted trees (tests/models/boosted.rs).

  telco CACHE OUT
      The Telco churn CSV inside the evalml==0.84.0 wheel (evalml/demos/data/churn.csv), read
      from the archive in CACHE (downloaded there with `pip download --no-deps` when absent;
      evalml is never installed, the CSV never committed). Writes OUT/train.csv and OUT/test.csv:
      a 70/30 split (numpy seed 0), TotalCharges blank -> empty (NULL).

  lightgbm TRAIN TEST LABEL ID SCORES PARAMS
      Fits lightgbm.LGBMClassifier on TRAIN (every column but LABEL and ID a feature: numbers as
      they are, NaN missing; text and booleans one 0/1 column per category, NULL a category, as
      microseg encodes) with the JSON PARAMS, scores TEST, and prints JSON
      {lightgbm_auc, microseg_auc}: roc_auc_score on TEST's labels, ours from SCORES (columns
      p, y) as microseg scored the same TEST rows.
"""

import glob
import io
import json
import os
import subprocess
import sys
import zipfile

import lightgbm
import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score


def telco(cache, out):
    os.makedirs(cache, exist_ok=True)
    wheels = glob.glob(os.path.join(cache, "evalml-0.84.0-*.whl"))
    if not wheels:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
             "--disable-pip-version-check", "evalml==0.84.0", "-d", cache],
            check=True,
        )
        wheels = glob.glob(os.path.join(cache, "evalml-0.84.0-*.whl"))
    with zipfile.ZipFile(wheels[0]) as z:
        df = pd.read_csv(io.BytesIO(z.read("evalml/demos/data/churn.csv")))
    df["TotalCharges"] = pd.to_numeric(df["TotalCharges"].astype(str).str.strip().replace("", np.nan))
    order = np.random.default_rng(0).permutation(len(df))
    cut = int(round(0.7 * len(df)))
    os.makedirs(out, exist_ok=True)
    df.iloc[order[:cut]].to_csv(os.path.join(out, "train.csv"), index=False)
    df.iloc[order[cut:]].to_csv(os.path.join(out, "test.csv"), index=False)
    print(json.dumps({"train": cut, "test": len(df) - cut}))


def positive(values):
    text = values.astype(str).str.lower()
    if set(text.unique()) <= {"true", "false"}:
        return (text == "true").astype(int).to_numpy()
    return (values.astype(str) == sorted(values.astype(str).unique())[-1]).astype(int).to_numpy()


def encode(train, test, label, ident):
    cols_train, cols_test = [], []
    for name in train.columns:
        if name in (label, ident):
            continue
        a, b = train[name], test[name]
        if pd.api.types.is_numeric_dtype(a) and not pd.api.types.is_bool_dtype(a):
            cols_train.append(a.astype(float).rename(name))
            cols_test.append(b.astype(float).rename(name))
        else:
            ta = a.map(lambda v: None if pd.isna(v) else str(v))
            tb = b.map(lambda v: None if pd.isna(v) else str(v))
            cats = sorted(set(ta.dropna()))
            if ta.isna().any():
                cats = [None] + cats
            for c in cats:
                key = f"{name}={'NULL' if c is None else c}"
                hit = (lambda t: t.isna() if c is None else t == c)
                cols_train.append(hit(ta).astype(float).rename(key))
                cols_test.append(hit(tb).astype(float).rename(key))
    return pd.concat(cols_train, axis=1), pd.concat(cols_test, axis=1)


def fit(train_path, test_path, label, ident, scores_path, params):
    train, test = pd.read_csv(train_path), pd.read_csv(test_path)
    x_train, x_test = encode(train, test, label, ident)
    model = lightgbm.LGBMClassifier(
        n_estimators=params["trees"],
        learning_rate=params["learning_rate"],
        num_leaves=params["num_leaves"],
        min_child_samples=20,
        min_child_weight=1e-3,
        reg_lambda=params.get("l2", 0.0),
        max_bin=255,
        n_jobs=2,
        deterministic=True,
        verbose=-1,
    )
    model.fit(x_train.to_numpy(), positive(train[label]))
    p = model.predict_proba(x_test.to_numpy())[:, 1]
    ours = pd.read_csv(scores_path)
    print(json.dumps({
        "lightgbm_auc": roc_auc_score(positive(test[label]), p),
        "microseg_auc": roc_auc_score(ours["y"].astype(int), ours["p"]),
        "rows": len(ours),
    }))


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    if command == "telco":
        telco(*args)
    elif command == "lightgbm":
        fit(args[0], args[1], args[2], args[3], args[4], json.loads(args[5]))
    else:
        sys.exit(f"unknown command {command}")
