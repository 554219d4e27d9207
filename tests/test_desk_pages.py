"""Each desk page rendered by Streamlit's AppTest on the demo instance's snapshot: no exception, its content."""

import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from meridian_assets.config import load_config
from meridian_assets.desk import hours
from meridian_assets.desk.data import research
from meridian_assets.desk.source import Snapshot
from tests.desk_world import demo_home

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]
PAGES = Path(__file__).resolve().parents[1] / "meridian_assets" / "desk" / "views"


@pytest.fixture(scope="module")
def env():
    home = demo_home()
    mp = pytest.MonkeyPatch()
    for k, v in {"MERIDIAN_HOME": home, "DAGSTER_HOME": home / "dagster", "MERIDIAN_CONFIG": home / "meridian.yaml"}.items():
        mp.setenv(k, str(v))
    mp.delenv("ANTHROPIC_API_KEY", raising=False)
    yield home
    mp.undo()


def render(page: str) -> AppTest:
    at = AppTest.from_file(str(PAGES / f"{page}.py"), default_timeout=120).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def text(at: AppTest) -> str:
    return "\n".join(m.value for m in at.markdown) + "\n".join(c.value for c in at.caption)


def test_portfolio_page(env):
    at = render("portfolio")
    body = text(at)
    for label in ("NAV", "Day", "Week", "MTD", "YTD", "Gross", "Net", "Beta", "Drawdown", "Positions"):
        assert f"<div class='label'>{label}</div>" in body
    assert "VIX" in body and "data synthetic" in body
    assert "ULTRON is offline" in body and "ANTHROPIC_API_KEY" in body


def test_research_page(env):
    at = render("research")
    latest = research.latest_proposal(Snapshot.of(load_config(str(env / "meridian.yaml"))))
    # the optimizer shown first is the latest proposal's, and the demo decided it: Approve is disabled
    assert [b.label for b in at.button][:1] == [f"Propose a what-if rebalance ({latest['method']})"]
    assert {"Approve proposal", "Reject proposal", "Execute"} <= {b.label for b in at.button}
    assert latest["decision"] in ("EXECUTED", "APPROVED") and latest["decision"] in text(at)
    assert next(b for b in at.button if b.label == "Approve proposal").disabled
    body = text(at)
    # a deferred trade reads as what waits, not "BUY +0 · DEFERRED"
    assert "sh waits" in body and not re.search(r"(BUY|SELL|SHORT|COVER) [+-]?0\b", body)


def test_research_page_reruns_on_a_widget_while_nyse_is_open(env, monkeypatch):
    """While the desk refreshes itself (NYSE open), a widget's rerun renders the page instead of rerunning it
    again from the refresh timer: choosing the conviction optimizer shows its Propose button."""
    monkeypatch.setattr(hours, "refresh_seconds", lambda interval, now=None: interval)
    at = render("research")
    at.radio(key="method").set_value("conviction").run()
    assert not at.exception, [e.value for e in at.exception]
    assert [b.label for b in at.button][:1] == ["Propose a what-if rebalance (conviction)"]


def test_risk_page(env):
    at = render("risk")
    body = text(at)
    assert "Daily loss (size down)" in body and "Drawdown (kill switch)" in body
    assert len(at.dataframe) == 3  # MCTR, alerts, stress


def test_performance_page(env):
    at = render("performance")
    assert "Win/loss" in text(at) and "Commentary" in text(at)


def test_execution_page(env):
    at = render("execution")
    assert "No broker configured" in text(at) and "Filled (30d)" in text(at)


def test_letter_page(env):
    at = render("letter")
    assert "MCP-IM-" in text(at) and [b.label for b in at.button] == ["Regenerate letter", "Regenerate weekly PDF"]
    assert not any(b.disabled for b in at.button)
    # the strip names the latest weekly PDF's week, read from the serving copy the page reads
    snap = Snapshot.of(load_config(str(env / "meridian.yaml")))
    week = snap.query("SELECT week_start, week_end FROM weekly_report_pdf ORDER BY week_start DESC LIMIT 1").row(0)
    assert re.search(rf"week {week[0]} to {week[1]} · \d+ pages", text(at))
