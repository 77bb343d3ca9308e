"""Issue 15, consent by purpose, over ADBC against a real `microseg serve`:
a marketer sees exactly the customers whose latest consent record for
their purpose is granted, in every customer-keyed table and through every
path (joins, views, table functions, prepared statements); a `materialize`
job with a purpose writes only those customers. The reference audience is
computed here in plain Python from the consents Parquet files (latest
record by ts wins; a grant and a withdrawal at the same ts: no consent),
and the per-customer numbers with DuckDB over the same files.
"""

import subprocess
from collections import defaultdict
from pathlib import Path

import adbc_driver_manager
import duckdb
import pyarrow.parquet as pq
import pytest

from test_flight_sql import BIN, Server, connect, run

CUSTOMERS = 300
PURPOSES = ["email_marketing", "ad_sync", "profiling"]

PRIVACY = """
[privacy]
personal_columns = ["customers.email", "customers.phone"]
public_tables = ["products", "stores"]
consent_table = "consents"
"""


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    out = tmp_path_factory.mktemp("consent") / "lake"
    run("generate", "--customers", str(CUSTOMERS), "--seed", "5", "--out", str(out))
    (out / "microseg.toml").write_text(PRIVACY)
    return out


def marketer(purpose):
    return "m_" + purpose


@pytest.fixture(scope="module")
def server(lake):
    users = lake.parent / "users.toml"
    run("users", "add", "ana", "--role", "analyst", "--users", str(users), stdin="ana-pw\n")
    for purpose in PURPOSES + ["no_such_purpose"]:
        run("users", "add", marketer(purpose), "--role", "marketer", "--purpose", purpose,
            "--users", str(users), stdin="pw\n")
    s = Server("--lake", str(lake), "--users", str(users))
    yield s
    s.stop()


def reference_audience(lake, purpose):
    """Latest record per customer by ts; at a tie a withdrawal wins."""
    table = pq.read_table(lake / "consents").to_pylist()
    latest = defaultdict(lambda: (None, True))  # customer → (ts, granted)
    for r in table:
        if r["purpose"] != purpose or r["ts"] is None:
            continue
        ts, granted = latest[r["customer_id"]]
        now = r["granted"] is True
        if ts is None or r["ts"] > ts:
            latest[r["customer_id"]] = (r["ts"], now)
        elif r["ts"] == ts:
            latest[r["customer_id"]] = (ts, granted and now)
    return {c for c, (ts, granted) in latest.items() if ts is not None and granted}


@pytest.fixture(scope="module")
def duck(lake):
    con = duckdb.connect()
    for table in ["customers", "orders", "consents"]:
        con.execute(
            f"CREATE VIEW {table} AS SELECT * FROM read_parquet('{lake}/{table}/**/*.parquet', hive_partitioning=true)"
        )
    return con


def rows(conn, sql, params=None):
    with conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetch_arrow_table()


def ids(conn, sql, params=None):
    return set(rows(conn, sql, params).column(0).to_pylist())


def test_a_marketers_audience_is_the_consenting_customers_for_every_purpose(server, lake, duck):
    every = {r[0] for r in duck.execute("SELECT customer_id FROM customers").fetchall()}
    with connect(server) as conn, conn.cursor() as cur:
        cur.execute(
            "CREATE OR REPLACE VIEW big_spenders AS SELECT customer_id, sum(amount) AS spent "
            "FROM orders GROUP BY customer_id"
        )
        cur.fetchall()
    for purpose in PURPOSES:
        want = reference_audience(lake, purpose)
        assert 0 < len(want) < len(every), "each purpose must split the customers"
        spent = dict(duck.execute(
            "SELECT customer_id, sum(amount) FROM orders GROUP BY 1"
        ).fetchall())
        with connect(server, user=marketer(purpose), password="pw") as conn:
            assert ids(conn, "SELECT customer_id FROM customers") == want
            assert ids(conn, "SELECT customer_id FROM consents") == want
            # Every customer-keyed table, joins and subqueries included.
            assert ids(conn, "SELECT DISTINCT customer_id FROM orders") == want & set(spent)
            got = rows(conn, "SELECT c.customer_id, sum(o.amount) AS s FROM customers c "
                             "JOIN orders o ON o.customer_id = c.customer_id GROUP BY 1")
            got = dict(zip(got["customer_id"].to_pylist(), got["s"].to_pylist()))
            assert got == {c: s for c, s in spent.items() if c in want}
            assert ids(conn, "SELECT customer_id FROM customers WHERE customer_id IN "
                             "(SELECT customer_id FROM orders)") == want & set(spent)
            # A view an analyst made, a table function, a prepared statement.
            assert ids(conn, "SELECT customer_id FROM big_spenders") == want & set(spent)
            assert ids(conn, "SELECT customer_id FROM rfm(orders, customer_id, order_ts, amount)") \
                == want & set(spent)
            assert ids(conn, "SELECT customer_id FROM customers WHERE customer_id > ?", (0,)) == want
            # Aggregates count the audience only.
            n = rows(conn, "SELECT count(*) AS n FROM customers")["n"].to_pylist()
            assert n == [len(want)]
            # Public tables stay whole.
            products = duck.execute(
                f"SELECT count(*) FROM read_parquet('{lake}/products/**/*.parquet')"
            ).fetchone()[0]
            assert rows(conn, "SELECT count(*) AS n FROM products")["n"].to_pylist() == [products]


