"""Issue 15's reader rules over ADBC, against a real `microseg serve`: a
table of attacks a reader might try on one victim, each refused or answered
with groups of at least the minimum, none leaking the victim's value. The
groups a reader does get are checked against DuckDB over the same Parquet
files (an independent engine), with the threshold written out.

The binary comes from $MICROSEG_BIN (default target/debug/microseg); the
server is started as in test_flight_sql.py.
"""

from pathlib import Path

import adbc_driver_manager
import duckdb
import pytest

from test_flight_sql import Server, connect, run

CUSTOMERS = 300
MIN = 10
VICTIM = 17

PRIVACY = f"""
[privacy]
personal_columns = ["customers.email", "customers.phone", "customers.first_name",
                    "customers.last_name", "customers.lat", "customers.lon", "tickets.text"]
public_tables = ["products", "stores"]
consent_table = "consents"
[privacy.roles.reader]
min_group_size = {MIN}
"""


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    out = tmp_path_factory.mktemp("privacy") / "lake"
    run("generate", "--customers", str(CUSTOMERS), "--seed", "11", "--out", str(out))
    (out / "microseg.toml").write_text(PRIVACY)
    return out


@pytest.fixture(scope="module")
def server(lake):
    users = lake.parent / "users.toml"
    run("users", "add", "ana", "--role", "analyst", "--users", str(users), stdin="ana-pw\n")
    run("users", "add", "rita", "--role", "reader", "--users", str(users), stdin="rita-pw\n")
    s = Server("--lake", str(lake), "--users", str(users))
    yield s
    s.stop()


@pytest.fixture(scope="module")
def duck(lake):
    con = duckdb.connect()
    for table in ["customers", "orders"]:
        con.execute(
            f"CREATE VIEW {table} AS SELECT * FROM read_parquet('{lake}/{table}/**/*.parquet', hive_partitioning=true)"
        )
    return con


@pytest.fixture(scope="module")
def victim(duck):
    email, city, year, gender = duck.execute(
        f"SELECT email, city, birth_year, gender FROM customers WHERE customer_id = {VICTIM}"
    ).fetchone()
    spent = duck.execute(
        f"SELECT coalesce(sum(amount), 0) FROM orders WHERE customer_id = {VICTIM}"
    ).fetchone()[0]
    return {"email": email, "city": city, "year": year, "gender": gender, "spent": spent}


def rows(conn, sql, params=None):
    with conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetch_arrow_table()


def refusal(conn, sql, params=None):
    with pytest.raises(adbc_driver_manager.Error) as err:
        rows(conn, sql, params)
    return str(err.value)


