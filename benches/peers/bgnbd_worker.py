#!/usr/bin/env python3
"""lifetimes peer for benches/bgnbd_vs_lifetimes.rs.

Usage: bgnbd_worker.py CSV   (columns frequency, recency, T; one row per customer)
Times BetaGeoFitter(penalizer_coef=0).fit on every row (lifetimes' usual
use; it also accepts weights, reported separately on the grouped rows) and
prints one JSON line with seconds and the parameters.
"""

import json
import sys
import time
import warnings

warnings.filterwarnings("ignore")
import pandas as pd
from lifetimes import BetaGeoFitter

d = pd.read_csv(sys.argv[1])
start = time.perf_counter()
bg = BetaGeoFitter(penalizer_coef=0.0).fit(d["frequency"], d["recency"], d["T"])
plain = time.perf_counter() - start
g = d.groupby(["frequency", "recency", "T"]).size().reset_index(name="weight")
start = time.perf_counter()
bg2 = BetaGeoFitter(penalizer_coef=0.0).fit(g["frequency"], g["recency"], g["T"], weights=g["weight"])
grouped = time.perf_counter() - start
print(json.dumps({"seconds": plain, "seconds_grouped": grouped, "params": bg.params_.to_dict(),
                  "params_grouped": bg2.params_.to_dict(), "distinct": len(g)}))
