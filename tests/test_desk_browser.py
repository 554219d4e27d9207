"""The desk in a real browser (Debian's Chromium driven by Playwright) against a real Dagster webserver and daemon
on a copy of the demo instance: each of the six pages renders its content with no Streamlit exception, and a
what-if proposal launched from the Research page and approved there runs as Dagster runs whose status the desk
shows and Dagster confirms.

Screenshots of the six pages go to $MERIDIAN_SHOTS (default: a temporary directory)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from tests.desk_world import ROOT, demo_home, desk_env

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
BIN = Path(sys.executable).parent
RUN_TIMEOUT_S = 600  # a run launched from the desk: queue, code-location load, pool, the job itself
PAGE_TIMEOUT_MS = 120_000

pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400),
              pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's Chromium (/usr/bin/chromium) is not "
                                                                  "installed: `apt-get install chromium`")]

# url path (the default page is the root), headline, texts the page must show (its last section included, so
# the whole script has run)
PAGES = [
    ("", "ULTRON · The Network", ["NAV", "YTD", "since inception", "Drawdown", "Positions", "VIX",
                                  "ULTRON is offline"]),
    ("research", "Research", ["Propose a what-if rebalance (", "Approve proposal", "Top/bottom 30",
                              "Candidates", "sh waits"]),
    ("risk", "Risk", ["Daily loss (size down)", "Drawdown (kill switch)", "Marginal contribution to risk",
                      "Alerts (last 3 sessions)", "Stress scenarios"]),
    ("performance", "Performance", ["Equity vs SPY", "Win/loss", "Turnover and tax", "Commentary"]),
    ("execution", "Execution", ["Filled (30d)", "No broker configured", "Short availability"]),
    ("letter", "Letter", ["MCP-IM-", "Regenerate letter", "Regenerate weekly PDF", "Download the weekly PDF"]),
]
NAV_TITLES = {"": "I · Portfolio", "research": "II · Research", "risk": "III · Risk",
              "performance": "IV · Performance", "execution": "V · Execution", "letter": "VI · Letter"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Servers:
    """The processes the desk needs, each in its own process group (killed as a group at teardown)."""

    def __init__(self, home: Path, env: dict[str, str]) -> None:
        self.home, self.env, self.procs = home, env, {}

    def start(self, name: str, argv: list[str]) -> None:
        log = open(self.home / f"{name}.log", "wb")
        self.procs[name] = subprocess.Popen(argv, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)

    def logs(self) -> str:
        return "\n".join(f"--- {n}.log\n" + (self.home / f"{n}.log").read_text(errors="replace")[-3000:]
                         for n in self.procs)

    def wait_http(self, name: str, url: str, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.procs[name].poll() is not None:
                pytest.fail(f"{name} exited with {self.procs[name].returncode}\n{self.logs()}")
            try:
                with urllib.request.urlopen(url, timeout=5) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(1)
        pytest.fail(f"{name} did not answer {url} within {timeout_s:.0f} s\n{self.logs()}")

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


@pytest.fixture(scope="module")
def desk(tmp_path_factory):
    """A copy of the demo instance (the desk's actions write it), its webserver and daemon (the instance queues
    runs: QueuedRunCoordinator), and the desk pointed at that webserver. Yields (desk url, home, dagster port,
    the servers)."""
    home = tmp_path_factory.mktemp("desk-browser") / "home"
    shutil.copytree(demo_home(), home)
    dagster_port, desk_port = free_port(), free_port()
    cfg_path = home / "meridian.yaml"
    cfg = yaml.safe_load(cfg_path.read_text()) or {}
    cfg.setdefault("desk", {}).update({"dagster_host": "127.0.0.1", "dagster_port": dagster_port})
    cfg_path.write_text(yaml.safe_dump(cfg))
    env = desk_env(home)
    for key in ("ANTHROPIC_API_KEY", "OPENAI_API_KEY"):
        env.pop(key, None)
    assert "QueuedRunCoordinator" in (home / "dagster" / "dagster.yaml").read_text()
    servers = Servers(home, env)
    try:
        servers.start("webserver", [str(BIN / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(dagster_port),
                                    "-w", "workspace.yaml"])
        servers.start("daemon", [str(BIN / "dagster-daemon"), "run", "-w", "workspace.yaml"])
        servers.start("desk", [str(BIN / "streamlit"), "run", "meridian_assets/desk/app.py", "--server.headless",
                               "true", "--server.address", "127.0.0.1", "--server.port", str(desk_port),
                               "--browser.gatherUsageStats", "false"])
        servers.wait_http("webserver", f"http://127.0.0.1:{dagster_port}/server_info", 300)
        servers.wait_http("desk", f"http://127.0.0.1:{desk_port}/_stcore/health", 120)
        yield f"http://127.0.0.1:{desk_port}", home, dagster_port, servers
    finally:
        servers.stop()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, timeout=60_000)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    context.set_default_timeout(PAGE_TIMEOUT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture(scope="module")
def shots() -> Path:
    path = Path(os.environ.get("MERIDIAN_SHOTS") or tempfile.mkdtemp(prefix="desk-shots-"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def settle(page, quiet_s: float = 3.0) -> None:
    """Wait until Streamlit has been idle for ``quiet_s`` (no status widget, no element still loading), then check
    there is no exception box and no dialog (e.g. "Page not found")."""
    deadline = time.monotonic() + PAGE_TIMEOUT_MS / 1000
    busy = ('[data-testid="stStatusWidget"], [data-testid="stSkeleton"], '
            '[data-stale="true"], .stPlotlyChart:not(:has(.main-svg))')
    idle_since = None
    while time.monotonic() < deadline:
        if page.locator(busy).count():
            idle_since = None
        elif idle_since is None:
            idle_since = time.monotonic()
        elif time.monotonic() - idle_since >= quiet_s:
            break
        time.sleep(0.5)
    else:
        pytest.fail(f"{page.url}: still running after {PAGE_TIMEOUT_MS / 1000:.0f} s")
    errors = page.locator('[data-testid="stException"]')
    assert errors.count() == 0, errors.first.inner_text()
    dialogs = page.get_by_role("dialog")
    assert dialogs.count() == 0, dialogs.first.inner_text()


def shoot(page, path: Path) -> None:
    """Screenshot the whole page. Streamlit scrolls inside its main section, so a full-page shot of the window is
    one screen: the viewport grows to the content's height first (bounded), then goes back."""
    page.mouse.move(0, 0)  # no hover tooltip over the page
    size = page.viewport_size
    height = page.evaluate("""() => Math.max(document.body.scrollHeight, ...Array.from(
        document.querySelectorAll('[data-testid="stMain"], [data-testid="stAppViewContainer"]'),
        e => e.scrollHeight))""")
    page.set_viewport_size({"width": size["width"], "height": min(max(height, size["height"]), 8000)})
    try:
        settle(page, quiet_s=1.5)
        page.screenshot(path=str(path), full_page=True)
    finally:
        page.set_viewport_size(size)


