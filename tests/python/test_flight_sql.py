"""`microseg serve` driven by real Flight SQL clients: the ADBC Flight SQL
driver (what notebooks and many BI tools use) and flightsql-dbapi through
SQLAlchemy (Superset's way in).

The binary comes from $MICROSEG_BIN (tests/run.sh sets it; default
target/debug/microseg). Each server runs on a free loopback port with a
users file made by `microseg users add`, as an operator would.
"""

import datetime
import os
import socket
import subprocess
import time
from pathlib import Path

import adbc_driver_flightsql.dbapi as flight_sql
import adbc_driver_manager
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from adbc_driver_flightsql import DatabaseOptions

ROOT = Path(__file__).resolve().parents[2]
BIN = os.environ.get("MICROSEG_BIN", str(ROOT / "target" / "debug" / "microseg"))
CUSTOMERS = 300


def run(*args, stdin=None):
    done = subprocess.run(
        [BIN, *args], input=stdin, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, f"microseg {' '.join(args)} failed:\n{done.stderr}"
    return done.stdout


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, *args):
        self.port = free_port()
        self.log = open(args_log_path(self.port), "w+")
        self.proc = subprocess.Popen(
            [BIN, "serve", "--bind", f"127.0.0.1:{self.port}", *args],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = time.time() + 180
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited:\n{self.output()}")
            if "serving" in self.output():
                return
            time.sleep(0.2)
        self.stop()
        raise AssertionError(f"server did not start:\n{self.output()}")

    def output(self):
        self.log.flush()
        return Path(self.log.name).read_text()

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def args_log_path(port):
    return Path(os.environ.get("TMPDIR", "/tmp")) / f"microseg-serve-{port}.log"


@pytest.fixture(scope="session")
def lake(tmp_path_factory):
    out = tmp_path_factory.mktemp("flight") / "lake"
    run("generate", "--customers", str(CUSTOMERS), "--seed", "11", "--out", str(out))
    return out


@pytest.fixture(scope="session")
def users(lake):
    path = lake.parent / "users.toml"
    run("users", "add", "ana", "--role", "analyst", "--users", str(path), stdin="ana-pw\n")
    run("users", "add", "rita", "--role", "reader", "--users", str(path), stdin="rita-pw\n")
    token = run("users", "token", "ana", "--ttl", "1d", "--users", str(path)).strip()
    text = path.read_text()
    assert "ana-pw" not in text and token not in text, "only hashes are stored"
    return path, token


@pytest.fixture(scope="session")
def server(lake, users):
    s = Server("--lake", str(lake), "--users", str(users[0]))
    yield s
    s.stop()


def uri(server, scheme="grpc"):
    return f"{scheme}://127.0.0.1:{server.port}"


def connect(server, user="ana", password="ana-pw", **kwargs):
    return flight_sql.connect(
        uri(server),
        db_kwargs={"username": user, "password": password, **kwargs},
        autocommit=True,
    )


def scalar(conn, sql, params=None):
    with conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchone()[0]


def test_basic_login_runs_queries_and_our_functions(server):
    with connect(server) as conn:
        assert scalar(conn, "SELECT count(*) FROM customers") == CUSTOMERS
        assert scalar(conn, "SELECT rfm_code(5, 4, 3)") == "543"
        with conn.cursor() as cur:
            cur.execute(
                "SELECT segment, count(*) AS n FROM rfm(orders, customer_id, order_ts, amount) "
                "GROUP BY segment ORDER BY segment"
            )
            table = cur.fetch_arrow_table()
        assert table.num_rows > 1
        # View types never reach the client: plain strings.
        assert table.schema.field("segment").type == pa.string()
        assert sum(table.column("n").to_pylist()) > 0


def test_bearer_token_works_and_no_credentials_fail(server, users):
    _, token = users
    with flight_sql.connect(
        uri(server),
        db_kwargs={DatabaseOptions.AUTHORIZATION_HEADER.value: f"Bearer {token}"},
        autocommit=True,
    ) as conn:
        assert scalar(conn, "SELECT count(*) FROM customers") == CUSTOMERS

    with pytest.raises(adbc_driver_manager.Error) as err:
        with flight_sql.connect(uri(server), autocommit=True) as conn:
            scalar(conn, "SELECT 1")
    assert "Unauthenticated" in str(err.value) or "UNAUTHENTICATED" in str(err.value)

    with pytest.raises(adbc_driver_manager.Error):
        with connect(server, password="wrong") as conn:
            scalar(conn, "SELECT 1")


def test_get_objects_lists_catalogs_schemas_tables_columns(server):
    with connect(server, user="rita", password="rita-pw") as conn:
        objects = conn.adbc_get_objects(depth="all").read_all().to_pylist()
    catalogs = {c["catalog_name"] for c in objects}
    assert "datafusion" in catalogs, catalogs
    tables = {}
    for catalog in objects:
        for schema in catalog["catalog_db_schemas"] or []:
            for table in schema["db_schema_tables"] or []:
                tables[(schema["db_schema_name"], table["table_name"])] = table
    assert ("public", "orders") in tables, sorted(tables)
    columns = {c["column_name"] for c in tables[("public", "customers")]["table_columns"]}
    assert "customer_id" in columns, columns


def test_table_schema_and_server_info(server):
    with connect(server, user="rita", password="rita-pw") as conn:
        schema = conn.adbc_get_table_schema("orders")
        assert "customer_id" in schema.names
        # Plain strings in the catalog too, as in results.
        assert all(f.type != pa.string_view() for f in schema), schema
        info = conn.adbc_get_info()
    assert info["vendor_name"] == "microseg", info


def test_segment_set_ddl_by_analyst_refused_for_reader(server):
    with connect(server) as conn:
        with conn.cursor() as cur:
            cur.execute(
                "CREATE OR REPLACE SEGMENT SET py_spend ('big' WHEN amount > 50, ELSE 'small')"
            )
            cur.fetchall()
            cur.execute("CREATE OR REPLACE VIEW py_orders AS SELECT * FROM orders")
            cur.fetchall()
        n = scalar(conn, "SELECT count(*) FROM py_orders WHERE segment_of('py_spend') = 'big'")
        assert n > 0
    with connect(server, user="rita", password="rita-pw") as conn:
        assert scalar(conn, "SELECT count(*) FROM py_orders") > 0
        for sql in [
            "CREATE VIEW rita_v AS SELECT 1",
            "DROP SEGMENT SET py_spend",
            "COPY (SELECT 1) TO '/tmp/microseg-rita.csv'",
        ]:
            with pytest.raises(adbc_driver_manager.Error) as err:
                scalar(conn, sql)
            assert "role reader may not run" in str(err.value), sql


def test_reader_may_not_describe_a_path_outside_the_lake(server, tmp_path):
    secret = tmp_path / "secret.parquet"
    pq.write_table(pa.table({"salary": [1.0]}), secret)
    with connect(server) as conn, conn.cursor() as cur:
        cur.execute(f"DESCRIBE '{secret}'")
        assert "salary" in str(cur.fetch_arrow_table())
    with connect(server, user="rita", password="rita-pw") as conn, conn.cursor() as cur:
        with pytest.raises(adbc_driver_manager.Error) as err:
            cur.execute(f"DESCRIBE '{secret}'")
            cur.fetch_arrow_table()
    assert "outside the lake" in str(err.value), err.value
    assert "salary" not in str(err.value), err.value


def test_prepared_statements_with_parameters(server):
    with connect(server) as conn:
        channel = scalar(conn, "SELECT min(channel) FROM orders")
        total = scalar(conn, "SELECT count(*) FROM orders WHERE channel = $1", (channel,))
        assert total > 0
        assert scalar(conn, "SELECT count(*) FROM orders WHERE channel = ?", (channel,)) == total
        # An int where the column is a double: the value is cast to the
        # inferred parameter type.
        assert scalar(conn, "SELECT count(*) FROM orders WHERE amount > ?", (0,)) > 0


def test_set_persists_per_connection_and_executemany_counts(server):
    show = (
        "SELECT value FROM information_schema.df_settings "
        "WHERE name = 'datafusion.execution.batch_size'"
    )
    with connect(server) as one, connect(server) as two:
        with one.cursor() as cur:
            cur.execute("SET datafusion.execution.batch_size = 123")
            cur.fetchall()
        assert scalar(one, show) == "123"
        assert scalar(two, show) != "123"
        with one.cursor() as cur:
            cur.execute("CREATE OR REPLACE TABLE py_picks (id BIGINT, label TEXT)")
            cur.fetchall()
            cur.executemany("INSERT INTO py_picks VALUES (?, ?)", [(1, "a"), (2, "b"), (3, "c")])
        assert scalar(two, "SELECT count(*) FROM py_picks") == 3



# Extension arguments that are names (segment sets, models) or a Delta
# version, bound through `?` in a prepared statement and followed across
# CREATE OR REPLACE from another connection. Expected values come from
# closed forms computed here, not from the server.

POINTS = "(VALUES (1, 0.0), (2, 1.0), (3, 10.0), (4, 12.0)) AS t(id, x)"
IDS = [1, 2, 3, 4]
XS = [0.0, 1.0, 10.0, 12.0]


def ddl(conn, sql):
    with conn.cursor() as cur:
        cur.execute(sql)
        cur.fetchall()


def train(conn, name, values, replace=False):
    rows = ", ".join(f"({float(v)})" for v in values)
    ddl(
        conn,
        f"CREATE {'OR REPLACE ' if replace else ''}MODEL {name} OPTIONS "
        "(model_type 'kmeans', num_clusters 2, standardize false, seed 1) "
        f"AS SELECT x FROM (VALUES {rows}) AS t(x)",
    )


def centroids(values):
    """k = 2 on two well separated pairs: the pairs' means."""
    v = sorted(values)
    return [(v[0] + v[1]) / 2, (v[2] + v[3]) / 2]


def distances(xs, cs):
    return [min(abs(x - c) for c in cs) for x in xs]


def nearest(xs, cs):
    return [min(range(len(cs)), key=lambda i: abs(x - cs[i])) for x in xs]


def same_partition(got, want):
    """Cluster ids are the model's own: compare which points share one."""
    pairs = range(len(want))
    return [[got[i] == got[j] for j in pairs] for i in pairs] == [
        [want[i] == want[j] for j in pairs] for i in pairs
    ]


def columns(cur, sql, params=None):
    cur.execute(sql, params)
    return [list(c) for c in zip(*cur.fetchall())]


def first_match(rules, otherwise, row):
    return next((label for label, when in rules if when(*row)), otherwise)


def all_matches(rules, otherwise, row):
    return [label for label, when in rules if when(*row)] or [otherwise]


# name -> (SQL rules, Python rules, ELSE label): the same rules twice.
SETS = {
    "py_ph_a": (
        "('low' WHEN x < 5, 'odd' WHEN id % 2 = 1, ELSE 'other')",
        [("low", lambda i, x: x < 5), ("odd", lambda i, x: i % 2 == 1)],
        "other",
    ),
    "py_ph_b": (
        "('big' WHEN x > 5, ELSE 'small')",
        [("big", lambda i, x: x > 5)],
        "small",
    ),
}


def test_placeholder_names_a_segment_set(server):
    with connect(server) as conn:
        for name, (sql, _, _) in SETS.items():
            ddl(conn, f"CREATE OR REPLACE SEGMENT SET {name} {sql}")
        with conn.cursor() as cur:
            query = f"SELECT segment_of(?), segments_of(?) FROM {POINTS} ORDER BY id"
            cur.adbc_prepare(query)
            for name, (_, rules, otherwise) in SETS.items():
                one, every = columns(cur, query, (name, name))
                rows = list(zip(IDS, XS))
                assert one == [first_match(rules, otherwise, r) for r in rows], name
                assert every == [all_matches(rules, otherwise, r) for r in rows], name


def test_placeholder_names_a_model(server):
    models = {"py_ph_m": [0, 1, 10, 11], "py_ph_n": [0, 2, 30, 32]}
    with connect(server) as conn:
        for name, values in models.items():
            train(conn, name, values, replace=True)
        with conn.cursor() as cur:
            query = (
                f"SELECT cluster_assign(?, x), cluster_distance(?, x) FROM {POINTS} ORDER BY id"
            )
            cur.adbc_prepare(query)
            for name, values in models.items():
                cs = centroids(values)
                assigned, dist = columns(cur, query, (name, name))
                assert dist == pytest.approx(distances(XS, cs), abs=1e-6), name
                assert same_partition(assigned, nearest(XS, cs)), (name, assigned)
    # The two models are told apart: m splits the points, n does not.
    assert nearest(XS, centroids(models["py_ph_m"])) == [0, 0, 1, 1]
    assert nearest(XS, centroids(models["py_ph_n"])) == [0, 0, 0, 0]


def bgnbd_p_alive(p, frequency, recency, t):
    """lifetimes' BetaGeoFitter.conditional_probability_alive, closed form."""
    if frequency == 0:
        return 1.0
    odds = p["a"] / (p["b"] + frequency - 1) * (
        (p["alpha"] + t) / (p["alpha"] + recency)
    ) ** (p["r"] + frequency)
    return 1.0 / (1.0 + odds)


def test_placeholder_names_a_bgnbd_model(server):
    summary = (
        "SELECT * FROM clv_summary(orders, customer_id, order_ts, amount, DATE '2026-10-31')"
    )
    subsets = {"py_ph_life_all": "true", "py_ph_life_odd": "customer_id % 2 = 1"}
    customers = "(VALUES (2.0, 30.0, 300.0), (5.0, 280.0, 300.0), (1.0, 5.0, 400.0)) AS c(f, r, t)"
    with connect(server) as conn:
        params = {}
        for name, where in subsets.items():
            ddl(
                conn,
                f"CREATE OR REPLACE MODEL {name} OPTIONS (model_type 'bgnbd') "
                f"AS SELECT frequency, recency, T FROM ({summary}) WHERE {where}",
            )
            with conn.cursor() as cur:
                cur.execute(f"DESCRIBE MODEL {name}")
                described = dict(cur.fetchall())
            params[name] = {
                k: float(described[f"parameter.{k}"]) for k in ("r", "alpha", "a", "b")
            }
        assert params["py_ph_life_all"] != params["py_ph_life_odd"]
        with conn.cursor() as cur:
            query = f"SELECT f, r, t, p_alive(?, f, r, t) FROM {customers}"
            cur.adbc_prepare(query)
            wants = []
            for name in subsets:
                f, r, t, got = columns(cur, query, (name,))
                wants.append([bgnbd_p_alive(params[name], *row) for row in zip(f, r, t)])
                assert got == pytest.approx(wants[-1], abs=1e-6), name
        # The two models' answers are told apart at that tolerance.
        assert max(abs(a - b) for a, b in zip(*wants)) > 1e-3, wants


def write_versions(path, versions):
    deltalake = pytest.importorskip("deltalake")
    for i, table in enumerate(versions):
        deltalake.write_deltalake(str(path), table, mode="overwrite" if i else "error")
    assert deltalake.DeltaTable(str(path)).version() == len(versions) - 1


def test_placeholder_version_in_table_at(server, lake):
    versions = [
        pa.table({"id": [1, 2, 3], "v": [1.5, 2.5, 3.5]}),
        pa.table({"id": [10, 11, 12, 13], "v": [-1.0, 0.0, 1.0, 100.0]}),
    ]
    # Written by delta-rs after the server opened the lake, at the top level.
    write_versions(lake / "py_versions", versions)
    with connect(server) as conn, conn.cursor() as cur:
        assert columns(cur, "SELECT count(*) FROM py_versions") == [[versions[-1].num_rows]]
        query = "SELECT count(*), sum(id), sum(v) FROM table_at(py_versions, ?)"
        cur.adbc_prepare(query)
        for version in (0, 1, 0):
            n, ids, vs = columns(cur, query, (version,))
            want = versions[version]
            assert n == [want.num_rows], version
            assert ids == [sum(want.column("id").to_pylist())], version
            assert vs == pytest.approx([sum(want.column("v").to_pylist())]), version


def test_delta_tables_committed_after_the_lake_was_opened_are_found(server, lake):
    # A new top-level table, first named by table_at, and a table in a schema
    # folder that did not exist when the server opened the lake.
    write_versions(lake / "py_late", [pa.table({"id": [1]}), pa.table({"id": [1, 2]})])
    write_versions(lake / "py_new_schema" / "late", [pa.table({"id": [5, 6, 7]})])
    with connect(server) as conn:
        assert scalar(conn, "SELECT count(*) FROM table_at(py_late, ?)", (0,)) == 1
        assert scalar(conn, "SELECT count(*) FROM table_at(py_late, ?)", (1,)) == 2
        assert scalar(conn, "SELECT sum(id) FROM py_new_schema.late") == 18


def test_prepared_statement_sees_a_model_replaced_by_another_connection(server):
    old, new = [0, 1, 10, 11], [100, 101, 200, 201]
    with connect(server) as one, connect(server) as two:
        train(one, "py_rep_m", old, replace=True)
        with one.cursor() as cur:
            query = (
                "SELECT cluster_distance('py_rep_m', x), cluster_distance(?, x) "
                f"FROM {POINTS} ORDER BY id"
            )
            cur.adbc_prepare(query)
            for d in columns(cur, query, ("py_rep_m",)):
                assert d == pytest.approx(distances(XS, centroids(old)), abs=1e-6)
            train(two, "py_rep_m", new, replace=True)
            for d in columns(cur, query, ("py_rep_m",)):
                assert d == pytest.approx(distances(XS, centroids(new)), abs=1e-6)


def test_prepared_statement_sees_a_segment_set_replaced_by_another_connection(server):
    with connect(server) as one, connect(server) as two:
        ddl(one, "CREATE OR REPLACE SEGMENT SET py_rep_s ('big' WHEN x > 5, ELSE 'small')")
        with one.cursor() as cur:
            query = (
                "SELECT segment_of('py_rep_s'), segment_of(?) "
                f"FROM {POINTS} ORDER BY id"
            )
            cur.adbc_prepare(query)
            for labels in columns(cur, query, ("py_rep_s",)):
                assert labels == ["big" if x > 5 else "small" for x in XS]
            ddl(two, "CREATE OR REPLACE SEGMENT SET py_rep_s ('tiny' WHEN x < 0.5, ELSE 'rest')")
            for labels in columns(cur, query, ("py_rep_s",)):
                assert labels == ["tiny" if x < 0.5 else "rest" for x in XS]


def test_view_follows_a_segment_set_replaced_by_another_connection(server):
    with connect(server) as one, connect(server) as two:
        ddl(one, "CREATE OR REPLACE SEGMENT SET py_view_s ('big' WHEN x > 5, ELSE 'small')")
        ddl(
            one,
            "CREATE OR REPLACE VIEW py_view_v AS "
            f"SELECT id, segment_of('py_view_s') AS s FROM {POINTS}",
        )
        with one.cursor() as cur:
            (labels,) = columns(cur, "SELECT s FROM py_view_v ORDER BY id")
        assert labels == ["big" if x > 5 else "small" for x in XS]
        ddl(two, "CREATE OR REPLACE SEGMENT SET py_view_s ('odd' WHEN id % 2 = 1, ELSE 'even')")
        for conn in (one, two):
            with conn.cursor() as cur:
                (labels,) = columns(cur, "SELECT s FROM py_view_v ORDER BY id")
            assert labels == ["odd" if i % 2 else "even" for i in IDS]


def make_certificate(directory):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    import ipaddress

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path = directory / "cert.pem"
    key_path = directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_tls_connection(lake, users, tmp_path):
    cert, key = make_certificate(tmp_path)
    s = Server(
        "--lake", str(lake), "--users", str(users[0]),
        "--tls-cert", str(cert), "--tls-key", str(key),
    )
    try:
        with flight_sql.connect(
            uri(s, "grpc+tls"),
            db_kwargs={
                "username": "ana",
                "password": "ana-pw",
                DatabaseOptions.TLS_ROOT_CERTS.value: cert.read_text(),
            },
            autocommit=True,
        ) as conn:
            assert scalar(conn, "SELECT count(*) FROM customers") == CUSTOMERS
    finally:
        s.stop()


def test_flightsql_dbapi_through_sqlalchemy(server):
    sqlalchemy = pytest.importorskip("sqlalchemy")
    engine = sqlalchemy.create_engine(
        f"datafusion://ana:ana-pw@127.0.0.1:{server.port}?insecure=true"
    )
    names = sqlalchemy.inspect(engine).get_table_names()
    assert "orders" in names, names
    with engine.connect() as conn:
        n = conn.execute(sqlalchemy.text("SELECT count(*) FROM customers")).scalar()
    assert n == CUSTOMERS


def test_users_command_errors_are_clear(tmp_path):
    path = tmp_path / "users.toml"
    done = subprocess.run(
        [BIN, "users", "add", "x", "--role", "admin", "--users", str(path)],
        input="pw\n", capture_output=True, text=True,
    )
    assert done.returncode != 0 and "admin" in done.stderr
    done = subprocess.run(
        [BIN, "users", "token", "nobody", "--users", str(path)],
        capture_output=True, text=True,
    )
    assert done.returncode != 0 and str(path) in done.stderr
    done = subprocess.run(
        [BIN, "serve", "--lake", str(tmp_path), "--users", str(path)],
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode != 0 and "users add" in done.stderr


class ClusterProcess:
    """A `microseg cluster …` process, stopped with SIGTERM."""

    def __init__(self, *args):
        self.log = open(Path(os.environ.get("TMPDIR", "/tmp")) / f"microseg-cluster-{free_port()}.log", "w+")
        self.proc = subprocess.Popen(
            [BIN, "cluster", *args], stdout=self.log, stderr=subprocess.STDOUT, text=True
        )
        deadline = time.time() + 60
        while "ready" not in self.output():
            if self.proc.poll() is not None or time.time() > deadline:
                self.stop()
                raise AssertionError(f"microseg cluster {args} did not start:\n{self.output()}")
            time.sleep(0.1)

    def output(self):
        self.log.flush()
        return Path(self.log.name).read_text()

    def stop(self):
        self.proc.terminate()
        try:
            assert self.proc.wait(timeout=20) == 0, self.output()
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            self.log.close()


def test_serve_cluster_answers_as_the_local_server(server, lake, users):
    """`serve --cluster`: an ADBC client gets the local server's answers,
    prepared statements and our functions included, executed on one
    scheduler and two executors."""
    scheduler = f"127.0.0.1:{free_port()}"
    processes = [ClusterProcess("scheduler", "--bind", scheduler)]
    try:
        for _ in range(2):
            processes.append(
                ClusterProcess(
                    "executor", "--scheduler", scheduler,
                    "--bind", f"127.0.0.1:{free_port()}", "--grpc-port", str(free_port()),
                    "--concurrent-tasks", "2",
                )
            )
        remote = Server(
            "--lake", str(lake), "--users", str(users[0]),
            "--target-partitions", "4", "--cluster", f"df://{scheduler}",
        )
        try:
            queries = [
                ("SELECT segment, count(*) AS n FROM rfm(orders, customer_id, order_ts, amount) "
                 "GROUP BY segment ORDER BY segment", None),
                ("SELECT c.city, count(DISTINCT o.customer_id) AS buyers, sum(o.amount) AS revenue "
                 "FROM orders o JOIN customers c USING (customer_id) GROUP BY c.city ORDER BY c.city", None),
                ("SELECT count(*) AS n, sum(amount) AS s FROM orders WHERE channel = $1", ["web"]),
            ]
            with connect(server) as here, connect(remote) as there:
                for sql, params in queries:
                    want = columns_of(here, sql, params)
                    got = columns_of(there, sql, params)
                    assert got == want, sql
                    assert len(next(iter(want.values()))) >= 1, sql
            # The answers came from the cluster: without it the server fails.
            while processes:
                processes.pop().stop()
            with connect(remote) as there:
                with pytest.raises(Exception) as refused:
                    columns_of(there, queries[0][0], None)
            assert scheduler in str(refused.value), str(refused.value)
        finally:
            remote.stop()
    finally:
        while processes:
            processes.pop().stop()


def columns_of(conn, sql, params):
    with conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetch_arrow_table().to_pydict()