def attacks(v):
    """(name, sql, params); each must be refused, none may echo a value."""
    e, c, y, g = v["email"], v["city"], v["year"], v["gender"]
    rare = f"c.city = '{c}' AND c.birth_year = {y} AND c.gender = '{g}'"
    join = "FROM orders o JOIN customers c ON c.customer_id = o.customer_id"
    return [
        ("direct projection", "SELECT email, phone FROM customers", None),
        ("projection in a subquery", "SELECT * FROM (SELECT customer_id, email FROM customers) s", None),
        ("literal on the key", f"SELECT sum(amount) FROM orders WHERE customer_id = {VICTIM}", None),
        ("literal on email", f"SELECT sum(o.amount) {join} WHERE c.email = '{e}'", None),
        ("IN list on the key", f"SELECT count(*) FROM customers WHERE customer_id IN ({VICTIM}, 0)", None),
        ("key arithmetic", f"SELECT count(*) FROM customers WHERE customer_id - {VICTIM} = 0", None),
        ("parameter on the key", "SELECT sum(amount) FROM orders WHERE customer_id = ?", (VICTIM,)),
        ("parameter on email", "SELECT count(*) FROM customers WHERE email = ?", (e,)),
        ("rare combination", f"SELECT sum(o.amount) {join} WHERE {rare}", None),
        ("differencing", f"SELECT sum(o.amount) {join} WHERE NOT ({rare})", None),
        ("ORDER BY … LIMIT 1", "SELECT amount FROM orders ORDER BY amount DESC LIMIT 1", None),
        ("LIMIT in a subquery",
         "SELECT count(*), sum(amount) FROM (SELECT * FROM orders ORDER BY amount DESC LIMIT 1)", None),
        ("window function", "SELECT customer_id, rank() OVER (ORDER BY amount DESC) FROM orders", None),
        ("first_value window", "SELECT first_value(email) OVER (ORDER BY signup_ts) AS x FROM customers", None),
        ("array_agg", "SELECT city, array_agg(email) FROM customers GROUP BY city", None),
        ("string_agg", "SELECT city, string_agg(email, ',') FROM customers GROUP BY city", None),
        ("max of email", "SELECT city, max(email) FROM customers GROUP BY city", None),
        ("group by the key", "SELECT customer_id, sum(amount) FROM orders GROUP BY customer_id", None),
        ("group by email", "SELECT email, count(*) FROM customers GROUP BY email", None),
        ("join to a one-row table of the victim",
         f"SELECT sum(o.amount) FROM orders o JOIN (VALUES ({VICTIM})) v(id) ON o.customer_id = v.id", None),
        ("UNION padding with made-up customers",
         f"SELECT city, count(*) FROM (SELECT customer_id, city FROM customers c WHERE {rare} "
         "UNION ALL SELECT 100000 + value, 'x' FROM generate_series(1, 20)) GROUP BY city", None),
        ("CTE wrapping", f"WITH v AS (SELECT * FROM customers WHERE customer_id = {VICTIM}) SELECT * FROM v", None),
        ("error oracle", f"SELECT count(CASE WHEN email = '{e}' THEN 1/0 END) FROM customers", None),
        ("error oracle by arithmetic", f"SELECT count(1 / (customer_id - {VICTIM})) FROM customers", None),
        ("scalar subquery", f"SELECT (SELECT email FROM customers WHERE customer_id = {VICTIM})", None),
        ("EXPLAIN ANALYZE", f"EXPLAIN ANALYZE SELECT count(*) FROM customers c WHERE {rare}", None),
        ("join to a one-row table of the victim's attributes",
         f"SELECT sum(o.amount) {join} JOIN (VALUES ('{c}', {y}, '{g}')) v(city, y, g) "
         "ON c.city = v.city AND c.birth_year = v.y AND c.gender = v.g", None),
        ("differencing by NOT IN (subquery)",
         f"SELECT sum(o.amount) {join} WHERE c.city || '/' || c.birth_year || '/' || c.gender "
         f"NOT IN (SELECT '{c}/{y}/{g}')", None),
        ("differencing by NOT EXISTS",
         f"SELECT sum(o.amount) {join} WHERE NOT EXISTS (SELECT 1 FROM (VALUES ('{c}', {y}, '{g}')) "
         "v(city, y, g) WHERE v.city = c.city AND v.y = c.birth_year AND v.g = c.gender)", None),
        ("differencing by HAVING",
         f"SELECT sum(s) FROM (SELECT o.customer_id, sum(o.amount) AS s {join} "
         f"GROUP BY o.customer_id, c.city, c.birth_year, c.gender HAVING NOT ({rare}))", None),
        ("a file by path", "SELECT count(*) FROM '{lake}/customers/'", None),
        ("a table without the key", "SELECT * FROM src_crm_contacts", None),
    ]


def test_attacks_are_refused_without_leaking(server, victim, lake):
    with connect(server, user="rita", password="rita-pw") as conn:
        for name, sql, params in attacks(victim):
            sql = sql.replace("{lake}", str(lake))
            text = refusal(conn, sql, params)
            assert "role reader may not" in text and "privacy rule" in text or "by path" in text, (
                name, text)
            for value in [victim["email"], str(victim["spent"])]:
                assert value not in text, (name, text)


def test_averaging_repeated_queries_gives_the_same_groups(server, duck):
    """No noise to average away: the same query gives the same safe groups,
    equal to DuckDB's with the threshold written out."""
    sql = "SELECT city, count(*) AS n, avg(birth_year) AS y FROM customers GROUP BY city"
    want = duck.execute(
        f"SELECT city, count(*) AS n, avg(birth_year) AS y FROM customers GROUP BY city "
        f"HAVING count(DISTINCT customer_id) >= {MIN} ORDER BY city"
    ).fetchall()
    small = duck.execute(
        f"SELECT count(*) FROM (SELECT city FROM customers GROUP BY city HAVING count(*) < {MIN})"
    ).fetchone()[0]
    assert small > 0, "the lake must have small groups for this test to mean anything"
    with connect(server, user="rita", password="rita-pw") as conn:
        for _ in range(3):
            got = rows(conn, sql).sort_by("city").to_pylist()
            assert [(r["city"], r["n"]) for r in got] == [(c, n) for c, n, _ in want]
            for r, (_, _, y) in zip(got, want):
                assert r["y"] == pytest.approx(y)


