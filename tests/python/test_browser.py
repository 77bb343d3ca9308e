"""Issue 19 in a real browser: `microseg report`'s file and `serve --http`'s
live pages, loaded by Debian's Chromium through Playwright (pointed at
/usr/bin/chromium, never a browser download).

Checked: every page loads with zero console errors, every chart has drawn
marks, the numbers drawn equal an independent DuckDB computation over the
lake's Parquet files (rfm_reference.py's SQL for the segments and the R-F
grid, plain SQL for retention and the lift's send counts), login is
required, a reader cannot reach customer-level rows, and a partial lake
says what to run. Screenshots go to target/browser-artifacts/.
"""

import json
import os
import shutil
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import duckdb
import pytest

from rfm_reference import SQL as RFM_SQL
from test_flight_sql import Server, free_port, run

CUSTOMERS = 400
MIN = 10
CHROMIUM = os.environ.get("MICROSEG_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "target" / "browser-artifacts"

PRIVACY = f"""
[privacy]
public_tables = ["products", "stores"]
[privacy.roles.reader]
min_group_size = {MIN}
"""


def sql(lake, text):
    return run("sql", "--lake", str(lake), "-q", "-c", text)


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    out = tmp_path_factory.mktemp("browser") / "lake"
    run("generate", "--customers", str(CUSTOMERS), "--seed", "19", "--out", str(out), "--no-sources")
    (out / "microseg.toml").write_text(PRIVACY)
    job = Path(__file__).resolve().parents[2] / "sql" / "jobs" / "daily_segments.toml"
    for day in ["2026-09-30", "2026-10-31"]:
        run("materialize", "--lake", str(out), str(job), "--as-of", day)
    summary = "clv_summary(orders, customer_id, order_ts, amount, DATE '2026-11-01')"
    sql(
        out,
        "CREATE MODEL clusters OPTIONS (model_type 'kmeans', num_clusters 4, seed 42, n_init 2) "
        "AS SELECT recency_days, frequency, monetary FROM rfm(orders, customer_id, order_ts, amount);"
        f"CREATE MODEL purchases OPTIONS (model_type 'bgnbd') AS SELECT frequency, recency, T FROM {summary};"
        f"CREATE MODEL spend OPTIONS (model_type 'gamma_gamma') AS SELECT frequency, monetary_value FROM {summary} "
        "WHERE frequency > 0 AND monetary_value > 0;",
    )
    return out


@pytest.fixture(scope="module")
def duck(lake):
    con = duckdb.connect()
    for table in ["orders", "campaign_sends"]:
        con.execute(
            f"CREATE VIEW {table} AS SELECT * FROM read_parquet('{lake}/{table}/**/*.parquet', hive_partitioning=true)"
        )
    con.execute(f"CREATE TABLE rfm AS {RFM_SQL.format(lake=lake)}")
    return con


@pytest.fixture(scope="module")
def report_file(lake):
    out = lake.parent / "report.html"
    done = subprocess.run(
        [os.environ.get("MICROSEG_BIN", "target/debug/microseg"), "report", "--lake", str(lake), "--out", str(out)],
        capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(out)
    assert "report: " in done.stderr and "wrote " in done.stderr, done.stderr
    return out


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), f"{CHROMIUM} missing: apt-get install -y chromium (.ci/run does)"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture(scope="module")
def server(lake):
    users = lake.parent / "users.toml"
    run("users", "add", "ana", "--role", "analyst", "--users", str(users), stdin="ana-pw\n")
    run("users", "add", "rita", "--role", "reader", "--users", str(users), stdin="rita-pw\n")
    port = free_port()
    s = Server("--lake", str(lake), "--users", str(users), "--http", f"127.0.0.1:{port}")
    s.base = f"http://127.0.0.1:{port}"
    yield s
    s.stop()


class Page:
    """A page that records console errors and uncaught exceptions."""

    def __init__(self, context):
        self.page = context.new_page()
        self.errors = []
        self.requests = []
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def open(self, url):
        self.page.goto(url)
        return self.drawn()

    def drawn(self):
        self.page.wait_for_function("document.body.dataset.rendered !== undefined", timeout=60000)
        assert self.page.evaluate("document.body.dataset.rendered") == "true"
        assert self.errors == [], self.errors
        charts = self.page.evaluate("Object.keys(window.microsegViews)")
        for chart in charts:
            marks = self.page.locator(f"#chart-{chart} svg .role-mark > *").count()
            assert marks > 0, f"chart {chart} drew no marks"
        return charts

    def data(self, chart):
        return self.page.evaluate(f"window.microsegViews[{json.dumps(chart)}].data('table')")

    def shot(self, name):
        self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def login(browser, server, user, password):
    context = browser.new_context()
    page = Page(context)
    page.page.goto(server.base + "/login")
    page.page.fill("#user", user)
    page.page.fill("#password", password)
    page.page.click("#login")
    page.page.wait_for_url("**/report")
    return context, page


def by(rows, key):
    return {r[key]: r for r in rows}


def check_segments(page, duck):
    want = duck.execute(
        "SELECT segment, count(*), sum(monetary)::DOUBLE FROM rfm GROUP BY segment"
    ).fetchall()
    got = by(page.data("segment-sizes"), "segment")
    assert sorted(got) == sorted(w[0] for w in want)
    for segment, customers, revenue in want:
        assert got[segment]["customers"] == customers, segment
        assert abs(got[segment]["revenue"] - revenue) < 0.01, segment
    grid = {(r["r"], r["f"]): r["customers"] for r in page.data("rfm-grid")}
    want_grid = dict(((r, f), n) for r, f, n in duck.execute("SELECT r, f, count(*) FROM rfm GROUP BY r, f").fetchall())
    assert grid == want_grid


RETENTION = """
WITH o AS (SELECT customer_id, order_ts FROM orders WHERE status <> 'cancelled' AND order_ts < TIMESTAMP '{day}'),
first AS (SELECT customer_id, date_trunc('week', min(order_ts)) AS cohort_week FROM o GROUP BY customer_id),
recent AS (SELECT * FROM first WHERE cohort_week >= TIMESTAMP '{day}' - INTERVAL 84 DAY)
SELECT strftime(f.cohort_week, '%Y-%m-%d') AS cohort_week,
       date_diff('week', f.cohort_week, date_trunc('week', o.order_ts)) AS weeks_after,
       count(DISTINCT o.customer_id)
FROM o JOIN recent f USING (customer_id) GROUP BY ALL
"""


def check_behaviour(page, duck):
    day = duck.execute("SELECT (max(order_ts)::DATE + 1)::VARCHAR FROM orders").fetchone()[0]
    got = {(r["cohort_week"], r["weeks_after"]): r["active_customers"] for r in page.data("retention")}
    want = {(c, w): n for c, w, n in duck.execute(RETENTION.format(day=day)).fetchall()}
    assert got == want
    lift = by(page.data("lift"), "segment")
    want = duck.execute(
        "SELECT coalesce(r.segment, 'no_orders'), count(*) FILTER (variant = 'treatment'), count(*) FILTER (variant = 'holdout') "
        "FROM campaign_sends s LEFT JOIN rfm r USING (customer_id) GROUP BY 1"
    ).fetchall()
    for segment, treatment, holdout in want:
        if treatment and holdout:
            assert (lift[segment]["treatment_sends"], lift[segment]["holdout_sends"]) == (treatment, holdout), segment
    total = duck.execute("SELECT count(*) FILTER (variant = 'treatment') FROM campaign_sends").fetchone()[0]
    assert lift["(all)"]["treatment_sends"] == total


def test_report_file_draws_every_chart_with_the_sql_numbers(report_file, browser, duck):
    assert report_file.stat().st_size < 5 * 1024 * 1024
    page = Page(browser.new_context())
    charts = page.open(report_file.as_uri())
    assert all(u.startswith(("file://", "data:")) for u in page.requests), page.requests
    assert {"segment-sizes", "segment-revenue", "rfm-grid", "centroids-clusters", "cluster-sizes-clusters",
            "clv-distribution", "clv-by-segment", "funnel", "retention", "migration", "lift"} <= set(charts)
    for figure in page.page.locator("figure.chart").all():
        assert figure.locator("h3").inner_text().strip()
        assert figure.locator(".units").inner_text().startswith("Units: ")
        assert figure.locator(".reading").inner_text().strip().endswith(".")
        assert "SELECT" in figure.locator("pre.sql").text_content()
    assert page.page.locator(".missing").count() == 0
    check_segments(page, duck)
    check_behaviour(page, duck)
    page.shot("report-file")


def test_login_is_required(server, browser):
    page = Page(browser.new_context())
    for path in ["/report", "/explorer", "/sql"]:
        page.page.goto(server.base + path)
        assert page.page.url.endswith("/login"), path
    page.page.fill("#user", "ana")
    page.page.fill("#password", "wrong")
    page.page.click("#login")
    assert page.page.locator("#login-error").inner_text() == "Invalid user or password."
    # A POST without a session goes to the login page; with a session but without the token it is refused.
    request = urllib.request.Request(server.base + "/sql", data=b"sql=SELECT+1&csrf=x", method="POST")
    opener = urllib.request.build_opener(NoRedirect)
    with pytest.raises(urllib.error.HTTPError) as e:
        opener.open(request)
    assert e.value.code == 303 and e.value.headers["location"] == "/login"
    context, page = login(browser, server, "ana", "ana-pw")
    cookie = next(c for c in context.cookies() if c["name"] == "microseg_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and not cookie["secure"]
    forged = urllib.request.Request(
        server.base + "/sql", data=b"sql=SELECT+1&csrf=forged", method="POST",
        headers={"Cookie": f"microseg_session={cookie['value']}"},
    )
    with pytest.raises(urllib.error.HTTPError) as e:
        opener.open(forged)
    assert e.value.code == 403
    page.page.click("text=Log out")
    page.page.wait_for_url("**/login")
    page.page.goto(server.base + "/report")
    assert page.page.url.endswith("/login")


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def test_live_pages_as_analyst(server, browser, duck):
    context, page = login(browser, server, "ana", "ana-pw")
    page.drawn()
    check_segments(page, duck)
    check_behaviour(page, duck)
    page.shot("live-report")
    assert all(u.startswith((server.base, "data:")) for u in page.requests), page.requests
    charts = page.open(server.base + "/explorer")
    assert {"explorer-sizes", "explorer-profile", "explorer-products", "explorer-trend"} <= set(charts)
    largest = page.data("explorer-sizes")[0]["segment"]
    profile = by(page.data("explorer-profile"), "metric")
    want = duck.execute(
        f"SELECT avg(frequency), avg(monetary)::DOUBLE, avg(recency_days) FROM rfm WHERE segment = '{largest}'"
    ).fetchone()
    assert abs(profile["frequency"]["segment_value"] - want[0]) < 0.01
    assert abs(profile["monetary"]["segment_value"] - want[1]) < 0.01
    assert abs(profile["recency_days"]["segment_value"] - want[2]) < 0.01
    page.shot("explorer")
    page.page.select_option("#by", "model:clusters")
    page.page.click("#explorer-form button")
    page.drawn()
    page.shot("explorer-model")
    page.open(server.base + "/sql")
    page.page.fill("#sql", "SELECT status, count(*) AS orders FROM orders GROUP BY status ORDER BY status")
    page.page.check("input[value=chart]")
    page.page.click("#run")
    assert "sql-chart" in page.drawn()
    want = dict(duck.execute("SELECT status, count(*) FROM orders GROUP BY status").fetchall())
    assert {r["status"]: r["orders"] for r in page.data("sql-chart")} == want
    page.shot("sql-chart")
    page.page.check("input[value=table]")
    page.page.click("#run")
    page.drawn()
    assert page.page.locator("#row-count").inner_text() == f"{len(want)} rows"
    context.close()


def test_reader_sees_aggregates_only(server, browser, duck):
    context, page = login(browser, server, "rita", "rita-pw")
    page.drawn()
    assert page.page.locator("#whoami").inner_text() == "rita (reader)"
    for row in page.data("segment-sizes"):
        assert row["customers"] >= MIN
    page.shot("live-report-reader")
    page.open(server.base + "/sql")
    for attempt in [
        "SELECT customer_id, email FROM customers",
        "SELECT * FROM customers LIMIT 5",
        "SELECT customer_id, monetary FROM rfm(orders, customer_id, order_ts, amount)",
    ]:
        page.page.fill("#sql", attempt)
        page.page.click("#run")
        page.drawn()
        assert "privacy rule" in page.page.locator("#sql-error").inner_text(), attempt
        assert page.page.locator("#result-table").count() == 0
    page.page.fill("#sql", "SELECT city, count(*) AS customers FROM customers GROUP BY city")
    page.page.click("#run")
    page.drawn()
    cells = page.page.locator("#result-table tr td:nth-child(2)").all_inner_texts()
    assert cells and all(int(c) >= MIN for c in cells)
    page.open(server.base + "/explorer")
    page.shot("explorer-reader")
    context.close()


def test_report_on_a_partial_lake_says_what_to_run(tmp_path, browser):
    lake = tmp_path / "lake"
    run("generate", "--customers", "200", "--seed", "3", "--out", str(lake), "--no-sources")
    for table in ["events", "campaign_sends"]:
        shutil.rmtree(lake / table)
    out = tmp_path / "partial.html"
    run("report", "--lake", str(lake), "--out", str(out))
    page = Page(browser.new_context())
    charts = page.open(out.as_uri())
    assert {"segment-sizes", "rfm-grid", "retention"} <= set(charts)
    missing = " ".join(page.page.locator(".missing").all_inner_texts())
    assert "CREATE MODEL clusters OPTIONS (model_type 'kmeans'" in missing
    assert "model_type 'bgnbd'" in missing
    assert "microseg materialize --lake LAKE sql/jobs/daily_segments.toml" in missing
    assert "No `events` table" in missing and "campaign_sends" in missing
    page.shot("report-partial")
    # Asking for what the lake lacks is an error naming the option.
    done = subprocess.run(
        [os.environ.get("MICROSEG_BIN", "target/debug/microseg"), "report", "--lake", str(lake), "--out", str(out),
         "--model", "nope"],
        capture_output=True, text=True, timeout=600,
    )
    assert done.returncode != 0 and "--model nope: no such model" in done.stderr
    done = subprocess.run(
        [os.environ.get("MICROSEG_BIN", "target/debug/microseg"), "report", "--lake", str(lake), "--out", str(out),
         "--segments", "nope"],
        capture_output=True, text=True, timeout=600,
    )
    assert done.returncode != 0 and "--segments nope: neither a segment set" in done.stderr
