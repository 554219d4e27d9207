"""The house chart style shared by every layer: matplotlib's Agg canvas directly (no pyplot, no display, no
global figure state), a light horizontal grid, no top/right spines, PNG bytes out."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # matplotlib costs ~0.5 s: imported when a chart is drawn, not when the code location loads
    from matplotlib.figure import Figure


def new_figure(width_in: float, height_in: float, dpi: int, grid_colour: str = "#dddddd") -> tuple[Figure, object]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_in, height_in), dpi=dpi)
    ax = fig.add_subplot()
    ax.grid(True, axis="y", color=grid_colour, linewidth=0.8)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return fig, ax


def png_bytes(fig: Figure) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig.tight_layout()
    buf = io.BytesIO()
    FigureCanvasAgg(fig).print_png(buf)
    return buf.getvalue()
