"""Independent references for the recommender tests.

also_bought ORDERS_CSV ITEM: the association statistics of ITEM with every
other item, by DuckDB SQL over (customer_id, item) rows: a self-join of
distinct customer-item pairs, as the textbook defines support,
confidence, lift and Zhang's metric. Prints JSON rows ordered by
customers in common, lift, item.

movielens WHEEL OUT_CSV: MovieLens-100k's ratings from inside the recbole
wheel (a zip; recbole itself is never installed) as customer_id, item, ts
(epoch seconds) CSV; prints the global 80/20 time cutoff (the timestamp of
the row at the 80th percentile in time order: earlier rows train).

rank FULL_CSV CUTOFF RECS_CSV K: the ranking metrics of the model's lists
(RECS_CSV: customer_id, rank, item) and of a popularity baseline computed
here, on the rows at or after CUTOFF, for users seen before it, counting
only items new to the user; the per-user means of README's formulas.
"""

import csv
import io
import json
import math
import sys
import zipfile
from collections import defaultdict


def also_bought(csv, item):
    import duckdb

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


def movielens(wheel, out):
    with zipfile.ZipFile(wheel) as z:
        text = z.read("recbole/dataset_example/ml-100k/ml-100k.inter").decode()
    rows = list(csv.reader(io.StringIO(text), delimiter="\t"))
    header, rows = rows[0], rows[1:]
    assert header[0].startswith("user_id") and header[3].startswith("timestamp"), header
    with open(out, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["customer_id", "item", "ts"])
        for r in rows:
            w.writerow([int(r[0]), int(r[1]), int(float(r[3]))])
    times = sorted(int(float(r[3])) for r in rows)
    return times[int(0.8 * len(times))]


def metrics(lists, relevant, k, n_items):
    """Per-user means over users with relevant items."""
    sums = defaultdict(float)
    recommended = set()
    users = 0
    for u, rel in relevant.items():
        if not rel:
            continue
        users += 1
        lst = lists.get(u, [])[:k]
        recommended.update(lst)
        hits, ap, dcg = 0, 0.0, 0.0
        for i, item in enumerate(lst):
            if item in rel:
                hits += 1
                ap += hits / (i + 1)
                dcg += 1 / math.log2(i + 2)
        idcg = sum(1 / math.log2(i + 2) for i in range(min(len(rel), k)))
        sums["precision_at_k"] += hits / k
        sums["recall_at_k"] += hits / len(rel)
        sums["map_at_k"] += ap / min(len(rel), k)
        sums["ndcg_at_k"] += dcg / idcg
        sums["hit_rate"] += 1 if hits else 0
    out = {m: v / users for m, v in sums.items()}
    out["users"] = users
    out["coverage"] = len(recommended) / n_items
    return out


def rank(full, cutoff, recs, k):
    train, test = defaultdict(set), defaultdict(set)
    with open(full) as f:
        for r in csv.DictReader(f):
            (train if int(r["ts"]) < cutoff else test)[int(r["customer_id"])].add(int(r["item"]))
    items = {i for s in train.values() for i in s}
    relevant = {u: test[u] - train[u] for u in test if u in train}
    ours = defaultdict(list)
    with open(recs) as f:
        for r in sorted(csv.DictReader(f), key=lambda r: (int(r["customer_id"]), int(r["rank"]))):
            ours[int(r["customer_id"])].append(int(r["item"]))
    buyers = defaultdict(int)
    for s in train.values():
        for i in s:
            buyers[i] += 1
    by_popularity = sorted(buyers, key=lambda i: (-buyers[i], i))
    popular = {}
    for u in relevant:
        popular[u] = [i for i in by_popularity if i not in train[u]][:k]
    return {
        "model": metrics(ours, relevant, k, len(items)),
        "popularity": metrics(popular, relevant, k, len(items)),
    }


if __name__ == "__main__":
    if sys.argv[1] == "also_bought":
        print(json.dumps(also_bought(sys.argv[2], sys.argv[3])))
    elif sys.argv[1] == "movielens":
        print(json.dumps(movielens(sys.argv[2], sys.argv[3])))
    elif sys.argv[1] == "rank":
        print(json.dumps(rank(sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5]))))
    else:
        sys.exit(f"unknown mode {sys.argv[1]}")
