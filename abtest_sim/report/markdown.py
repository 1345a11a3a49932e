"""A ``ReportDocument`` laid out as Markdown (report.md of a test and of a sweep); its tables
through the one Markdown-table helper, ``abtest_sim.report.format.markdown_table``."""

from __future__ import annotations

from collections.abc import Sequence

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
from abtest_sim.report.format import markdown_table

__all__ = ["render_markdown"]


def render_markdown(document: ReportDocument) -> str:
    """The whole document: the header, then each section (``##``) with its blocks."""
    lines = [f"# {document.title}", ""]
    verdict = document.verdict.lines
    lines += [f"**{verdict[0]}**", ""] if len(verdict) == 1 else [*_bullets(verdict), ""]
    lines += [line for text in document.lead for line in (text, "")]
    alerts = [f"**{SEVERITY_WORDS[w.severity]}:** {w.text}" for w in document.warnings]
    lines += [*_bullets(alerts), ""] if alerts else []
    lines += [*_cards(document.cards), ""] if document.cards else []
    for section in document.sections:
        lines += [f"## {section.title}", ""]
        for block in section.blocks:
            lines += [*_block(block, document.figures), ""]
    if document.footer:
        lines += [document.footer, ""]
    return "\n".join(lines)


def _bullets(items: Sequence[str]) -> list[str]:
    return [f"- {item}" for item in items]


def _cards(cards: Sequence[Card]) -> list[str]:
    return _bullets([f"{c.label}: **{c.value}**" + (f"; {c.note}" if c.note else "")
                     for c in cards])  # fmt: skip


def _block(block: Block, figures: bool) -> list[str]:
    if isinstance(block, Paragraphs):
        return [line for text in block.texts for line in (text, "")][:-1]
    if isinstance(block, Bullets):
        return _bullets(block.items)
    if isinstance(block, Cards):
        return _cards(block.cards)
    if isinstance(block, Table):
        title = [f"**{block.folded}**", ""] if block.folded else []
        caption = [block.caption, ""] if block.caption else []
        return title + caption + markdown_table(block.header, [*block.rows, *block.foot])
    if isinstance(block, Figure):
        if not figures:
            return [f"({block.name}: figures were switched off for this report.)"]
        return [f"![{block.caption}]({block.name}.png)"]
    assert isinstance(block, Heading)
    return [f"### {block.text}"]
