"""A report as data (``ReportDocument``): built once, laid out by ``abtest_sim.report.markdown``
and ``abtest_sim.report.html`` alike, so both say the same words and show the same numbers.

A document is a header (title, verdict, lead lines, warnings, key figures) and sections of blocks:
paragraphs, bullets, cards, tables, figures and subheadings. Its text is plain, but for
Markdown's inline code (a name in backticks) and emphasis (``*word*``), which the HTML layout
drops.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:  # pragma: no cover
    from abtest_sim.analysis.warnings import ReportWarning

__all__ = [
    "SEVERITY_ORDER",
    "SEVERITY_WORDS",
    "Block",
    "Bullets",
    "Card",
    "Cards",
    "Figure",
    "Heading",
    "Paragraphs",
    "ReportDocument",
    "Section",
    "Table",
    "Tone",
    "Verdict",
]

Tone = Literal["up", "down", "flat"]
# How a warning of each severity is introduced, in every layout.
SEVERITY_WORDS = {"stop": "Stop", "caution": "Warning", "note": "Note"}
SEVERITY_ORDER = ("stop", "caution", "note")  # most serious first


@dataclass(frozen=True)
class Verdict:
    """What the report says, in words a product owner can repeat: one line (a test), or one per
    configuration (a sweep); ``tone``: up, down or flat."""

    lines: tuple[str, ...]
    tone: Tone = "flat"


@dataclass(frozen=True)
class Card:
    """A labelled value (with an optional note below it)."""

    label: str
    value: str
    note: str = ""


@dataclass(frozen=True)
class Cards:
    """Labelled values side by side: ``cards`` (small, in a grid) or ``side`` (two wide ones)."""

    cards: tuple[Card, ...]
    layout: Literal["cards", "side"] = "cards"


@dataclass(frozen=True)
class Paragraphs:
    texts: tuple[str, ...]
    muted: bool = False  # secondary text (notes under a table)


@dataclass(frozen=True)
class Bullets:
    items: tuple[str, ...]


@dataclass(frozen=True)
class Table:
    """A table: ``kind`` names it (the HTML class), ``foot`` holds summary rows (Averages),
    ``caption`` the sentence that says how to read it; ``folded``: shown folded under this
    title (a page's details beside the table it leads with)."""

    kind: str
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    foot: tuple[tuple[str, ...], ...] = ()
    caption: str = ""
    folded: str = ""

    def select(self, kind: str, columns: Sequence[int], caption: str = "") -> Table:
        """A table of these columns (by position, in this order) of every row: what a page leads
        with, beside this table folded."""

        def pick(row: tuple[str, ...]) -> tuple[str, ...]:
            return tuple(row[i] for i in columns)

        rows, foot = tuple(map(pick, self.rows)), tuple(map(pick, self.foot))
        return Table(kind, pick(self.header), rows, foot, caption)


@dataclass(frozen=True)
class Figure:
    """A figure by name (``<name>.png`` beside the report, inline SVG in the page)."""

    name: str
    caption: str


@dataclass(frozen=True)
class Heading:
    """A subsection's title."""

    text: str


Block = Paragraphs | Bullets | Cards | Table | Figure | Heading


@dataclass(frozen=True)
class Section:
    anchor: str
    title: str
    blocks: tuple[Block, ...]


@dataclass(frozen=True)
class ReportDocument:
    """A whole report; ``figures``: whether its figures were drawn (else each says so)."""

    title: str
    verdict: Verdict
    lead: tuple[str, ...] = ()
    warnings: tuple[ReportWarning, ...] = ()
    cards: tuple[Card, ...] = ()
    sections: tuple[Section, ...] = ()
    footer: str = ""
    figures: bool = True

    def section(self, anchor: str) -> Section:
        return next(s for s in self.sections if s.anchor == anchor)

    def table(self, kind: str) -> Table:
        """The first table of that kind."""
        tables = (b for s in self.sections for b in s.blocks if isinstance(b, Table))
        return next(t for t in tables if t.kind == kind)
