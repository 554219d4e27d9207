"""The desk's entry point: `streamlit run meridian_assets/desk/app.py` (`make desk`)."""

from pathlib import Path

import streamlit as st

PAGES = Path(__file__).parent / "views"  # not `pages/`: Streamlit would route a deep link there past st.navigation

st.set_page_config(page_title="Meridian desk", layout="wide", initial_sidebar_state="expanded")
nav = st.navigation([
    st.Page(PAGES / "portfolio.py", title="I · Portfolio", url_path="portfolio", default=True),
    st.Page(PAGES / "research.py", title="II · Research", url_path="research"),
    st.Page(PAGES / "risk.py", title="III · Risk", url_path="risk"),
    st.Page(PAGES / "performance.py", title="IV · Performance", url_path="performance"),
    st.Page(PAGES / "execution.py", title="V · Execution", url_path="execution"),
    st.Page(PAGES / "letter.py", title="VI · Letter", url_path="letter"),
])
nav.run()
