"""Splink 5 (DuckDB backend) on the records microseg links, with the
same blocking rules and the Splink comparisons closest to microseg's
(benches/linkage_vs_splink.py translates them; README there).

    splink_worker.py SPEC.json RECORDS.parquet OUT.parquet

SPEC: link_type ('dedupe' | 'link'), unique_id, source_col, blocking
(lists of columns), comparisons (microseg's strings), term_frequency,
date_format, deterministic (SQL rules for the prior), recall, threshold,
cluster (bool), seed. Prints one JSON line of timings; writes the
predicted pairs (unique_id_l, unique_id_r, match_probability) or, with
cluster, the clusters (unique_id, cluster_id) to OUT.
"""

import json
import re
import sys
import time

import duckdb
import splink.comparison_library as cl
from splink import Linker, SettingsCreator, block_on
from splink.backends.duckdb import DuckDBAPI


def comparison(entry, tf, date_format):
    column, method = (p.strip() for p in entry.split(":", 1))
    m = re.fullmatch(r"(\w+)(?:\((.*)\))?", method)
    name, args = m.group(1), m.group(2)
    t = [float(x) for x in args.split(",")] if args else None
    if name == "exact":
        c = cl.ExactMatch(column)
    elif name == "jaro_winkler":
        c = cl.JaroWinklerAtThresholds(column, t or [0.92, 0.88, 0.7])
    elif name == "levenshtein":
        c = cl.LevenshteinAtThresholds(column, [int(x) for x in (t or [1, 2])])
    elif name == "damerau_levenshtein":
        c = cl.DamerauLevenshteinAtThresholds(column, [int(x) for x in (t or [1, 2])])
    elif name == "date":
        days = [int(x) for x in (t or [31, 365])]
        c = cl.DateOfBirthComparison(
            column,
            input_is_string=True,
            datetime_format=date_format,
            datetime_thresholds=days,
            datetime_metrics=["day"] * len(days),
        )
    elif name == "email":
        c = cl.EmailComparison(column)
    elif name == "numeric":
        c = cl.AbsoluteDifferenceAtThresholds(column, t or [1, 10])
    else:
        raise SystemExit(f"no Splink equivalent for {entry}")
    if column in tf:
        c = c.configure(term_frequency_adjustments=True)
    return c


def main():
    spec = json.load(open(sys.argv[1]))
    records, out = sys.argv[2], sys.argv[3]
    con = duckdb.connect()
    db_api = DuckDBAPI(connection=con)
    con.execute(f"CREATE VIEW df AS SELECT * FROM read_parquet('{records}')")
    df = con.sql("SELECT * FROM df")
    link = spec["link_type"] == "link"
    if link:
        src = spec["source_col"]
        names = [r[0] for r in con.execute(f"SELECT DISTINCT {src} FROM df ORDER BY 1").fetchall()]
        inputs = [db_api.register(con.sql(f"SELECT * FROM df WHERE {src} = '{n}'"), dataset_display_name=f"source_{n}") for n in names]
    else:
        inputs = db_api.register(df)
    settings = SettingsCreator(
        unique_id_column_name=spec["unique_id"],
        link_type="link_only" if link else "dedupe_only",
        blocking_rules_to_generate_predictions=[block_on(*rule) for rule in spec["blocking"]],
        comparisons=[comparison(c, spec["term_frequency"], spec["date_format"]) for c in spec["comparisons"]],
    )
    started = time.perf_counter()
    linker = Linker(inputs, settings)
    linker.training.estimate_probability_two_random_records_match(spec["deterministic"], recall=spec["recall"])
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6, seed=spec["seed"])
    for rule in spec["blocking"]:
        linker.training.estimate_parameters_using_expectation_maximisation(block_on(*rule))
    trained = time.perf_counter()
    predictions = linker.inference.predict(threshold_match_probability=spec["threshold"] if not spec["cluster"] else 0.5)
    predicted = time.perf_counter()
    if spec["cluster"]:
        clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(predictions, spec["threshold"])
        con.execute(f"COPY (SELECT {spec['unique_id']} AS unique_id, cluster_id FROM {clusters.physical_name}) "
                    f"TO '{out}' (FORMAT parquet)")
    else:
        uid = spec["unique_id"]
        con.execute(
            f"COPY (SELECT {uid}_l AS unique_id_l, {uid}_r AS unique_id_r, match_probability "
            f"FROM {predictions.physical_name}) TO '{out}' (FORMAT parquet)"
        )
    done = time.perf_counter()
    print(json.dumps({"train_s": trained - started, "predict_s": predicted - trained, "cluster_s": done - predicted,
                      "total_s": done - started}))


if __name__ == "__main__":
    main()