def test_an_unknown_purpose_gives_an_empty_audience_and_a_warning(server):
    assert 'no consent record has purpose "no_such_purpose"' in server.output()
    with connect(server, user=marketer("no_such_purpose"), password="pw") as conn:
        assert rows(conn, "SELECT count(*) AS n FROM customers")["n"].to_pylist() == [0]


def refusal(conn, sql):
    with pytest.raises(adbc_driver_manager.Error) as err:
        rows(conn, sql)
    return str(err.value)


def test_what_a_marketer_may_not_do(server, lake):
    with connect(server, user=marketer("ad_sync"), password="pw") as conn:
        for sql, part in [
            ("SELECT * FROM src_crm_contacts", "public_tables"),
            (f"SELECT count(*) FROM '{lake}/customers/'", "by path"),
            ("SELECT * FROM audit_log", "audit"),
            ("CREATE TABLE x AS SELECT 1", "role marketer may not run"),
            ("FORGET CUSTOMER 1", "role marketer may not run"),
        ]:
            text = refusal(conn, sql)
            assert part in text, (sql, text)


def test_the_audit_log_has_the_purpose(server):
    with connect(server, user=marketer("profiling"), password="pw") as conn:
        rows(conn, "SELECT count(*) FROM customers /* audited */")
    with connect(server) as conn:
        got = rows(conn, "SELECT role, purpose FROM audit_log WHERE statement LIKE '%/* audited */%'")
        assert got.to_pylist() == [{"role": "marketer", "purpose": "profiling"}]


JOB = """
name = "email_audience"
purpose = "email_marketing"

[[targets]]
table = "audiences.email"
sql = "SELECT c.customer_id, count(o.order_id) AS orders FROM customers c LEFT JOIN orders o ON o.customer_id = c.customer_id GROUP BY c.customer_id"
key = "customer_id"
mode = "replace"
"""


def test_a_materialize_job_with_a_purpose_writes_only_consenting_customers(lake, duck, tmp_path):
    from deltalake import DeltaTable

    job = tmp_path / "email_audience.toml"
    job.write_text(JOB)
    run("materialize", "--lake", str(lake), str(job))
    written = DeltaTable(str(lake / "audiences" / "email")).to_pyarrow_table().to_pylist()
    want = reference_audience(lake, "email_marketing")
    counts = dict(duck.execute(
        "SELECT c.customer_id, count(o.order_id) FROM customers c "
        "LEFT JOIN orders o ON o.customer_id = c.customer_id GROUP BY 1"
    ).fetchall())
    assert {r["customer_id"]: r["orders"] for r in written} == {c: counts[c] for c in want}
    audit = duck.execute(
        f"SELECT DISTINCT role, purpose FROM read_parquet('{lake}/_microseg/audit/**/*.parquet', "
        "hive_partitioning=true) WHERE role = 'job'"
    ).fetchall()
    assert audit == [("job", "email_marketing")]


def fails(*args, stdin=None):
    done = subprocess.run([BIN, *args], input=stdin, capture_output=True, text=True, timeout=600)
    assert done.returncode != 0, f"microseg {' '.join(args)} should fail"
    return done.stderr


def test_bad_input(tmp_path):
    users = tmp_path / "users.toml"
    assert "--purpose" in fails("users", "add", "m", "--role", "marketer", "--users", str(users),
                                stdin="pw\n")
    assert "only marketers" in fails("users", "add", "r", "--role", "reader", "--purpose", "x",
                                     "--users", str(users), stdin="pw\n")
    run("users", "add", "m", "--role", "marketer", "--purpose", "ad_sync", "--users", str(users),
        stdin="pw\n")
    small = tmp_path / "lake"
    run("generate", "--customers", "50", "--seed", "2", "--out", str(small))
    # A consent table named in [privacy] without a needed column: open fails.
    (small / "microseg.toml").write_text('[privacy]\nconsent_table = "campaign_sends"\n')
    text = fails("sql", "--lake", str(small), "-c", "SELECT 1")
    assert "campaign_sends" in text and "no column purpose" in text, text
    # The default table with a wrong type: serving a marketer fails, naming it.
    (small / "microseg.toml").write_text("[privacy]\n")
    consents = pq.read_table(small / "consents")
    consents = consents.set_column(
        consents.schema.get_field_index("granted"), "granted",
        consents.column("granted").cast("string"))
    for f in (small / "consents").glob("*.parquet"):
        f.unlink()
    pq.write_table(consents, small / "consents" / "part-00000.parquet")
    text = fails("serve", "--lake", str(small), "--users", str(users), "--bind", "127.0.0.1:0")
    assert "column granted" in text and "boolean" in text, text
    # A job with that purpose fails the same way, before it writes.
    job = tmp_path / "job.toml"
    job.write_text(JOB)
    text = fails("materialize", "--lake", str(small), str(job))
    assert "column granted" in text, text
    assert not (small / "audiences").exists()


def test_metadata_shows_a_marketer_customer_and_public_tables(server):
    from test_privacy import visible_tables

    with connect(server, user=marketer("ad_sync"), password="pw") as conn:
        seen = visible_tables(conn)
    assert "src_crm_contacts" not in seen and "audit_log" not in seen
    assert "products" in seen and "consents" in seen
    # Customer-level rows are the marketer's job: personal columns shown.
    assert "email" in seen["customers"]
