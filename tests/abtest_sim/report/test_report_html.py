"""report.html's content (the browser tests check what it looks like) and the confidence sequence
columns of daily.csv and cumulative.csv."""

import re
import subprocess
import sys
from dataclasses import replace

import numpy as np
import polars as pl
import pytest

from abtest_sim.analysis.estimator_base import with_lineage
from abtest_sim.report.document import baseline_ctr, verdict
from abtest_sim.report.writer import Arms, ReportContext, ReportInput, ReportOptions, write_report
from abtest_sim.stats import SyntheticCtr
from abtest_sim.stats.sequential import confidence_sequence
from abtest_sim.stats.synthetic import synthetic_unit_days


def unit_days(seed: int = 0, users: int = 400, lift: float = 0.08) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    return synthetic_unit_days(
        rng,
        lifts={"A": 0.0, "B": lift},
        users=users,
        days=7,
        aa_days=3,
        population=SyntheticCtr(mean_impressions=6),
    )


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    out = tmp_path_factory.mktemp("html")
    summary = write_report(ReportInput(unit_days(), Arms("A", "B")), out)
    return summary, out / "report"


def test_the_page_is_self_contained(written):
    _, folder = written
    html = (folder / "report.html").read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and '<meta name="viewport"' in html
    for outside in ("<script", "<link", " src=", "url(http", "@import", "<img"):
        assert outside not in html, outside
    # the only addresses are SVG namespaces; every reference inside a figure is local
    addresses = set(re.findall(r"https?://[^\"' )]+", html))
    assert addresses <= {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}, addresses
    assert all(ref.startswith("#") for ref in re.findall(r'href="([^"]*)"', html))
    ids = re.findall(r'\bid="([^"]+)"', html)
    assert len(ids) == len(set(ids))  # figures' ids prefixed: no collision between figures
    assert html.count("<svg") == 3


def test_the_page_says_the_verdict_and_holds_every_day(written):
    summary, folder = written
    html = (folder / "report.html").read_text(encoding="utf-8")
    text, tone = verdict(summary)
    assert text.replace("'", "&#x27;") in html
    lead = summary.lead
    assert f"{abs(100 * lead.lift):.2f}%" in text or f"{100 * lead.lift:+.2f}%" in text
    assert tone in {"up", "down", "flat"}
    body = html.split('class="table3"')[1].split("</table>")[0]
    tbody = body.split("<tbody>")[1].split("</tbody>")[0]
    assert tbody.count("<tr>") == summary.days
    assert body.split("<tfoot>")[1].count("<tr>") == 2  # the A/A and A/B Average rows
    for words in (
        "Always-valid band",
        "The A/A week beside the A/B week",
        "Sample ratio",
        "Minimum detectable lift",
        "Waudby-Smith",
    ):
        assert words in html, words
    base = baseline_ctr(summary)
    assert base is not None and 0 < base < 1
    assert f"{100 * summary.lead.lift * base:+.3f} pp on a control CTR of {100 * base:.2f}%" in html
    # a per-user log without the models' predictions or truth: no simulator-only text
    for words in ("Calibration of the models", "stats.lineage_sd"):
        assert words not in html, words


def test_verdict_words_follow_the_test(written):
    summary, _ = written

    def lead(lift: float, se: float, **changes):
        estimate = with_lineage(summary.headline, lift, se, alpha=0.05, lineage_sd=None)
        changes.setdefault("lineage_note", "")
        return replace(summary, estimates={summary.headline: estimate}, **changes)

    assert verdict(lead(0.031, 0.01)) == (
        "B has a 3.10% higher CTR than A (95% interval +1.14% to +5.06%); the difference is "
        "statistically significant (p = 0.0019).",
        "up",
    )
    named = verdict(lead(0.031, 0.01), {"B": "reloop, alpha 0.5", "A": "BCE baseline"})[0]
    assert named.startswith("B (reloop, alpha 0.5) has a 3.10% higher CTR than A (95%")
    down = verdict(lead(-0.031, 0.01))
    assert down[0].startswith("B has a 3.10% lower CTR than A (95% interval -5.06% to -1.14%)")
    assert down[1] == "down"
    assert verdict(lead(0.005, 0.01)) == (
        "No detectable difference: the CTR of B is +0.50% against A (95% interval -1.46% to "
        "+2.46%), an interval that includes zero (p = 0.6171).",
        "flat",
    )
    unmeasured = verdict(lead(0.031, 0.01, lineage_note="measure it with abtest-sim-forecast"))[0]
    assert unmeasured.endswith(
        "Its interval omits model-lineage variance (measure it with abtest-sim-forecast)."
    )
    broken = verdict(lead(0.031, 0.01, srm_p_value=1e-6))[0]
    assert broken.startswith("Do not act on this test (see the warnings). B has a 3.10% higher")