def test_safe_aggregates_through_joins_views_and_prepared_statements(server, duck):
    with connect(server) as conn, conn.cursor() as cur:
        cur.execute(
            "CREATE OR REPLACE VIEW spend_per_customer AS SELECT c.customer_id, c.city, "
            "sum(o.amount) AS spent FROM customers c JOIN orders o ON o.customer_id = c.customer_id "
            "GROUP BY c.customer_id, c.city"
        )
        cur.fetchall()
    want = dict(duck.execute(
        "SELECT c.city, count(*) FROM (SELECT c.customer_id, c.city FROM customers c JOIN orders o "
        "ON o.customer_id = c.customer_id GROUP BY 1, 2) c GROUP BY 1 "
        f"HAVING count(*) >= {MIN}"
    ).fetchall())
    with connect(server, user="rita", password="rita-pw") as conn:
        got = rows(conn, "SELECT city, count(*) AS n FROM spend_per_customer GROUP BY city")
        assert dict(zip(got["city"].to_pylist(), got["n"].to_pylist())) == want
        # A parameter on an ordinary column is fine; the filter keeps and
        # removes many customers.
        got = rows(conn, "SELECT count(*) AS n FROM customers WHERE birth_year < ?", (1980,))
        n = duck.execute(
            "SELECT count(*) FROM customers WHERE birth_year < 1980"
        ).fetchone()[0]
        assert got["n"].to_pylist() == [n]
        # Table functions whose output has the key are customer level.
        got = rows(conn, "SELECT segment, count(*) AS n FROM rfm(orders, customer_id, order_ts, amount) "
                         "GROUP BY segment")
        assert all(n >= MIN for n in got["n"].to_pylist())
        text = refusal(conn, "SELECT * FROM rfm(orders, customer_id, order_ts, amount)")
        assert "privacy rule" in text


def test_the_readers_demo_file_runs_with_groups_of_the_minimum(server):
    text = (Path(__file__).resolve().parents[2] / "sql" / "privacy" / "reader_safe_view.sql").read_text()
    statements = [s for s in text.split(";") if "SELECT" in s]
    assert len(statements) == 2
    with connect(server, user="rita", password="rita-pw") as conn:
        segments = rows(conn, statements[0])
        assert segments.num_rows > 0
        assert all(n >= MIN for n in segments["customers"].to_pylist())
        channels = rows(conn, statements[1])
        assert channels.num_rows > 0
        assert all(n >= MIN for n in channels["customers"].to_pylist())


def test_filters_by_join_and_subquery_over_many_customers_match_duckdb(server, duck, lake):
    duck.execute(
        f"CREATE OR REPLACE VIEW stores AS SELECT * FROM read_parquet('{lake}/stores/**/*.parquet')"
    )
    cases = [
        "SELECT count(*) AS n FROM customers WHERE customer_id IN "
        "(SELECT customer_id FROM orders WHERE channel = 'web')",
        "SELECT count(*) AS n FROM customers c WHERE NOT EXISTS "
        "(SELECT 1 FROM orders o WHERE o.customer_id = c.customer_id AND o.channel = 'web')",
        "SELECT count(*) AS n FROM orders o JOIN stores s ON s.store_id = o.store_id",
    ]
    with connect(server, user="rita", password="rita-pw") as conn:
        for sql in cases:
            assert rows(conn, sql)["n"].to_pylist() == [duck.execute(sql).fetchone()[0]], sql


def visible_tables(conn):
    """{table: [columns]} from ADBC's GetObjects (GetTables with schemas)."""
    out = {}
    for catalog in conn.adbc_get_objects(depth="all").read_all().to_pylist():
        for schema in catalog["catalog_db_schemas"] or []:
            for table in schema["db_schema_tables"] or []:
                columns = [c["column_name"] for c in table["table_columns"] or []]
                out[table["table_name"]] = columns
    return out


def test_metadata_shows_a_reader_only_what_it_may_read(server):
    with connect(server) as conn:
        analyst = visible_tables(conn)
    with connect(server, user="rita", password="rita-pw") as conn:
        reader = visible_tables(conn)
    # The analyst sees everything; the filter below must remove something.
    assert "src_crm_contacts" in analyst and "email" in analyst["customers"]
    assert "audit_log" in analyst
    # Tables without the key that are not public, and the audit log: absent.
    assert "src_crm_contacts" not in reader and "audit_log" not in reader
    assert "products" in reader and "orders" in reader and "tables" in reader
    # Personal columns hidden; the key and ordinary columns stay.
    assert "email" not in reader["customers"] and "phone" not in reader["customers"]
    assert "customer_id" in reader["customers"] and "city" in reader["customers"]
    assert "text" not in reader["tickets"]
    assert reader["orders"] == analyst["orders"]
