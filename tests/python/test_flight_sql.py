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
