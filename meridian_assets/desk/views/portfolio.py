"""I · Portfolio: KPI tiles, status strip, Ask ULTRON."""

import streamlit as st

from meridian_assets.desk import ui
from meridian_assets.desk.chat import ChatSession, network_context
from meridian_assets.desk.data import portfolio

snap = ui.page("ULTRON · The Network", "I PORTFOLIO")
k = portfolio.kpis(snap) if snap.exists() else None
if k is None:
    st.info("No book yet: `meridian portfolio --rebalance` (or `make demo`) builds one.")
else:
    def since(key: str) -> str | None:  # a book younger than the period: its return is since inception
        return f"since inception {k[key]:%b %d}" if k[key] else None

    tiles = [("NAV", f"${k['nav']:,.0f}", None, f"as of {k['as_of']}"), ("Day", ui.fmt_pct(k["day"]), k["day"], None),
             ("Week", ui.fmt_pct(k["week"]), k["week"], "5 sessions"),
             ("MTD", ui.fmt_pct(k["mtd"]), k["mtd"], since("mtd_since")),
             ("YTD", ui.fmt_pct(k["ytd"]), k["ytd"], since("ytd_since")),
             ("Gross", ui.fmt_pct(k["gross"], False), None, None), ("Net", ui.fmt_pct(k["net"]), None, None),
             ("Beta", "—" if k["beta"] is None else f"{k['beta']:+.2f}", None, None),
             ("Drawdown", ui.fmt_pct(-k["drawdown"]), -k["drawdown"], None),
             ("Positions", str(k["positions"]), None, None)]
    for row in (tiles[:5], tiles[5:]):
        for col, (label, value, sign, note) in zip(st.columns(5), row):
            ui.kpi(col, label, value, sign, note)
if snap.exists():
    s = portfolio.status(snap)
    vix = "—" if s["vix"] is None else f"{s['vix']:.1f}"
    st.markdown(f"<div class='strip'>VIX {vix} · {s['vix_regime']} · trading {s['trading_state']} · "
                f"data {s['provider']} as of {s['prices_as_of']} · broker {s['broker']} ({s['mode']}) · "
                f"snapshot {s['snapshot_published_at']}</div>", unsafe_allow_html=True)

st.markdown("### Ask ULTRON")
if "ultron" not in st.session_state:
    st.session_state["ultron"] = ChatSession(snap.cfg, network_context(snap, snap.cfg.desk.chat_context_max_kb)
                                             if snap.exists() else "{}")
chat: ChatSession = st.session_state["ultron"]
ok, why = chat.available()
if not ok:
    st.caption(f"ULTRON is offline: {why}")
for q, a in chat.history:
    st.chat_message("user").write(q)
    st.chat_message("assistant").write(a)
question = st.chat_input("Ask about the network", key="ultron_input")
if question:
    st.chat_message("user").write(question)
    st.chat_message("assistant").write(chat.ask(question))
    st.caption(f"session spend ${chat.spent_usd:.4f} of ${snap.cfg.analysis.chat_cost_ceiling_usd:.2f}")
ui.runs_panel()
