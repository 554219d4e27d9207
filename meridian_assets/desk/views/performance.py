"""IV · Performance: equity vs SPY, attribution, sector alpha, turnover and tax, win/loss, contributors."""

import plotly.express as px
import plotly.graph_objects as go
import polars as pl
import streamlit as st

from meridian_assets.desk import theme, ui
from meridian_assets.desk.data import performance


def _dollars(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(pl.col("pnl").round(0)) if "pnl" in frame.columns else frame


snap = ui.page("Performance", "IV PERFORMANCE")
eq = performance.equity_vs_spy(snap) if snap.exists() else None
if eq is None or eq.is_empty():
    st.info("No book history yet.")
else:
    fig = go.Figure([go.Scatter(x=eq["date"], y=eq["book"], name="Book", line={"color": theme.ACCENT}),
                     go.Scatter(x=eq["date"], y=eq["spy"], name="SPY", line={"color": theme.MUTED})])
    fig.update_layout(title="Equity vs SPY (rebased to 100)", height=340)
    ui.plotly(fig)
    att = performance.attribution(snap)
    if att.height:
        ui.plotly(px.bar(att.to_pandas(), x="date", y="return", color="component", title="Daily attribution",
                         height=320))
    c1, c2 = st.columns(2)
    sa = performance.sector_alpha(snap)
    if sa.height:
        with c1:
            ui.plotly(px.bar(sa.to_pandas(), x="selection_alpha", y="sector", orientation="h",
                             title="Sector-relative alpha", height=340))
    with c2:
        st.markdown("##### Turnover and tax")
        st.dataframe(performance.turnover_tax(snap), hide_index=True, use_container_width=True)
        wl = performance.win_loss(snap)
        if wl:
            st.markdown(f"**Win/loss** {wl['wins']}/{wl['losses']} of {wl['trades']} · win rate {wl['win_rate']:.0%}"
                        f" · P/L ratio {wl['pl_ratio'] or 0:.2f} · total ${wl['total_pnl']:,.0f}")
    best, worst = performance.contributors(snap)
    c1, c2 = st.columns(2)
    c1.markdown("##### Best 5")
    c1.dataframe(_dollars(best), hide_index=True, use_container_width=True)
    c2.markdown("##### Worst 5")
    c2.dataframe(_dollars(worst), hide_index=True, use_container_width=True)
    com = performance.commentary(snap)
    if com:
        st.markdown(f"### Commentary · week of {com['week_start']} ({com['source']})")
        st.markdown(f"<div class='card'>{com['body']}</div>", unsafe_allow_html=True)
ui.runs_panel()
