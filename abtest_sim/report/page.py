"""One self-contained HTML page: the frame, the style sheet and the pieces report.html is made of.

No script, no external asset, no font download: the page opens offline and can be forwarded as
one file. The layout is responsive: at a phone's width (about 390 px) only a table's own scroll
container scrolls sideways. Everything is escaped here (``esc``) unless it is markup this module
or matplotlib made.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape

__all__ = ["Cell", "esc", "figure", "page", "paragraphs", "section", "table", "unordered"]

Cell = str  # text (escaped when the table is built)

STYLE = """
:root { --fg: #1d2330; --muted: #566070; --line: #d8dde6; --bg: #f5f6f8; --card: #fff;
  --accent: #1f5fbf; --good: #146c2e; --bad: #a61b1b; --warn-bg: #fff5d6; --warn: #6b4a00; }
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0; background: var(--bg); color: var(--fg);
  font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; }
main { max-width: 1000px; margin: 0 auto; padding: 16px; }
header, section { background: var(--card); border: 1px solid var(--line); border-radius: 8px;
  padding: 16px; margin: 0 0 16px; min-width: 0; }
h1 { font-size: 1.45rem; line-height: 1.25; margin: 0 0 .4em; }
h2 { font-size: 1.15rem; margin: 0 0 .6em; }
h3 { font-size: 1rem; margin: 1em 0 .4em; }
p, li, figcaption, h1, h2, h3 { overflow-wrap: anywhere; }
p { margin: .5em 0; }
.muted { color: var(--muted); font-size: .92rem; }
.verdict { font-size: 1.2rem; font-weight: 600; margin: .3em 0 .5em; padding: .6em .8em;
  border-left: 6px solid var(--muted); background: #f0f2f5; border-radius: 4px; }
.verdict.up { border-color: var(--good); } .verdict.down { border-color: var(--bad); }
.warnings, .blocking, .notes { border-radius: 6px; padding: .5em .8em .5em 2em; margin: .8em 0; }
.warnings { background: var(--warn-bg); color: var(--warn); }
.blocking { background: #fde8e8; color: var(--bad); border: 2px solid var(--bad);
  font-weight: 600; }
.notes { color: var(--muted); font-size: .92rem; padding-top: 0; padding-bottom: 0; }
.warnings li, .blocking li, .notes li { margin: .3em 0; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(160px, 1fr)); gap: 8px;
  margin: .8em 0; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: 8px 10px; min-width: 0; }
.card span { display: block; color: var(--muted); font-size: .85rem; }
.card b { display: block; font-size: 1.05rem; overflow-wrap: anywhere; }
.side { display: grid; grid-template-columns: repeat(auto-fit, minmax(280px, 1fr)); gap: 12px; }
.table-scroll { overflow-x: auto; max-width: 100%; -webkit-overflow-scrolling: touch;
  border: 1px solid var(--line); border-radius: 6px; }
table { border-collapse: collapse; font-size: .88rem; font-variant-numeric: tabular-nums;
  white-space: nowrap; width: 100%; }
th, td { padding: 5px 8px; border-bottom: 1px solid var(--line); text-align: right; }
th { background: #eef1f5; font-weight: 600; }
th:first-child, td:first-child { text-align: left; position: sticky; left: 0; background: #fff; }
th:first-child { background: #eef1f5; }
tfoot td { font-weight: 600; border-top: 2px solid var(--fg); }
details { margin: .8em 0; } summary { cursor: pointer; color: var(--accent); }
figure { margin: 0 0 12px; }
figure svg { display: block; width: 100%; height: auto; max-width: min(100%, 640px);
  margin: 0 auto; }
figcaption { color: var(--muted); font-size: .9rem; margin-top: 4px; }
footer { color: var(--muted); font-size: .85rem; padding: 0 4px 24px; overflow-wrap: anywhere; }
@media (max-width: 600px) {
  body { font-size: 15px; } main { padding: 8px; }
  header, section { padding: 12px; margin-bottom: 10px; }
  .verdict { font-size: 1.05rem; }
}
"""


def esc(text: object) -> str:
    return escape(str(text), quote=True)


def page(title: str, header: str, sections: Iterable[str], footer: str) -> str:
    """The whole document. ``header``/``sections``: markup; ``title``/``footer``: text."""
    body = "\n".join(sections)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{esc(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n"
        f"<header>\n{header}\n</header>\n{body}\n"
        f"<footer>{esc(footer)}</footer>\n</main>\n</body>\n</html>\n"
    )


def section(anchor: str, title: str, *parts: str) -> str:
    """A titled block; ``parts`` are markup."""
    inner = "\n".join(p for p in parts if p)
    return f'<section id="{esc(anchor)}">\n<h2>{esc(title)}</h2>\n{inner}\n</section>'


def paragraphs(*texts: str, css: str = "") -> str:
    attribute = f' class="{esc(css)}"' if css else ""
    return "\n".join(f"<p{attribute}>{esc(t)}</p>" for t in texts if t)


def unordered(items: Sequence[str], css: str = "") -> str:
    if not items:
        return ""
    attribute = f' class="{esc(css)}"' if css else ""
    rows = "".join(f"<li>{esc(item)}</li>" for item in items)
    return f"<ul{attribute}>{rows}</ul>"


def table(
    header: Sequence[str],
    rows: Sequence[Sequence[Cell]],
    *,
    foot: Sequence[Sequence[Cell]] = (),
    caption: str = "",
    css: str = "",
) -> str:
    """A table in its own horizontal scroll container: ``rows`` in tbody, ``foot`` in tfoot; the
    ``caption`` above it, outside the scroll, so it wraps at the screen's width."""

    def cells(row: Sequence[Cell], tag: str) -> str:
        return "<tr>" + "".join(f"<{tag}>{esc(c)}</{tag}>" for c in row) + "</tr>"

    parts = [f'<p class="muted">{esc(caption)}</p>'] if caption else []
    parts.append(f'<div class="table-scroll"><table class="{esc(css)}">')
    parts.append("<thead>" + cells(header, "th") + "</thead>")
    parts.append("<tbody>" + "\n".join(cells(r, "td") for r in rows) + "</tbody>")
    if foot:
        parts.append("<tfoot>" + "\n".join(cells(r, "td") for r in foot) + "</tfoot>")
    parts.append("</table></div>")
    return "\n".join(parts)


def figure(svg: str | None, caption: str, name: str) -> str:
    """An inline SVG figure with its caption; without a figure (plots switched off) a note."""
    if svg is None:
        return f'<p class="muted">({esc(name)}: figures were switched off for this report.)</p>'
    return (
        f'<figure class="plot" data-name="{esc(name)}" role="img" aria-label="{esc(caption)}">\n'
        f"{svg}\n<figcaption>{esc(caption)}</figcaption>\n</figure>"
    )
