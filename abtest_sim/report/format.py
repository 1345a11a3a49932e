"""How the reports print numbers: percentages, intervals, p-values (one definition for report.md
and report.html)."""

from __future__ import annotations

import math
from typing import Any

__all__ = ["interval", "number", "p_text", "pct"]


def pct(x: float | None, signed: bool = True) -> str:
    """A share as a percentage: signed with 2 decimals (a lift) or unsigned with 3 (a CTR)."""
    if x is None or not math.isfinite(x):
        return "n/a" if x is None else ("+inf" if x > 0 else "-inf")
    return f"{100 * x:+.2f}%" if signed else f"{100 * x:.3f}%"


def number(x: float | None) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{x:.2f}"


def interval(value: Any, low: Any, high: Any) -> str:
    """``+1.23% [+0.40%, +2.05%]``; empty when the value is missing."""
    if value is None:
        return ""
    return f"{pct(value)} [{pct(low)}, {pct(high)}]"


def p_text(p: float | None) -> str:
    if p is None:
        return ""
    return "<0.0001" if p < 1e-4 else f"{p:.4f}"
