"""The web UI in a real browser: headless Chromium (Debian's `chromium`, driven by Playwright for
Python through `executable_path`) against `ferry up`, with flows deployed and run by the test.

Covers: the deployments page with schedules; a 50-wide foreach run whose fan-out step turns from
running to succeeded while the page is watched (and how long the page takes to show it); a
failed run with its failing step, error and log; `<script>` in a parameter value and a tag shown
as text; the runs list's filters and search; no console errors. Screenshots of every page go to
target/ui-screenshots (scripts/ui-screenshot copies the run page's into docs/).

Needs FERRY_BIN_DIR and FERRY_TOOLS as scripts/test sets them, /usr/bin/chromium and the
playwright package (scripts/setup-tools installs both). A missing one is a failure, not a skip.
"""

import json
import os
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import ROOT
from test_embedded_stack import FLOWS, Stack

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path(os.environ.get("FERRY_UI_SCREENSHOTS", ROOT / "target" / "ui-screenshots"))
XSS_PARAM = "<script>window.__ferry_xss = 'param'</script><img src=x onerror=\"window.__ferry_xss='img'\">"
XSS_TAG = "<script>window.__ferry_xss='tag'</script>"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    s = Stack(tmp_path_factory.mktemp("ferry-ui") / "home")
    yield s
    s.stop()


@pytest.fixture(scope="module")
def browser():
    assert CHROMIUM.exists(), f"{CHROMIUM} missing: run scripts/setup-tools (apt-get install chromium)"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture()
