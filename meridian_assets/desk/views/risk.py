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
    if d:
        c1, c2 = st.columns(2)
        with c1:
            fig = go.Figure(go.Pie(labels=["Factor", "Specific"], values=[d["factor_share"], d["specific_share"]],
                                   hole=0.6, marker={"colors": [theme.ACCENT, theme.LONG]}))
            fig.update_layout(title=f"Ex-ante vol {d['sigma']:.2%}: factor vs specific", height=320)
            ui.plotly(fig)
        total = d["sigma"] ** 2  # contributions are variances: shown as shares of the book's variance
        top = sorted(d["factor_contributions"].items(), key=lambda kv: -abs(kv[1]))[:8][::-1]
        if top and total > 0:
            with c2:
                fig = go.Figure(go.Bar(x=[v / total for _, v in top], y=[k for k, _ in top], orientation="h",
                                       marker={"color": [theme.SHORT if v < 0 else theme.ACCENT for _, v in top]}))
                fig.update_layout(title="Largest factor contributions (share of variance)", height=320)
                fig.update_xaxes(tickformat=".0%")
                ui.plotly(fig)
    st.markdown("### Marginal contribution to risk (top 10)")
    mctr = risk.mctr_table(doc)
    if mctr.height:
        mctr = mctr.with_columns((pl.col("^(weight|mctr|risk_share|gross_share)$") * 100),
                                 pl.when("flagged").then(pl.lit(f"▲ over {risk.MCTR_FLAG_MULTIPLE}×"))
                                 .otherwise(pl.lit("")).alias("flagged"))
    st.dataframe(mctr, hide_index=True, width="stretch", height=ui.table_height(mctr.height), column_config={
        "ticker": "Ticker",
        "weight": st.column_config.NumberColumn("Weight", format="%+.2f%%", help="Signed weight, % of NAV"),
        "mctr": st.column_config.NumberColumn("MCTR", format="%.3f%%", help="Contribution to the book's ex-ante "
                                                                             "volatility (vol points; they sum to sigma)"),
        "risk_share": st.column_config.NumberColumn("Share of risk", format="%.1f%%", help="MCTR / sigma"),
        "gross_share": st.column_config.NumberColumn("Share of gross", format="%.1f%%", help="|weight| / gross"),
        "risk_to_weight": st.column_config.NumberColumn(
            "MCTR / weight (risk share ÷ gross share)", format="%.2f×",
            help=f"Share of risk / share of gross exposure; flagged above {risk.MCTR_FLAG_MULTIPLE}×"),
        "flagged": st.column_config.TextColumn(f"Flag (> {risk.MCTR_FLAG_MULTIPLE}×)")})
    st.caption(f"A name is flagged when its share of the book's risk is more than {risk.MCTR_FLAG_MULTIPLE}× its "
               "share of gross exposure.")
    st.markdown("### Alerts (last 3 sessions)")
    alerts = risk.alerts(snap)
    st.dataframe(alerts, hide_index=True, width="stretch", height=ui.table_height(alerts.height), column_config={
        "as_of": st.column_config.DateColumn("Session", format="YYYY-MM-DD"), "trading_state": "Trading state",
        "alert": st.column_config.TextColumn("Alert", width="large")})
    st.markdown("### Stress scenarios")
    stress = risk.stress(doc)
    if stress.width:  # dollars to the dollar, shares of NAV in percent
        stress = stress.with_columns(pl.col("^.*_pct$") * 100,
                                     pl.col("^.*_pnl$").map_elements(ui.fmt_usd, return_dtype=pl.Utf8))
    money = {f"{k}_pnl": st.column_config.TextColumn(f"{k.title()} P&L") for k in ("long", "short", "total")}
    share = {f"{k}_pct": st.column_config.NumberColumn(f"{k.title()} % of NAV", format="%+.2f%%")
             for k in ("long", "short", "total")}
    st.dataframe(stress, hide_index=True, width="stretch", height=ui.table_height(stress.height),
                 column_config={"scenario": "Scenario", **money, **share})
ui.runs_panel()
