"""The desk's look: the specification's palette (dark, indigo accent, long green / short red) as one CSS string
and one Plotly template."""

BG, CARD_A, CARD_B = "#0b0e17", "#131827", "#1a2035"
ACCENT, LONG, SHORT, MUTED, TEXT = "#6366f1", "#10b981", "#f43f5e", "#8b93a7", "#e5e7eb"
FONTS = "'Plus Jakarta Sans', 'Inter', system-ui, sans-serif"
MONO = "'JetBrains Mono', ui-monospace, monospace"


def global_css() -> str:
    return f"""<style>
    .stApp {{ background: {BG}; color: {TEXT}; font-family: {FONTS}; }}
    #MainMenu, footer, header [data-testid="stToolbar"], [data-testid="stDecoration"] {{ visibility: hidden; }}
    .kpi {{ background: linear-gradient(135deg, {CARD_A}, {CARD_B}); border: 1px solid #262d45; border-radius: 10px;
            padding: 10px 14px; margin-bottom: 8px; }}
    .kpi .label {{ color: {MUTED}; font-size: 0.72rem; text-transform: uppercase; letter-spacing: .08em; }}
    .kpi .value {{ font-family: {MONO}; font-size: 1.35rem; color: {TEXT}; }}
    .kpi .note {{ color: {MUTED}; font-size: 0.68rem; }}
    .pos {{ color: {LONG}; }} .neg {{ color: {SHORT}; }} .muted {{ color: {MUTED}; }}
    .strip {{ background: {CARD_A}; border-left: 3px solid {ACCENT}; padding: 6px 12px; border-radius: 6px;
              font-family: {MONO}; font-size: 0.8rem; color: {MUTED}; }}
    .pill {{ display: inline-block; padding: 1px 8px; border-radius: 999px; font-size: .7rem; font-weight: 700; }}
    .fired {{ background: {SHORT}; color: white; }} .ok {{ background: #1f2937; color: {MUTED}; }}
    .card {{ background: linear-gradient(135deg, {CARD_A}, {CARD_B}); border-radius: 10px; padding: 8px 12px;
             margin-bottom: 6px; border-left: 3px solid {ACCENT}; font-size: .85rem; }}
    .card.long {{ border-left-color: {LONG}; }} .card.short {{ border-left-color: {SHORT}; }}
    .headline {{ font-size: 2.6rem; font-weight: 800; letter-spacing: -.02em;
                 background: linear-gradient(90deg, {TEXT}, {ACCENT}); -webkit-background-clip: text;
                 -webkit-text-fill-color: transparent; }}
    </style>"""


def plotly_template() -> dict:
    return {"layout": {"paper_bgcolor": BG, "plot_bgcolor": CARD_A, "font": {"color": TEXT, "family": FONTS},
                       "colorway": [ACCENT, LONG, SHORT, "#f59e0b", "#38bdf8", MUTED],
                       "xaxis": {"gridcolor": "#262d45"}, "yaxis": {"gridcolor": "#262d45"},
                       "margin": {"l": 40, "r": 20, "t": 40, "b": 40}}}
