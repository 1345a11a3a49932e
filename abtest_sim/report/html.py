"""A ``ReportDocument`` laid out as one self-contained HTML page (report.html of a test and of a
sweep): the header (verdict, lead, warnings, key figures) and the sections, with the figures inline
as SVG. The frame, the style sheet and the escaping are ``abtest_sim.report.page``'s.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from abtest_sim.analysis.warnings import ReportWarning
from abtest_sim.report.blocks import (
    SEVERITY_WORDS,
    Block,
    Bullets,
    Card,
    Cards,
    Figure,
    Heading,
    Paragraphs,
    ReportDocument,
    Table,
)
from abtest_sim.report.page import esc, figure, page, paragraphs, section, table, unordered

__all__ = ["plain", "render_html"]

_CODE = re.compile(r"`([^`]*)`")
_EMPHASIS = re.compile(r"\*([^*\s][^*]*?)\*")


def plain(text: str) -> str:
    """A document's text without its Markdown marks (inline code, emphasis)."""
    return _EMPHASIS.sub(r"\1", _CODE.sub(r"\1", text))


def render_html(document: ReportDocument, svgs: Mapping[str, str] | None = None) -> str:
    """The page; ``svgs``: the figures by name as inline SVG (None or missing: a note instead)."""
    svgs = svgs or {}
    sections = [
        section(s.anchor, plain(s.title), *(_block(b, svgs, document.figures) for b in s.blocks))
        for s in document.sections
    ]
    title = plain(document.title)
    return page(title, _header(document, title), sections, plain(document.footer))


def _header(document: ReportDocument, title: str) -> str:
    verdict = document.verdict
    lines = [plain(line) for line in verdict.lines]
    if len(lines) == 1:
        shown = f'<p class="verdict {verdict.tone}" id="verdict">{esc(lines[0])}</p>'
    else:
        shown = f'<div id="verdict" class="verdict {verdict.tone}">{unordered(lines)}</div>'
    parts = [
        f"<h1>{esc(title)}</h1>",
        _warnings(document.warnings, ("stop",), "blocking", ' role="alert"'),
        shown,
        paragraphs(*(plain(t) for t in document.lead), css="muted"),
        _warnings(document.warnings, ("caution",), "warnings"),
        _warnings(document.warnings, ("note",), "notes"),
        _cards(document.cards, "cards") if document.cards else "",
    ]
    return "\n".join(p for p in parts if p)


def _warnings(
    warnings: Sequence[ReportWarning], severities: Sequence[str], css: str, role: str = ""
) -> str:
    """The warnings of ``severities`` as one list: stops in a red banner above the verdict (the
    test must not be acted on), cautions in yellow, routine notes muted."""
    items = "".join(
        f'<li class="{w.severity}"><b>{SEVERITY_WORDS[w.severity]}:</b> {esc(plain(w.text))}</li>'
        for w in warnings
        if w.severity in severities
    )
    return f'<ul class="{css}" id="{css}"{role}>{items}</ul>' if items else ""


def _cards(cards: Sequence[Card], layout: str) -> str:
    inner = "".join(
        f'<div class="card"><span>{esc(plain(c.label))}</span><b>{esc(plain(c.value))}</b>'
        + (f"<span>{esc(plain(c.note))}</span>" if c.note else "")
        + "</div>"
        for c in cards
    )
    return f'<div class="{layout}">{inner}</div>'


def _block(block: Block, svgs: Mapping[str, str], figures: bool) -> str:
    if isinstance(block, Paragraphs):
        return paragraphs(*(plain(t) for t in block.texts), css="muted" if block.muted else "")
    if isinstance(block, Bullets):
        return unordered([plain(item) for item in block.items])
    if isinstance(block, Cards):
        return _cards(block.cards, block.layout)
    if isinstance(block, Table):
        shown = table(
            [plain(h) for h in block.header],
            [[plain(c) for c in row] for row in block.rows],
            foot=[[plain(c) for c in row] for row in block.foot],
            caption=plain(block.caption),
            css=block.kind,
        )
        if not block.folded:
            return shown
        return f"<details><summary>{esc(plain(block.folded))}</summary>\n{shown}\n</details>"
    if isinstance(block, Figure):
        svg = svgs.get(block.name) if figures else None
        return figure(svg, plain(block.caption), block.name)
    assert isinstance(block, Heading)
    return f"<h3>{esc(plain(block.text))}</h3>"
