"""IV · Performance: equity vs SPY, attribution, sector alpha, turnover and tax, win/loss, contributors."""

import plotly.express as px
import plotly.graph_objects as go
import polars as pl
import streamlit as st

from meridian_assets.desk import theme, ui
from meridian_assets.desk.data import performance


def _dollars(frame: pl.DataFrame) -> pl.DataFrame:
    return (frame.with_columns(pl.col("pnl").map_elements(ui.fmt_usd, return_dtype=pl.Utf8))
            if "pnl" in frame.columns else frame)


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
        fig = px.bar(att.to_pandas(), x="date", y="return", color="component", height=320,
                     title="Daily attribution (last 20 sessions)", labels={"date": "", "return": "Return"})
        fig.update_yaxes(tickformat=".1%")
        ui.plotly(fig)
    c1, c2 = st.columns([3, 2])
    sa = performance.sector_alpha(snap)
    if sa.height:
        with c1:
            fig = px.bar(sa.to_pandas(), x="selection_alpha", y="sector", orientation="h",
                         title="Sector-relative alpha (picks vs sector ETF)", height=340,
                         labels={"selection_alpha": "Selection alpha", "sector": ""})
            fig.update_xaxes(tickformat=".0%")
            ui.plotly(fig)
    with c2:
        wl = performance.win_loss(snap)
        st.markdown("##### Win/loss")
        if wl:
            a, b = st.columns(2)
            ui.kpi(a, "Win rate", f"{wl['win_rate']:.0%}", note=f"{wl['wins']} won / {wl['losses']} lost of "
                                                              f"{wl['trades']}")
            ui.kpi(b, "P/L ratio", f"{wl['pl_ratio'] or 0:.2f}", note="average win / average loss")
            a, b = st.columns(2)
            ui.kpi(a, "Average win", ui.fmt_usd(wl["avg_win"]))
            ui.kpi(b, "Average loss", ui.fmt_usd(wl["avg_loss"]))
            ui.kpi(st, "Total closed P&L", ui.fmt_usd(wl["total_pnl"]), wl["total_pnl"])
        else:
            st.markdown("<div class='muted'>No closed round trips yet.</div>", unsafe_allow_html=True)
    st.markdown("##### Turnover and tax")
    tt = performance.turnover_tax_table(performance.turnover_tax(snap))
    if tt.height:
        st.dataframe(tt, hide_index=True, width="stretch", height=ui.table_height(tt.height),
                     column_config={"figure": st.column_config.TextColumn("", width="medium")})
    else:
        st.markdown("<div class='muted'>No turnover report yet (reporting_job).</div>", unsafe_allow_html=True)
    best, worst = performance.contributors(snap)
    c1, c2 = st.columns(2)
    pnl = {"ticker": "Ticker", "side": "Side", "pnl": st.column_config.TextColumn("P&L")}
    c1.markdown("##### Best 5")
    c1.dataframe(_dollars(best), hide_index=True, width="stretch", column_config=pnl)
    c2.markdown("##### Worst 5")
    c2.dataframe(_dollars(worst), hide_index=True, width="stretch", column_config=pnl)
    com = performance.commentary(snap)
    if com:
        st.markdown(f"### Commentary · week of {com['week_start']} ({com['source']})")
        st.markdown(f"<div class='card'>{com['body']}</div>", unsafe_allow_html=True)
ui.runs_panel()
