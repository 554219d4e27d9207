"""VI · Letter: the latest LP letter and the weekly PDF, with Regenerate."""

from pathlib import Path

import streamlit as st

from meridian_assets.desk import actions, ui
from meridian_assets.desk.data import letter

snap = ui.page("Letter", "VI LETTER")
doc = letter.latest_letter(snap) if snap.exists() else None
if doc is None:
    st.info("No LP letter yet: `meridian report --letter` (reporting_job) writes one.")
else:
    st.markdown(f"<div class='strip'>{doc['doc_id']} · as of {doc['as_of']} · {doc['source']}"
                f"{' · ' + doc['llm_note'] if doc['llm_note'] else ''}</div>", unsafe_allow_html=True)
    ui.launch_button(actions.regenerate_letter(str(doc["as_of"])), key="regen", label="Regenerate letter")
    st.markdown(doc["body"])
pdf = letter.latest_weekly_pdf(snap) if snap.exists() else None
if pdf and pdf["exists"]:
    st.download_button(f"Weekly report PDF · week of {pdf['week_start']} ({pdf['pages']} pages)",
                       Path(pdf["path"]).read_bytes(), file_name=Path(pdf["path"]).name, mime="application/pdf")
ui.runs_panel()