def open_page(page, base: str, path: str, headline: str) -> None:
    page.goto(f"{base}/{path}", wait_until="domcontentloaded")
    page.locator("div.headline", has_text=headline).wait_for()
    settle(page)


@pytest.mark.parametrize(("path", "headline", "texts"), PAGES, ids=[p[0] or "portfolio" for p in PAGES])
def test_page_renders(desk, page, shots, path, headline, texts):
    base = desk[0]
    open_page(page, base, path, headline)
    # a deep link runs app.py (its st.navigation), not the page file alone: the sidebar lists the six titles
    nav = page.locator('[data-testid="stSidebarNavLink"]')
    assert [t.strip() for t in nav.all_inner_texts()] == [NAV_TITLES[p[0]] for p in PAGES]
    for text in texts:
        page.get_by_text(text).first.wait_for()
    settle(page)
    shoot(page, shots / f"{path or 'portfolio'}.png")


def run_status(page, label: str, timeout_s: float, servers) -> tuple[str, str]:
    """Follow the desk's status line of the run labelled ``label`` until it ends: (status, run id)."""
    line = page.locator("div.strip", has_text=label).locator("span[data-run-id]").first
    deadline = time.monotonic() + timeout_s
    status = ""
    while time.monotonic() < deadline:
        if line.count():
            status = line.inner_text().strip()
            if status in ("SUCCESS", "FAILURE", "CANCELED"):
                return status, line.get_attribute("data-run-id")
        time.sleep(2)
    pytest.fail(f"{label}: still {status or 'not shown'} after {timeout_s:.0f} s\n{servers.logs()}")


def research(page, base: str, method: str) -> str:
    """Open Research on ``method`` and return the proposal's decision ('' when there is none)."""
    open_page(page, base, "research", "Research")
    page.locator('[data-testid="stRadioOption"]', has_text=method).click()
    page.get_by_role("button", name=f"Propose a what-if rebalance ({method})").wait_for()
    settle(page)
    decision = page.locator("[data-testid='decision']")
    return decision.inner_text().strip() if decision.count() else ""


