"""Rendering documents: Jinja2 templates from `templates/reports/` and WeasyPrint for PDF.

Templates get their data as plain values already computed by the reporting functions (never a query) and
format numbers through the filters of `formatting`. Images are referenced by file URI (`image_uri`) so the
PDF embeds the same PNGs the chart assets wrote.
"""

from __future__ import annotations

import base64
from functools import lru_cache
from pathlib import Path

import jinja2

from meridian_assets.config import PROJECT_ROOT
from meridian_assets.reporting.formatting import FILTERS

TEMPLATES = PROJECT_ROOT / "templates" / "reports"


@lru_cache(maxsize=4)
def environment(folder: str = str(TEMPLATES)) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(folder),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html", "html.j2"), default_for_string=False),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(FILTERS)
    return env


def render(template: str, **context) -> str:
    """Render ``templates/reports/<template>`` with ``context`` (missing variables are errors)."""
    return environment().get_template(template).render(**context)


def image_uri(path: Path | None) -> str | None:
    return path.resolve().as_uri() if path else None


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def write_pdf(html: str, path: Path, base_url: Path | None = None) -> int:
    """Render ``html`` to a PDF at ``path`` with WeasyPrint; returns the number of pages."""
    from weasyprint import HTML  # imported here: it loads fonts and Pango, which plain modules do not need

    path.parent.mkdir(parents=True, exist_ok=True)
    doc = HTML(string=html, base_url=str(base_url or TEMPLATES)).render()
    doc.write_pdf(str(path))
    return len(doc.pages)