def test_cumulative_csv_is_the_headline_after_each_day(written):
    """cumulative.csv (the chart of the lift over the days) is the headline estimator's lift
    after each A/B day: its last row is the headline, interval included, and its always-valid
    band is the confidence sequence of its own lift and total SE."""
    summary, folder = written
    daily = pl.read_csv(folder / "daily.csv", schema_overrides={"day": pl.String})
    cumulative = pl.read_csv(folder / "cumulative.csv", schema_overrides={"day": pl.String})
    ab_days = daily.filter((pl.col("phase") == "ab") & (pl.col("day") != "Average"))
    assert ab_days["day"].to_list() == cumulative["day"].to_list()
    assert set(cumulative["estimator"]) == {summary.headline}
    lead, last = summary.lead, cumulative.row(cumulative.height - 1, named=True)
    assert last["lift"] == pytest.approx(lead.lift, rel=1e-12)
    assert last["se_total"] == pytest.approx(lead.se_total, rel=1e-12)
    assert (last["ci_low"], last["ci_high"]) == pytest.approx(
        (lead.total_ci_low, lead.total_ci_high), rel=1e-12
    )
    low, high = confidence_sequence(
        cumulative["lift"].to_numpy(),
        cumulative["se_total"].to_numpy(),
        cumulative["units"].to_numpy(),
        alpha=summary.alpha,
    )
    assert cumulative["cs_low"].to_numpy() == pytest.approx(low, rel=1e-12)
    assert cumulative["cs_high"].to_numpy() == pytest.approx(high, rel=1e-12)
    assert ((cumulative["cs_low"] <= cumulative["ci_low"]).all()) and (
        (cumulative["cs_high"] >= cumulative["ci_high"]).all()
    )


def test_cs_rho_tunes_the_sequence_and_bad_values_are_refused(tmp_path):
    options = ReportOptions(cs_rho=0.5)
    write_report(ReportInput(unit_days(), Arms("A", "B"), options=options), tmp_path)
    tuned = pl.read_csv(tmp_path / "report" / "cumulative.csv")
    low, _ = confidence_sequence(tuned["lift"], tuned["se"], tuned["units"], alpha=0.05, rho=0.5)
    assert tuned["cs_low"].to_numpy() == pytest.approx(low, rel=1e-12)
    assert ReportOptions.from_mapping({"cs_rho": 0.01}).cs_rho == 0.01
    assert ReportOptions.from_mapping({"cs_rho": None}).cs_rho is None
    for bad in (-1, 0, "abc", True, float("inf")):
        with pytest.raises(ValueError, match="cs_rho must be a positive number"):
            ReportOptions.from_mapping({"cs_rho": bad})


def test_without_plots_the_page_is_still_written(tmp_path):
    write_report(ReportInput(unit_days(users=150), Arms("A", "B")), tmp_path, plots=False)
    names = sorted(p.name for p in (tmp_path / "report").iterdir())
    assert "report.html" in names and not [n for n in names if n.endswith(".png")]
    html = (tmp_path / "report" / "report.html").read_text(encoding="utf-8")
    assert "<svg" not in html and "figures were switched off" in html


def test_a_calibration_table_is_shown_when_present(tmp_path):
    calibration = pl.DataFrame(
        {"arm": ["A", "B"], "day": [4, 4], "mean_pctr": [0.05, 0.052], "share_rose": [0.4, 0.6]}
    )
    context = ReportContext(calibration=calibration)
    report = ReportInput(unit_days(users=150), Arms("A", "B"), context=context)
    write_report(report, tmp_path, plots=False)
    html = (tmp_path / "report" / "report.html").read_text(encoding="utf-8")
    assert 'class="calibration"' in html and "share of pCTRs that rose" in html
    assert "60.00%" in html and "Not in this report" not in html
    # pivoted: one row per day, a column per measure and arm
    table = html.split('<table class="calibration">')[1].split("</table>")[0]
    assert "<th>share of pCTRs that rose: A</th><th>share of pCTRs that rose: B</th>" in table
    assert table.split("<tbody>")[1].count("<tr>") == 1


@pytest.mark.slow
def test_pages_are_byte_identical_across_processes(reference_run, tmp_path):
    """Two processes (each its own hash seed) write the same aggregate page of the same run."""
    pages = []
    for name in ("a", "b"):
        out = tmp_path / name
        command = [sys.executable, "-m", "abtest_sim.apps.aggregate", f"input={reference_run}",
                   f"out={out}"]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        pages.append((out / "report.html").read_bytes())
    assert pages[0] == pages[1] and b"<svg" in pages[0]


def test_the_page_says_which_reading_decides_when_they_disagree(written):
    """A significant headline beside an always-valid band that never left zero (and the
    reverse): one sentence says which reading decides for a test read once or watched daily."""
    from abtest_sim.report.sections import lift_over_days

    summary, _ = written
    cumulative = pl.DataFrame(
        {"day": ["1", "2"], "lift": [0.01, 0.02], "ci_low": [-0.01, 0.001],
         "ci_high": [0.03, 0.04], "cs_low": [-0.05, -0.03], "cs_high": [0.07, 0.06],
         "target_lift": [None, None], "launch_lift": [None, None]},
    )  # fmt: skip

    def text(lift: float) -> str:
        estimate = with_lineage(summary.headline, lift, 0.01, alpha=0.05, lineage_sd=None)
        section = lift_over_days(
            replace(summary, estimates={summary.headline: estimate}), cumulative
        )
        return " ".join(section.blocks[0].texts)

    significant = text(0.031)
    assert "The two readings disagree" in significant
    assert "headline interval (significant)" in significant and "never excluded zero" in significant
    assert "disagree" not in text(0.001)  # both say no difference
