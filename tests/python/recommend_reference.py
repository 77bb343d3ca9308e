"""Independent references for the recommender tests.

also_bought ORDERS_CSV ITEM: the association statistics of ITEM with every
other item, by DuckDB SQL over (customer_id, item) rows: a self-join of
distinct customer-item pairs, as the textbook defines support,
confidence, lift and Zhang's metric. Prints JSON rows ordered by
customers in common, lift, item.
"""

import json
import sys

import duckdb


def also_bought(csv, item):
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE p AS SELECT DISTINCT CAST(customer_id AS VARCHAR) AS c, CAST(item AS VARCHAR) AS i "
        "FROM read_csv_auto(?, header = true, all_varchar = true)",
        [csv],
    )
    rows = con.execute(
        """
        WITH n AS (SELECT count(DISTINCT c)::DOUBLE AS total FROM p),
             counts AS (SELECT i, count(*)::DOUBLE AS buyers FROM p GROUP BY i),
             pairs AS (
               SELECT b.i AS other, count(*)::DOUBLE AS both_
               FROM p a JOIN p b ON a.c = b.c AND a.i = ? AND b.i <> a.i
               GROUP BY b.i)
        SELECT other, both_,
               both_ / total AS support,
               both_ / ca.buyers AS confidence,
               (both_ / total) / ((ca.buyers / total) * (cb.buyers / total)) AS lift,
               ((both_ / total) - (ca.buyers / total) * (cb.buyers / total)) /
                 greatest((both_ / total) * (1 - ca.buyers / total),
                          (ca.buyers / total) * ((cb.buyers / total) - (both_ / total))) AS zhang
        FROM pairs, n, counts ca, counts cb
        WHERE ca.i = ? AND cb.i = pairs.other
        ORDER BY both_ DESC, lift DESC, other
        """,
        [item, item],
    ).fetchall()
    keys = ["also_bought", "customers_both", "support", "confidence", "lift", "zhang"]
    return [dict(zip(keys, r)) for r in rows]


if __name__ == "__main__":
    if sys.argv[1] == "also_bought":
        print(json.dumps(also_bought(sys.argv[2], sys.argv[3])))
    else:
        sys.exit(f"unknown mode {sys.argv[1]}")
