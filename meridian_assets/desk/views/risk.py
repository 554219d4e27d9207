"""III · Risk: breakers, decomposition, MCTR, alerts, stress."""

import plotly.graph_objects as go
import polars as pl
import streamlit as st

from meridian_assets.desk import theme, ui
from meridian_assets.desk.data import risk

snap = ui.page("Risk", "III RISK")
doc = risk.state(snap) if snap.exists() else None
if doc is None:
    st.info("No risk state yet: `meridian risk` (risk_check_job) writes it.")
else:
    st.markdown(f"<div class='strip'>as of {doc['as_of']} · trading state <b>{doc['trading_state']}</b></div>",
                unsafe_allow_html=True)
    st.markdown("### Circuit breakers")
    for b in risk.breaker_bars(doc, snap.cfg):
        pill = "<span class='pill fired'>FIRED</span>" if b["fired"] else "<span class='pill ok'>ok</span>"
        st.markdown(f"{b['breaker']} — {b['value']:.2%} of {b['threshold']:.2%} {pill}", unsafe_allow_html=True)
        st.progress(b["fill"])
    d = risk.decomposition(doc)
    c1, c2 = st.columns(2)
    if d:
        with c1:
            fig = go.Figure(go.Pie(labels=["Factor", "Specific"], values=[d["factor_share"], d["specific_share"]],
                                   hole=0.6, marker={"colors": [theme.ACCENT, theme.LONG]}))
            fig.update_layout(title=f"Ex-ante vol {d['sigma']:.2%}: factor vs specific", height=320)
            ui.plotly(fig)
    with c2:
        st.markdown("##### MCTR (flag: > 1.5× weight share)")
        st.dataframe(risk.mctr_table(doc), hide_index=True, use_container_width=True)
    st.markdown("### Alerts (last 3 sessions)")
    st.dataframe(risk.alerts(snap), hide_index=True, use_container_width=True)
    st.markdown("### Stress scenarios")
    stress = risk.stress(doc)
    if stress.width:  # dollars to the dollar, fractions to a basis point
        stress = stress.with_columns(pl.col("^.*_pnl$").round(0), pl.col("^.*_pct$").round(4))
    st.dataframe(stress, hide_index=True, use_container_width=True)
ui.runs_panel()
