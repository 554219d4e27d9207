"""V · Execution: slippage KPIs, open orders at the broker, fills, worst fills, short availability."""

import streamlit as st

from meridian_assets.desk import ui
from meridian_assets.desk.data import execution

snap = ui.page("Execution", "V EXECUTION")
recent = execution.fills(snap) if snap.exists() else None
if recent is None:
    st.stop()
k = execution.slippage_kpis(recent)
orders, why = execution.open_orders(snap.cfg)
cols = st.columns(4)
ui.kpi(cols[0], "Filled (30d)", str(k["filled"]))
ui.kpi(cols[1], "Avg slippage", "—" if k["avg_bps"] is None else f"{k['avg_bps']:+.1f} bps")
ui.kpi(cols[2], "Total slippage", f"${k['total_dollars']:,.0f}")
ui.kpi(cols[3], "Open orders", "—" if orders is None else str(orders.height))
st.markdown("### Open orders at the broker")
if orders is None:
    st.markdown(f"<div class='muted'>{why}</div>", unsafe_allow_html=True)
else:
    st.dataframe(orders, hide_index=True, width="stretch")
st.markdown("### Fills (30 days)")
if recent.is_empty():
    st.markdown("<div class='muted'>No broker fills in the last 30 days (the simulated book commits its trades "
                "as filled).</div>", unsafe_allow_html=True)
else:
    st.dataframe(recent, hide_index=True, width="stretch")
    st.markdown("### Worst 5 fills")
    st.dataframe(execution.worst_fills(recent), hide_index=True, width="stretch")
st.markdown("### Short availability")
shorts = execution.short_availability(snap)
if shorts.is_empty():
    st.markdown("<div class='muted'>No short availability recorded yet (execution_job's short_availability "
                "asset asks the broker).</div>", unsafe_allow_html=True)
else:
    st.dataframe(shorts, hide_index=True, width="stretch")
ui.runs_panel()
