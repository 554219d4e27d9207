"""Streamlit pieces shared by the pages: theme, snapshot, KPI tiles, and launching and following runs."""

from __future__ import annotations

import html
import time

import streamlit as st

from meridian_assets.config import get_config
from meridian_assets.desk import actions, hours, theme
from meridian_assets.desk.source import Snapshot


def page(title: str, numeral: str) -> Snapshot:
    """Theme, title and the snapshot every page reads; auto-refresh while NYSE is open."""
    cfg = get_config()
    st.markdown(theme.global_css(), unsafe_allow_html=True)
    st.markdown(f"<div class='muted'>MERIDIAN DESK · {numeral}</div><div class='headline'>{html.escape(title)}</div>",
                unsafe_allow_html=True)
    snap = Snapshot.of(cfg)
    every = hours.refresh_seconds(cfg.desk.auto_refresh_seconds)
    if every:
        _auto_refresh(every)
    if not snap.exists():
        st.warning("No published snapshot yet: run `make demo`, then publish one (serving_snapshot_job).")
        launch_button(actions.publish_snapshot(), key="publish-missing")
    elif snap.staleness()["stale"] and not st.session_state.get("publish_requested"):
        # the live database changed since the last copy (e.g. a CLI run without the daemon): ask for a new one
        st.session_state["publish_requested"] = True
        launch(actions.publish_snapshot(), quiet=True)
    return snap


def _auto_refresh(seconds: int) -> None:
    _rerun_every(seconds, "_refreshed_at")


def _rerun_every(seconds: float, key: str) -> None:
    """Rerun the whole page every ``seconds``: a fragment ticks on that interval and reruns the app only when no
    full run came in between. A full run (a click, a radio, a page change) restarts the clock; rerunning after it
    too would drop the click's value, and a flag that stays set would rerun the app from every run, forever."""
    st.session_state[key] = time.monotonic()

    @st.fragment(run_every=seconds)
    def tick():
        if time.monotonic() - st.session_state.get(key, 0.0) >= 0.8 * seconds:
            st.rerun(scope="app")
    tick()


def fmt_pct(x: float | None, signed: bool = True) -> str:
    return "—" if x is None else (f"{x:+.2%}" if signed else f"{x:.2%}")


def fmt_usd(x: float | None) -> str:
    return "—" if x is None else f"{'-' if x < 0 else ''}${abs(x):,.0f}"


def kpi(col, label: str, value: str, sign: float | None = None, note: str | None = None) -> None:
    cls = "" if sign is None else ("pos" if sign >= 0 else "neg")
    foot = f"<div class='note'>{html.escape(note)}</div>" if note else ""
    col.markdown(f"<div class='kpi'><div class='label'>{html.escape(label)}</div>"
                 f"<div class='value {cls}'>{html.escape(value)}</div>{foot}</div>", unsafe_allow_html=True)


def _launcher() -> actions.Launcher:
    if "launcher" not in st.session_state:
        st.session_state["launcher"] = actions.Launcher(get_config())
    return st.session_state["launcher"]


def launch(action: actions.Action, quiet: bool = False) -> str | None:
    """Launch ``action`` as a Dagster run; remember it so `runs_panel` follows its status."""
    try:
        run_id = _launcher().launch(action)
    except Exception as err:  # webserver down, bad config: a message, not a crash
        if not quiet:
            st.error(f"{action.label}: could not launch ({str(err).splitlines()[0][:200]})")
        return None
    st.session_state.setdefault("runs", []).insert(0, (action.label, run_id))
    return run_id


def launch_button(action: actions.Action, key: str, label: str | None = None, disabled: bool = False,
                  help: str | None = None) -> str | None:
    if st.button(label or action.label, key=key, disabled=disabled, help=help):
        return launch(action)
    return None


def runs_panel() -> None:
    """The runs this desk session launched, with their Dagster status (polled on each render)."""
    runs = st.session_state.get("runs") or []
    if not runs:
        return
    st.markdown("##### Runs launched from the desk")
    launcher = _launcher()
    for label, run_id in runs[:8]:
        try:
            status = launcher.status(run_id)
        except Exception:
            status = "UNKNOWN"
        cls = "pos" if status == "SUCCESS" else "neg" if status in ("FAILURE", "CANCELED") else "muted"
        st.markdown(f"<div class='strip'>{html.escape(label)} · <code>{run_id[:8]}</code> · "
                    f"<span class='{cls}' data-run-id='{run_id}'>{status}</span></div>", unsafe_allow_html=True)
    if any(_is_active(launcher, r) for _, r in runs[:8]):
        _poll()


def _is_active(launcher, run_id: str) -> bool:
    try:
        return launcher.status(run_id) not in actions.DONE
    except Exception:
        return False


def _poll() -> None:
    _rerun_every(3, "_polled_at")


ROW_PX = 35  # st.dataframe's row height (and its header's)


def table_height(rows: int) -> int:
    """A dataframe height that shows every one of ``rows`` rows with no inner scrolling (header and border)."""
    return ROW_PX * (max(rows, 1) + 1) + 3


def plotly(fig) -> None:
    fig.update_layout(template={"layout": theme.plotly_template()["layout"]})
    st.plotly_chart(fig, width="stretch")
