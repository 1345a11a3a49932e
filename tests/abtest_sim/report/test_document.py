"""One document, two layouts: report.md and report.html say the same verdict, the same warnings,
the same sections in the same order and the same table cells, and the cells are daily.csv's."""

from __future__ import annotations

import html
import re
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from abtest_sim.report.format import interval, p_text
from abtest_sim.report.html import plain
from abtest_sim.report.writer import Arms, ReportContext, ReportInput, write_report
from abtest_sim.stats import SyntheticCtr
from abtest_sim.stats.synthetic import synthetic_unit_days


def unit_days(seed: int = 0, users: int = 300) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    return synthetic_unit_days(
        rng,
        lifts={"A": 0.0, "B": 0.1, "A2": 0.0},
        users=users,
        days=6,
        aa_days=2,
        population=SyntheticCtr(mean_impressions=6),
    )


def pages(folder: Path) -> tuple[str, str]:
    report = folder / "report"
    return (report / "report.md").read_text(), (report / "report.html").read_text()


def md_table(markdown: str, section: str, index: int = 0) -> list[list[str]]:
    """The cells of the ``index``-th table under ``## section`` (header first)."""
    body = markdown.split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    tables = re.findall(r"(?:^\|.*\n?)+", body, flags=re.MULTILINE)
    lines = tables[index].splitlines()
    cells = [[c.strip() for c in line.strip("|").split(" | ")] for line in lines]
    return [cells[0], *cells[2:]]  # without the |---| line


def html_table(page: str, kind: str) -> list[list[str]]:
    """The cells of the table of that class (header first), unescaped."""
    body = page.split(f'<table class="{kind}">', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr>(.*?)</tr>", body, flags=re.DOTALL)
    return [[html.unescape(c) for c in re.findall(r"<t[hd]>(.*?)</t[hd]>", r)] for r in rows]


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> tuple[Path, str, str]:
    out = tmp_path_factory.mktemp("document")
    write_report(ReportInput(unit_days(), Arms("A", "B", aa_control="A2")), out, plots=False)
    return (out, *pages(out))


def test_both_layouts_say_the_same_verdict(written) -> None:
    _, markdown, page = written
    shown = re.search(r'<p class="verdict \w+" id="verdict">(.*?)</p>', page)
    assert shown is not None
    verdict = html.unescape(shown.group(1))
    assert f"\n**{verdict}**\n" in markdown
    assert verdict.startswith(("No detectable difference: the CTR of B", "B has a"))


def test_a_broken_split_says_do_not_act_in_both(tmp_path) -> None:
    arms = Arms("A", "B", shares={"A": 0.8, "B": 0.2})  # designed 80/20, run 50/50: SRM fails
    write_report(ReportInput(unit_days(users=200), arms), tmp_path, plots=False)
    markdown, page = pages(tmp_path)
    for text in (markdown, html.unescape(page)):
        assert "Do not act on this test (see the warnings)." in text
        assert "Stop:" in text and "Sample ratio mismatch (p = " in text


def test_both_layouts_show_the_same_table3_cells_and_they_are_daily_csvs(written) -> None:
    out, markdown, page = written
    lead = html_table(page, "table3")
    assert md_table(markdown, "Daily lift (Table 3)") == lead
    in_markdown = md_table(markdown, "Daily lift (Table 3)", index=1)
    in_html = html_table(page, "table3-all")
    assert in_markdown == in_html
    assert "<details><summary>Every estimator, day by day</summary>" in page
    header, rows = in_html[0], in_html[1:]
    # the table the page leads with: the day, then the headline's lift and p (CUPED here)
    assert lead[0][:3] == ["Day", "CUPED [95% CI]", "p"]
    cuped = header.index("CUPED [95% CI]")
    assert [r[:3] for r in lead[1:]] == [[r[0], r[cuped], r[cuped + 1]] for r in rows]
    for column in ("Lift [95% CI]", "A/B - A/A [95% CI]", "CUPED [95% CI]",
                   "A/B - A/A shared control [95% CI]", "Pooled so far [95% CI]"):  # fmt: skip
        assert column in header
    daily = pl.read_csv(out / "report" / "daily.csv", schema_overrides={"day": pl.String})
    main = daily.filter(pl.col("treatment") == "B")
    assert len(rows) == main.height
    for cells, r in zip(rows, main.iter_rows(named=True), strict=True):
        assert cells[0] == r["day"]
        assert cells[header.index("Lift [95% CI]")] == interval(
            r["lift"], r["ci_low"], r["ci_high"]
        )
        cuped = header.index("CUPED [95% CI]")
        assert cells[cuped] == interval(r["cuped_lift"], r["cuped_ci_low"], r["cuped_ci_high"])
        assert cells[cuped + 1] == p_text(r["cuped_p_value"])


@pytest.mark.parametrize(("section", "kind"), [("Estimators of the A/B lift", "estimators"),
                                               ("Diagnostics", "diagnostics")])  # fmt: skip
def test_both_layouts_show_the_same_estimators_and_checks(written, section, kind) -> None:
    _, markdown, page = written
    assert md_table(markdown, section) == html_table(page, kind)


def test_both_layouts_have_the_same_sections_and_warnings(written) -> None:
    _, markdown, page = written
    md_titles = re.findall(r"^## (.*)$", markdown, flags=re.MULTILINE)
    html_titles = [html.unescape(t) for t in re.findall(r"<h2>(.*?)</h2>", page)]
    assert md_titles == html_titles
    assert md_titles[:3] == ["Lift over the A/B days", "The A/A week beside the A/B week",
                             "Daily lift (Table 3)"]  # fmt: skip
    md_warnings = re.findall(r"^- \*\*(\w+):\*\* (.*)$", markdown, flags=re.MULTILINE)
    html_warnings = re.findall(r'<li class="\w+"><b>(\w+):</b> (.*?)</li>', page)
    assert md_warnings and [(w, plain(t)) for w, t in md_warnings] == [
        (w, html.unescape(t)) for w, t in html_warnings
    ]
    assert ("Note", "The interval holds the noise") in [(w, t[:28]) for w, t in md_warnings]


def test_the_title_names_each_arms_recipe_when_known(tmp_path) -> None:
    context = ReportContext(recipes={"B": "reloop, alpha 0.3", "A": "BCE baseline"})
    write_report(ReportInput(unit_days(users=150), Arms("A", "B"), context=context), tmp_path,
                 plots=False)  # fmt: skip
    markdown, page = pages(tmp_path)
    assert markdown.startswith("# A/B test report: `B` (reloop, alpha 0.3) vs `A` (BCE baseline)")
    assert "<h1>A/B test report: B (reloop, alpha 0.3) vs A (BCE baseline)</h1>" in page
