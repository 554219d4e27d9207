"""II · Research: proposal and decision, advisories, the factor heatmap, candidate cards."""

import html

import plotly.graph_objects as go
import streamlit as st

from meridian_assets.desk import actions, ui
from meridian_assets.desk.data import research


def card_key(rebalance_id: str, ticker: str) -> str:
    return f"candidate-{rebalance_id}-{ticker}"


def candidate_card(p: dict, r: dict) -> None:
    """One candidate: its figures and trade, and Approve / Reject while the proposal awaits a decision (a
    refusal goes with the proposal's approval); once decided, the decision recorded for the name."""
    side = r["side"].lower()
    # the decision recorded for the name, when it says more than the trade's own status (VETOED twice is noise)
    decided = r["decision"] if r["decision"] and r["decision"] != (r["trade_status"] or "").upper() else ""
    body = (f"<div class='card {side}'><b>{html.escape(r['ticker'])}</b> · {html.escape(r['sector'])} · "
            f"score {r['score']:.0f} · weight {r['weight']:+.2%}<br>"
            f"<span class='muted'>{html.escape(research.trade_label(r))}</span>"
            f"{' · <b>' + html.escape(decided) + '</b>' if decided else ''}</div>")
    with st.container(key=f"card-{r['ticker']}"):
        st.markdown(body, unsafe_allow_html=True)
        if p["decision"] == "PROPOSED" and research.can_refuse(r):
            key = card_key(p["rebalance_id"], r["ticker"])
            st.session_state.setdefault(key, "Approve")
            st.segmented_control(f"Decision on {r['ticker']}", ["Approve", "Reject"], key=key,
                                 label_visibility="collapsed")


snap = ui.page("Research", "II RESEARCH")
latest = research.latest_proposal(snap) if snap.exists() else None  # the optimizer shown first: the latest one's
methods = list(research.METHODS)
method = st.radio("Optimizer", methods, horizontal=True, key="method",
                  index=methods.index(latest["method"]) if latest and latest["method"] in methods else 0)
ui.launch_button(actions.propose(method), key="propose", label=f"Propose a what-if rebalance ({method})")
p = research.latest_proposal(snap, method) if snap.exists() else None
if p is None:
    st.info(f"No {method} proposal yet: propose one above (`portfolio_rebalance_job`, commits nothing).")
else:
    trades = ", ".join(f"{n} {status.lower()}" for status, n in sorted(p["trade_counts"].items()))
    st.markdown(f"<div class='strip'>Proposal <b>{p['rebalance_id']}</b> · {p['as_of']} · {p['names']} names · "
                f"gross {p['gross']:.1%} · net {p['net']:+.1%} · trades {trades or 'none'} · "
                f"<span data-testid='decision'>{p['decision']}</span></div>", unsafe_allow_html=True)
adv = research.advisories(research.latest_proposal_metadata())
if adv:
    st.markdown("**Advisories**\n" + "\n".join(f"- {a}" for a in adv))

if p is not None:
    st.markdown("### Candidates")
    cards = research.candidates(snap, p["rebalance_id"])
    for side, col in zip(("LONG", "SHORT"), st.columns(2)):
        with col:
            for r in cards.filter(cards["side"] == side).iter_rows(named=True):
                candidate_card(p, r)
    proposed = p["decision"] == "PROPOSED"
    refusable = [r["ticker"] for r in cards.iter_rows(named=True) if research.can_refuse(r)] if proposed else []
    rejected = sorted(t for t in refusable if st.session_state.get(card_key(p["rebalance_id"], t)) == "Reject")
    with st.container(horizontal=True):
        ui.launch_button(actions.decide(p["rebalance_id"], "approve", rejected=rejected), key="approve",
                         label="Approve proposal", disabled=not proposed,
                         help="Approve every proposed trade except the candidates rejected on their cards")
        ui.launch_button(actions.decide(p["rebalance_id"], "reject"), key="reject", label="Reject proposal",
                         disabled=not proposed)
        live = snap.cfg.execution.mode == "live"
        ui.launch_button(actions.execute(p["rebalance_id"]), key="execute", label="Execute",
                         disabled=p["decision"] != "APPROVED" or live,
                         help="Live accounts trade only from `meridian execute --execute` with the typed "
                              "confirmation." if live else None)
    if rejected:
        st.markdown(f"<div class='strip' data-testid='rejected'>Rejected on their cards: <b>{', '.join(rejected)}"
                    "</b> · their trades are recorded REJECTED and never sent</div>", unsafe_allow_html=True)
    st.caption("Approve proposal releases the proposal to the broker without the candidates rejected on their "
               "cards (approved_rebalance_sensor then launches execution_job); Execute launches it now.")
ui.runs_panel()

heat = research.heatmap(snap) if snap.exists() else None
if heat is not None and heat.height:
    labels = [f"{t} ({s[0]})" for t, s in zip(heat["ticker"], heat["side"])]
    fig = go.Figure(go.Heatmap(z=heat.select(research.PARENTS).to_numpy(), x=research.PARENTS, y=labels,
                               colorscale=[[0, "#f43f5e"], [0.5, "#1a2035"], [1, "#10b981"]], zmin=0, zmax=100))
    fig.update_layout(height=max(400, 14 * heat.height), title=f"Top/bottom 30 × 8 factors, {heat['date'][0]}",
                      yaxis={"autorange": "reversed", "dtick": 1, "tickfont": {"size": 10}})  # every name labelled
    ui.plotly(fig)
