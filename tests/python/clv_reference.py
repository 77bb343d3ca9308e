#!/usr/bin/env python3
"""Independent reference for microseg's lifetime-value models: lifetimes.

Usage: clv_reference.py TRANSACTIONS_CSV AS_OF

The CSV has columns customer_id, ts, amount. Prints one JSON object:
summary (per customer: frequency, recency, T, monetary_value, as
lifetimes' summary_data_from_transaction_data with freq 'D'), the BG/NBD
and Gamma-Gamma parameters lifetimes fits (penalizer 0), and per customer
p_alive, expected purchases in the next 30 days, expected average spend
and 12-month CLV at a 1% monthly discount rate.
"""

import json
import sys
import warnings

warnings.filterwarnings("ignore")

try:
    import pandas as pd
    from lifetimes import BetaGeoFitter, GammaGammaFitter
    from lifetimes.utils import summary_data_from_transaction_data
except ImportError as e:
    sys.exit(f"{sys.executable}: {e}; install it with `pip install lifetimes` (tests/run.sh does)")


def main():
    path, as_of = sys.argv[1], sys.argv[2]
    tx = pd.read_csv(path, parse_dates=["ts"])
    summary = summary_data_from_transaction_data(
        tx, "customer_id", "ts", monetary_value_col="amount", observation_period_end=as_of, freq="D"
    )
    bg = BetaGeoFitter(penalizer_coef=0.0)
    bg.fit(summary["frequency"], summary["recency"], summary["T"])
    repeat = summary[(summary["frequency"] > 0) & (summary["monetary_value"] > 0)]
    gg = GammaGammaFitter(penalizer_coef=0.0)
    gg.fit(repeat["frequency"], repeat["monetary_value"])
    p_alive = bg.conditional_probability_alive(summary["frequency"], summary["recency"], summary["T"])
    expected = bg.conditional_expected_number_of_purchases_up_to_time(
        30, summary["frequency"], summary["recency"], summary["T"]
    )
    spend = gg.conditional_expected_average_profit(summary["frequency"], summary["monetary_value"])
    clv = gg.customer_lifetime_value(
        bg, summary["frequency"], summary["recency"], summary["T"], summary["monetary_value"],
        time=12, discount_rate=0.01, freq="D",
    )
    out = {
        "bgnbd": {k: float(v) for k, v in bg.params_.items()},
        "gamma_gamma": {k: float(v) for k, v in gg.params_.items()},
        "customers": {
            str(int(cid)): {
                "frequency": float(row["frequency"]),
                "recency": float(row["recency"]),
                "T": float(row["T"]),
                "monetary_value": float(row["monetary_value"]),
                "p_alive": float(p_alive[i]),
                "expected_30": float(expected.iloc[i]),
                "spend": float(spend.iloc[i]),
                "clv": float(clv.iloc[i]),
            }
            for i, (cid, row) in enumerate(summary.iterrows())
        },
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
