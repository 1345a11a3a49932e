"""How the reports print numbers (percentages, intervals, p-values, rates: one definition for the
test report and the sweep's, in Markdown and HTML alike) and Markdown tables (``markdown_table``,
also for the apps' own Markdown). Nothing heavier than the standard library is imported."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

__all__ = [
    "band",
    "interval",
    "markdown_table",
    "number",
    "p_text",
    "pct",
    "plus_minus",
    "rate",
    "yes_no",
]


def pct(x: float | None, signed: bool = True, digits: int | None = None) -> str:
    """A share as a percentage with 2 decimals (``digits`` sets them): signed for a lift or a
    difference, unsigned for a level, a rate or an SD. Missing or NaN: ``n/a``."""
    if x is None or math.isnan(x):
        return "n/a"
    if math.isinf(x):
        return "+inf" if x > 0 else "-inf"
    places = 2 if digits is None else digits
    return f"{100 * x:+.{places}f}%" if signed else f"{100 * x:.{places}f}%"


def plus_minus(x: float) -> str:
    """A half-width in percent: ``±3.22%``."""
    return f"\u00b1{pct(x, signed=False, digits=2)}"


def number(x: float | None) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{x:.2f}"


def interval(value: Any, low: Any, high: Any) -> str:
    """``+1.23% [+0.40%, +2.05%]``; empty when the value is missing."""
    if value is None:
        return ""
    return f"{pct(value)} [{pct(low)}, {pct(high)}]"


def band(low: float | None, high: float | None) -> str:
    """``[-1.20%, +3.40%]``; empty when a bound is missing."""
    return "" if low is None or high is None else f"[{pct(low)}, {pct(high)}]"


def p_text(p: float | None) -> str:
    if p is None:
        return ""
    return "<0.0001" if p < 1e-4 else f"{p:.4f}"


def yes_no(flag: bool | None) -> str:
    return "n/a" if flag is None else ("yes" if flag else "no")


def rate(value: float, low: float, high: float, digits: int = 1) -> str:
    """A rate with its interval in percent: ``12.5% [3.5, 36.0]``."""
    bounds = f"{100 * low:.{digits}f}, {100 * high:.{digits}f}"
    return f"{pct(value, signed=False, digits=digits)} [{bounds}]"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """A Markdown pipe table's lines (a ``|`` inside a cell is escaped)."""

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"

    return [line(header), "|" + "---|" * len(header), *(line(row) for row in rows)]