def test_propose_and_approve(desk, page, shots):
    import dagster as dg
    from dagster._core.instance.ref import InstanceRef
    from dagster_graphql import DagsterGraphQLClient

    base, home, dagster_port, servers = desk
    method = "conviction"  # the demo's rebalances are decided and not conviction: a conviction what-if is new
    if research(page, base, method) != "PROPOSED":
        page.get_by_role("button", name=f"Propose a what-if rebalance ({method})").click()
        status, _ = run_status(page, f"Propose ({method})", RUN_TIMEOUT_S, servers)
        assert status == "SUCCESS", servers.logs()
        # the snapshot sensor (or the desk, seeing a stale copy) publishes the new proposal
        deadline = time.monotonic() + 300
        while research(page, base, method) != "PROPOSED":
            assert time.monotonic() < deadline, f"the proposal never reached the desk\n{servers.logs()}"
            time.sleep(5)
    strip = page.locator("div.strip", has_text="Proposal").first.inner_text()
    rebalance_id = re.search(r"rb-\d{8}-conviction-[0-9a-f]{8}", strip).group(0)

    # refuse one candidate on its card: the approval goes without it
    card = page.locator("[class*='st-key-card-']", has=page.get_by_role("radio", name="Reject")).first
    refused = card.get_attribute("class").split("st-key-card-")[1].split()[0]
    card.get_by_role("radio", name="Reject").click()
    page.locator("[data-testid='rejected']", has_text=refused).wait_for()
    settle(page)
    page.get_by_role("button", name="Approve proposal", exact=True).click()
    status, run_id = run_status(page, f"Approve {rebalance_id} without {refused}", RUN_TIMEOUT_S, servers)
    assert status == "SUCCESS", servers.logs()
    shoot(page, shots / "research-approved.png")

    client = DagsterGraphQLClient("127.0.0.1", port_number=dagster_port, timeout=30)
    assert client.get_run_status(run_id) == dg.DagsterRunStatus.SUCCESS
    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home / "dagster"))) as instance:
        run = instance.get_run_by_id(run_id)
    config = run.run_config["ops"]["position_approvals"]["config"]
    assert run.job_name == "portfolio_approve_job" and run.tags["meridian/source"] == "desk"
    assert (config["rebalance_id"], config["decision"], config["rejected_tickers"]) == (rebalance_id, "approve",
                                                                                       [refused])

    # the decision reaches the desk with the next snapshot (EXECUTED once the sensor's execution run lands);
    # the refused candidate's card reads REJECTED
    deadline = time.monotonic() + 300
    while (decision := research(page, base, method)) == "PROPOSED":
        assert time.monotonic() < deadline, f"the approval never reached the desk\n{servers.logs()}"
        time.sleep(5)
    assert decision in ("APPROVED", "EXECUTED")
    assert "REJECTED" in page.locator(f".st-key-card-{refused}").inner_text()


def test_regenerate_the_weekly_pdf(desk, page, shots):
    """Regenerate on the Letter page is a `reporting_weekly_job` run of the PDF's week, launched through GraphQL and
    followed to SUCCESS in the desk; the rebuilt PDF reaches the page with the next snapshot."""
    import dagster as dg
    from dagster._core.instance.ref import InstanceRef

    import datetime as dt

    from meridian_assets import dbread

    base, home, _, servers = desk
    with dbread.read_only(home / "meridian.duckdb") as conn:
        last = conn.execute("SELECT max(date) FROM portfolio_history").fetchone()[0]
    week = (last - dt.timedelta(days=last.weekday())).isoformat()  # the week of the book's latest session
    open_page(page, base, "letter", "Letter")
    built = page.locator("div.strip", has_text="pages").first.inner_text()
    page.get_by_role("button", name="Regenerate weekly PDF", exact=True).click()
    status, run_id = run_status(page, f"Regenerate the weekly PDF ({week})", RUN_TIMEOUT_S, servers)
    assert status == "SUCCESS", servers.logs()
    shoot(page, shots / "letter-regenerate-run.png")
    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home / "dagster"))) as instance:
        run = instance.get_run_by_id(run_id)
    assert run.job_name == "reporting_weekly_job" and run.tags["dagster/partition"] == week
    assert {k.to_user_string() for k in run.asset_selection} == {"weekly_change_summary", "weekly_report_pdf"}
    deadline = time.monotonic() + 300
    while page.locator("div.strip", has_text="pages").first.inner_text() == built:
        assert time.monotonic() < deadline, f"the new PDF never reached the desk\n{servers.logs()}"
        time.sleep(5)
        open_page(page, base, "letter", "Letter")
    shoot(page, shots / "letter-regenerated.png")
