"""II · Research: proposal and decision, advisories, the factor heatmap, candidate cards."""

import html

import plotly.graph_objects as go
import streamlit as st

from meridian_assets.desk import actions, ui
from meridian_assets.desk.data import research

snap = ui.page("Research", "II RESEARCH")
method = st.radio("Optimizer", ["mvo", "conviction"], horizontal=True, key="method")
ui.launch_button(actions.propose(method), key="propose", label=f"Propose a what-if rebalance ({method})")
p = research.latest_proposal(snap, method) if snap.exists() else None
if p is None:
    st.info(f"No {method} proposal yet: propose one above (`rebalance_job`, commits nothing).")
else:
    trades = ", ".join(f"{n} {status.lower()}" for status, n in sorted(p["trade_counts"].items()))
    st.markdown(f"<div class='strip'>Proposal <b>{p['rebalance_id']}</b> · {p['as_of']} · {p['names']} names · "
                f"gross {p['gross']:.1%} · net {p['net']:+.1%} · trades {trades or 'none'} · "
                f"<span data-testid='decision'>{p['decision']}</span></div>", unsafe_allow_html=True)
    proposed = p["decision"] == "PROPOSED"
    c1, c2, c3 = st.columns(3)
    with c1:
        ui.launch_button(actions.decide(p["rebalance_id"], "approve"), key="approve", label="Approve",
                         disabled=not proposed)
    with c2:
        ui.launch_button(actions.decide(p["rebalance_id"], "reject"), key="reject", label="Reject",
                         disabled=not proposed)
    with c3:
        live = snap.cfg.execution.mode == "live"
        ui.launch_button(actions.execute(p["rebalance_id"]), key="execute", label="Execute",
                         disabled=p["decision"] != "APPROVED" or live,
                         help="Live accounts trade only from `meridian execute --execute` with the typed "
                              "confirmation." if live else None)
    st.caption("Approve releases the whole proposal to the broker (approved_rebalance_sensor then launches "
               "execution_job); Execute launches it now.")
adv = research.advisories(research.latest_proposal_metadata())
if adv:
    st.markdown("**Advisories**\n" + "\n".join(f"- {a}" for a in adv))

heat = research.heatmap(snap) if snap.exists() else None
if heat is not None and heat.height:
    labels = [f"{t} ({s[0]})" for t, s in zip(heat["ticker"], heat["side"])]
    fig = go.Figure(go.Heatmap(z=heat.select(research.PARENTS).to_numpy(), x=research.PARENTS, y=labels,
                               colorscale=[[0, "#f43f5e"], [0.5, "#1a2035"], [1, "#10b981"]], zmin=0, zmax=100))
    fig.update_layout(height=max(400, 14 * heat.height), title=f"Top/bottom 30 × 8 factors, {heat['date'][0]}",
                      yaxis={"autorange": "reversed", "dtick": 1, "tickfont": {"size": 10}})  # every name labelled
    ui.plotly(fig)
if p is not None:
    cards = research.candidates(snap, p["rebalance_id"])
    st.markdown("### Candidates")
    cols = st.columns(2)
    for side, col in zip(("LONG", "SHORT"), cols):
        with col:
            for r in cards.filter(cards["side"] == side).iter_rows(named=True):
                trade = f"{r['action']} {r['delta_shares']:+,}" if r["action"] else "hold"
                col.markdown(f"<div class='card {side.lower()}'><b>{html.escape(r['ticker'])}</b> · "
                             f"{html.escape(r['sector'])} · score {r['score']:.0f} · weight {r['weight']:+.2%} · "
                             f"{trade} · {r['trade_status'] or ''}</div>", unsafe_allow_html=True)
ui.runs_panel()
