"""VI · Letter: the latest LP letter and the weekly PDF, each with Regenerate (a Dagster run) and its status."""

from pathlib import Path

import streamlit as st

from meridian_assets.desk import actions, ui
from meridian_assets.desk.data import letter

snap = ui.page("Letter", "VI LETTER")
doc = letter.latest_letter(snap) if snap.exists() else None
pdf = letter.latest_weekly_pdf(snap) if snap.exists() else None
week = letter.report_week(snap) if snap.exists() else None

with st.container(horizontal=True):
    ui.launch_button(actions.regenerate_letter(str(doc["as_of"])) if doc else actions.regenerate_letter(""),
                     key="regen", label="Regenerate letter", disabled=doc is None,
                     help="reporting_job: lp_letter of the letter's date, written again")
    ui.launch_button(actions.regenerate_weekly_pdf(week or ""), key="regen-pdf", label="Regenerate weekly PDF",
                     disabled=week is None,
                     help=f"reporting_weekly_job, week {week}: the change summary and the PDF" if week else None)
ui.runs_panel()

st.markdown("### Weekly report")
if pdf is None:
    st.markdown("<div class='muted'>No weekly PDF yet: Regenerate weekly PDF builds the latest week's "
                "(reporting_weekly_job).</div>", unsafe_allow_html=True)
else:
    size = f"{pdf['bytes'] / 1024:,.0f} KB" if pdf["bytes"] else "size unknown"
    st.markdown(f"<div class='strip'>{pdf['doc_id']} · week {pdf['week_start']} to {pdf['week_end']} · "
                f"{pdf['pages']} pages · {size} · built {pdf['created_at']:%Y-%m-%d %H:%M} UTC</div>",
                unsafe_allow_html=True)
    if pdf["exists"]:
        st.download_button(f"Download the weekly PDF · week of {pdf['week_start']}", Path(pdf["path"]).read_bytes(),
                           file_name=Path(pdf["path"]).name, mime="application/pdf")
    else:
        st.markdown(f"<div class='muted'>The file {pdf['path']} is not on this machine; regenerate it.</div>",
                    unsafe_allow_html=True)

st.markdown("### LP letter")
if doc is None:
    st.info("No LP letter yet: `meridian report --letter` (reporting_job) writes one.")
else:
    st.markdown(f"<div class='strip'>{doc['doc_id']} · as of {doc['as_of']} · {doc['source']}"
                f"{' · ' + doc['llm_note'] if doc['llm_note'] else ''} · written {doc['created_at']:%Y-%m-%d %H:%M} "
                "UTC</div>", unsafe_allow_html=True)
    with st.container(border=True):
        st.markdown(doc["body"])