def page(browser):
    """A page that records console errors, page errors and dialogs; the test fails on any."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = ctx.new_page()
    problems = []
    pg.on(
        "console",
        lambda m: problems.append(f"console {m.type}: {m.text} ({m.location.get('url')})") if m.type == "error" else None,
    )
    pg.on("pageerror", lambda e: problems.append(f"page error: {e}"))

    def on_dialog(d):
        problems.append(f"dialog: {d.message}")
        d.dismiss()

    pg.on("dialog", on_dialog)
    yield pg
    injected = pg.evaluate("() => window.__ferry_xss === undefined ? null : String(window.__ferry_xss)")
    ctx.close()
    assert injected is None, f"a value ran as script: {injected}"
    assert not problems, "\n".join(problems)


def shot(page, name, full_page=True):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=full_page)


def ui(stack, path=""):
    return f"{stack.url}/ui/{path}"


def api(stack, path):
    with urllib.request.urlopen(f"{stack.url}/ui/api/{path}", timeout=30) as r:
        return json.loads(r.read())


@pytest.fixture(scope="module")
def deployed(stack):
    stack.deploy("ui_foreach_flow.py")
    out = stack.ferry("deploy", FLOWS / "ui_fail_flow.py").stdout
    assert "pushed" in out, out
    return stack


@pytest.fixture(scope="module")
def failed_run(deployed):
    run_id = deployed.trigger("ui_fail_flow.py")
    st = deployed.wait(run_id)
    assert st["status"] == "FAILED", st
    return run_id


def test_deployments_page_lists_flows_with_their_schedules(deployed, failed_run, page):
    page.goto(ui(deployed))
    row = page.locator('tr[data-deployment="UiForeachFlow"]')
    row.wait_for()
    assert row.locator("[data-schedule]").inner_text() == "cron(0 10 * * ? *) Europe/Paris"
    next_fire = row.locator("[data-next-fire]").inner_text()
    assert next_fire.startswith("next: ") and next_fire.endswith((" CET", " CEST")) and " 10:00 " in next_fire, next_fire
    fail_row = page.locator('tr[data-deployment="UiFailFlow"]')
    assert "ferry trigger" in fail_row.inner_text(), "no schedule or trigger: started by hand"
    fail_row.locator('.strip a[data-status="failed"]').wait_for()
    shot(page, "deployments")
    # The recent-runs strip links to the run page.
    fail_row.locator(".strip a").first.click()
    page.locator("#failure").wait_for()
    assert f"/ui/runs/UiFailFlow/{failed_run}" in page.url


def test_failed_run_shows_the_failing_step_its_error_and_its_log(deployed, failed_run, page):
    page.goto(ui(deployed, f"runs/UiFailFlow/{failed_run}"))
    failure = page.locator("#failure")
    failure.wait_for()
    assert failure.locator("[data-failing-step]").inner_text() == "check"
    assert "States.TaskFailed" in failure.locator(".failure-error").inner_text()
    log = failure.locator("pre.failure-log")
    text = log.inner_text()
    assert "ValueError: check failed: <b>bad</b> input" in text, text
    assert log.locator("b").count() == 0, "log text is never parsed as HTML"
    assert page.locator('[data-step="check"]').get_attribute("data-status") == "failed"
    assert page.locator('[data-step="start"]').get_attribute("data-status") == "succeeded"
    assert page.locator('[data-step="end"]').get_attribute("data-status") == "pending"
    # The failure comes before the graph.
    assert page.evaluate("() => document.querySelector('#failure').compareDocumentPosition(document.querySelector('svg.dag')) & Node.DOCUMENT_POSITION_FOLLOWING") > 0
    shot(page, "run-failed")
    # The failed task's page: its stderr through the `ferry logs` reader, attempts, metadata.
    failure.locator(".failure-head a").click()
    page.locator('button[data-stream="stderr"]').click()
    page.wait_for_function("() => document.querySelector('#log').dataset.stream === 'stderr' && document.querySelector('#log').textContent.includes('check failed')")
    assert "ValueError: check failed: <b>bad</b> input" in page.locator("#log").inner_text()
    assert page.locator("table.metadata").inner_text().count("attempt") >= 1
    shot(page, "task-failed")
    logs = deployed.ferry("logs", f"UiFailFlow/{failed_run}/check", "--stderr").stdout
    assert "check failed: <b>bad</b> input" in logs, "the page shows what `ferry logs` prints"


def test_a_wide_foreach_is_watched_from_running_to_succeeded(deployed, page):
    run_id = deployed.trigger(
        "ui_foreach_flow.py", "--width", "50", "--pause", "1.5", f"--note={XSS_PARAM}", "--tag", XSS_TAG
    )
    page.goto(ui(deployed, f"runs/UiForeachFlow/{run_id}/fan"))
    fan = page.locator('[data-step="fan"]')
    page.locator('[data-step="fan"][data-status="running"]').wait_for(timeout=600_000)
    for step in ["start", "fan", "gather", "end"]:
        assert page.locator(f'[data-step="{step}"]').count() == 1, step
    shot(page, "run-running")
    # Watch the fan-out finish: the API (polled here every 100 ms) and the page must agree
    # within 2 s of each other.
    api_at = page_at = None
    deadline = time.time() + 900
    while time.time() < deadline and (api_at is None or page_at is None):
        now = time.time()
        if api_at is None and api(deployed, f"runs/UiForeachFlow/{run_id}")["steps"]["fan"]["status"] == "succeeded":
            api_at = now
        if page_at is None and fan.get_attribute("data-status") == "succeeded":
            page_at = now
        time.sleep(0.1)
    assert api_at and page_at, "fan never finished"
    lag = page_at - api_at
    print(f"page showed fan succeeded {lag:.2f}s after the API did")
    assert lag < 2.0, f"the page lagged {lag:.2f}s"
    assert fan.get_attribute("data-tasks") == "50"
    page.locator('#run-status [data-status="succeeded"]').wait_for(timeout=600_000)
    page.locator('[data-step="end"][data-status="succeeded"]').wait_for()
    # The step's tasks, paged: all 50 on one page of 100, each succeeded.
    page.wait_for_function("() => document.querySelectorAll('table.tasks tr[data-task]').length === 50")
    assert page.locator('table.tasks tr[data-state="succeeded"]').count() == 50
    assert "× 50 tasks" in fan.text_content()
    # Parameters and tags holding markup render as text.
    assert page.locator('tr[data-parameter="note"] td.value').inner_text() == XSS_PARAM
    assert page.locator("tr[data-parameter] img").count() == 0
    assert page.locator(f".tags .chip[data-tag]").inner_text() == XSS_TAG
    assert page.locator(".tags script").count() == 0
    shot(page, "run-foreach-full")
    page.evaluate("() => window.scrollTo(0, 0)")
    shot(page, "run-foreach", full_page=False)
    # A task of the fan-out: its stdout, its artifacts with types and sizes.
    page.locator("table.tasks a").first.click()
    page.wait_for_function("() => document.querySelector('#log').textContent.includes('squared is')")
    arts = page.locator("table.artifacts").inner_text()
    assert "square" in arts and "int" in arts, arts
    shot(page, "task")


def test_runs_list_filters_and_searches(deployed, failed_run, page):
    page.goto(ui(deployed, "runs?status=failed"))
    page.locator(f'tr[data-run="{failed_run}"]').wait_for()
    assert page.locator("tr[data-run]").count() == 1
    shot(page, "runs")
    page.goto(ui(deployed, "runs?deployment=UiForeachFlow"))
    page.locator("table.runs").wait_for()
    assert page.locator(f'tr[data-run="{failed_run}"]').count() == 0
    # Search by run id (a part of it), then by pathspec: a deep link.
    page.fill("#search input", failed_run[4:12])
    page.press("#search input", "Enter")
    page.locator(f'tr[data-run="{failed_run}"]').wait_for()
    page.fill("#search input", f"UiFailFlow/{failed_run}/check")
    page.press("#search input", "Enter")
    page.locator("#failure").wait_for()
    assert page.url.endswith(f"/ui/runs/UiFailFlow/{failed_run}/check")
    page.locator('table.tasks tr[data-state="failed"]').wait_for()
