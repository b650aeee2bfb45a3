"""A table page: our values beside the paper's printed ones, row by row.

Column 1 of every row says whose values it holds ("paper" or "ours"); the paper's rows are shaded.
"""
from __future__ import annotations

from collections.abc import Sequence

PAPER_SHADE = "0.92"


def cell(value: float | None, unit: str, reason: str = "") -> str:
    """A number with two decimals and its unit; the reason (or "—") where there is none."""
    if value is None:
        return reason or "—"
    return f"{value:.2f}{unit}"


def col_widths(n: int) -> list[float]:
    """Method, source, then n - 2 equal value columns (fractions of the axes width)."""
    return [0.22, 0.06] + [0.72 / (n - 2)] * (n - 2)


def draw_table(ax, text: Sequence[Sequence[str]], header: Sequence[str]) -> None:
    """Draw ``text`` (rows of cells, column 1 the source) under ``header`` on ``ax``."""
    ax.axis("off")
    table = ax.table(cellText=[list(r) for r in text], colLabels=list(header), loc="upper center",
                     cellLoc="center", colWidths=col_widths(len(header)))
    table.auto_set_font_size(False)
    table.set_fontsize(7)
    table.scale(1.0, 1.5)
    for (i, _), c in table.get_celld().items():
        if i > 0 and text[i - 1][1] == "paper":
            c.set_facecolor(PAPER_SHADE)
