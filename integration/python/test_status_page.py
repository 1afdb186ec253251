"""The status page in a real browser: Debian's Chromium, driven by Playwright.

`skein serve --http-addr 127.0.0.1:0` logs where it serves HTTP; the page
there, opened with the Flight user's credentials on a phone-sized screen,
lists both executors and a query just run, and the query's page shows its
plan, its tasks on both executors and their timeline. Without credentials
the page is refused; /metrics is open to scrapers.
"""

import json
import os
import time
import urllib.error
import urllib.request
import uuid

import pytest
from playwright.sync_api import sync_playwright

from conftest import PASSWORD, USER

CHROMIUM = os.environ.get("SKEIN_CHROMIUM", "/usr/bin/chromium")
# Playwright's own browser builds are never downloaded: Debian's Chromium,
# with nothing that reaches the network by itself.
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PHONE = {"width": 390, "height": 844}


def http_url(srv):
    """The base URL the server logged for its --http-addr listener."""
    for line in srv.stderr_text().splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("message") == "http serving":
            return entry["url"]
    pytest.fail("the server did not log its HTTP address:\n" + srv.stderr_text()[-3000:])


def wait_for(cond, what, timeout=20.0):
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.2)


@pytest.fixture
def status_server(skein_factory, data_root):
    return skein_factory(allow_dirs=[data_root],
                         extra_args=["--http-addr", "127.0.0.1:0", "--log-level", "info",
                                     "--task-rows", "20000"])


def test_metrics_open_page_needs_credentials(status_server):
    base = http_url(status_server)
    assert base.startswith("http://127.0.0.1:") and not base.endswith(":0"), base
    with urllib.request.urlopen(base + "/metrics", timeout=10) as r:
        text = r.read().decode()
    assert "skein_cluster_executors{state=\"live\"} 2" in text, text[:2000]
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(base + "/api/cluster", timeout=10)
    assert refused.value.code == 401
    assert refused.value.headers["WWW-Authenticate"].startswith("Basic ")


def test_status_page_shows_cluster_and_query(status_server, data_root):
    base = http_url(status_server)
    marker = "m" + uuid.uuid4().hex[:12]
    sql = (f"SELECT grp, count(*) AS n, '{marker}' AS tag FROM read_parquet('{data_root}/pq/*.parquet') "
           "GROUP BY grp ORDER BY grp")
    with status_server.connect() as conn, conn.cursor() as cur:
        cur.execute(sql)
        assert len(cur.fetchall()) == 7

        def finished():
            cur.execute("SELECT query_id, mode, tasks, status FROM skein.queries "
                        "WHERE position(? IN sql) > 0 AND mode <> 'local'", (marker,))
            row = cur.fetchone()
            return row if row and row[3] != "running" else None

        query_id, mode, tasks, state = wait_for(finished, "the query to end in skein.queries")
    assert state == "ok" and mode in ("stages", "scatter-merge") and tasks >= 2, (mode, tasks, state)

    console = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS, headless=True)
        try:
            # Without credentials the browser is asked for them (a
            # headless one cannot answer: the navigation fails).
            stranger = browser.new_context(viewport=PHONE)
            assert stranger.request.get(base + "/").status == 401
            with pytest.raises(Exception, match="AUTH"):
                stranger.new_page().goto(base + "/")
            stranger.close()

            ctx = browser.new_context(viewport=PHONE, http_credentials={"username": USER, "password": PASSWORD})
            page = ctx.new_page()
            page.on("console", lambda m: console.append(f"{m.type}: {m.text}") if m.type == "error" else None)
            page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
            assert page.goto(base + "/").status == 200

            # Both executors, live, and the query just run.
            page.wait_for_selector("#executors .executor")
            cards = page.locator("#executors .executor")
            assert cards.count() == 2
            for i in range(2):
                assert "live" in cards.nth(i).inner_text()
            row = page.locator(f'tr.query[data-query-id="{query_id}"]')
            row.wait_for()
            assert "ok" in row.inner_text()
            assert marker in page.locator(f'tr.sqlrow[data-query-id="{query_id}"]').inner_text()
            # Readable on a phone: nothing wider than the screen but the
            # tables, which scroll within themselves.
            assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

            screenshots = os.environ.get("BUILD_DIR")
            if screenshots:
                page.screenshot(path=os.path.join(screenshots, "status-page.png"), full_page=True)

            # The query's page: its SQL, plan and tasks.
            row.locator("a").click()
            page.wait_for_url(f"**/queries/{query_id}")
            page.wait_for_selector("#tasks tr.task")
            assert marker in page.locator("#sql").inner_text()
            task_rows = page.locator("#tasks tr.task")
            assert task_rows.count() >= tasks
            executors = set()
            for i in range(task_rows.count()):
                cells = task_rows.nth(i).locator("td")
                status, executor = cells.nth(3).inner_text(), cells.nth(4).inner_text()
                # A small last stage's tasks are done by the coordinator's
                # merge: shown as such, never as unreported.
                assert status == "ok" or (status, executor) == ("merged", "coordinator"), (status, executor)
                if status == "ok":
                    executors.add(executor)
            assert len(executors) == 2, executors
            if mode == "stages":
                assert page.locator("#stages tr.stage").count() >= 2
            assert page.locator("#timeline .bar").count() == task_rows.count()
            assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
            if screenshots:
                page.screenshot(path=os.path.join(screenshots, "status-page-query.png"), full_page=True)
            ctx.close()
        finally:
            browser.close()
    assert not console, console
