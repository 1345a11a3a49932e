"""Every kind of report.html in a real browser (headless Chromium through Selenium): what a person
sees, at a desktop and a phone width, with a screenshot of each kept as a test artefact.

Needs Debian's ``chromium`` and ``chromium-driver`` (``.ci/run`` installs them) and selenium (the
``test`` extra). Without them the tests skip, saying why, unless ``ABTEST_REQUIRE_BROWSER=1``
(set by ``.ci/run``), which makes a missing browser a failure. Screenshots go to pytest's
``tmp_path`` and are copied to ``test-artifacts/`` at the repository root (git-ignored).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from itertools import pairwise
from pathlib import Path

import polars as pl
import pytest

from abtest_sim.sweep.aggregate import aggregate

pytestmark = pytest.mark.slow

ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts"
WIDTHS = {"desktop": 1280, "phone": 390}


def _missing(why: str):
    if os.environ.get("ABTEST_REQUIRE_BROWSER") == "1":
        pytest.fail(f"ABTEST_REQUIRE_BROWSER=1 but {why}")
    pytest.skip(f"{why}: install chromium and chromium-driver (Debian) and selenium")


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium for the module, its console log kept."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _missing("selenium is not installed")
    binary = next(filter(None, map(shutil.which, ("chromium", "chromium-browser"))), None)
    driver_path = shutil.which("chromedriver")
    if binary is None or driver_path is None:
        _missing("no chromium or chromedriver on PATH")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                     "--disable-dev-shm-usage", "--force-device-scale-factor=1"):  # fmt: skip
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    yield driver
    driver.quit()


def _summary(folder: Path) -> dict:
    return json.loads((folder / "summary.json").read_text())["summary"]


@pytest.fixture(scope="module")
def pages(reference_run, tmp_path_factory) -> dict[str, tuple[Path, dict | None]]:
    """The three writers' pages: the simulator's smoke run, abtest-analyze on that run's
    unit_days.parquet, and abtest-sim-aggregate over the run."""
    out = tmp_path_factory.mktemp("pages")
    # the same log with real dates as days (2024-03-01 onwards), as a team's own log has them
    unit_days = pl.read_parquet(reference_run / "unit_days.parquet")
    first = pl.date(2024, 2, 29)
    dated = unit_days.with_columns((first + pl.duration(days="day")).dt.to_string().alias("day"))
    dated.write_parquet(out / "dated.parquet")
    for name, log in (("analyze", reference_run / "unit_days.parquet"),
                      ("analyze_dates", out / "dated.parquet")):  # fmt: skip
        command = [sys.executable, "-m", "abtest_sim.apps.analyze", f"input={log}",
                   "control=control", "treatment=treatment", "phase=phase",
                   f"out={out / name}"]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
    aggregate(reference_run, out / "aggregate")
    folders = {"simulation": reference_run / "report", "analyze": out / "analyze" / "report",
               "analyze_dates": out / "analyze_dates" / "report"}  # fmt: skip
    found = {kind: (folder / "report.html", _summary(folder)) for kind, folder in folders.items()}
    return found | {"aggregate": (out / "aggregate" / "report.html", None)}


def _open(driver, path: Path, width: int) -> None:
    driver.set_window_size(width, 900)
    driver.get(path.as_uri())
    driver.get_log("browser")  # start each page with an empty console log


def _screenshot(driver, name: str, tmp_path: Path) -> Path:
    """The whole page at the window's width, into tmp_path and test-artifacts/."""
    width = driver.execute_script("return window.innerWidth")
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(driver.get_window_size()["width"], min(height, 12000))
    path = tmp_path / f"{name}.png"
    assert driver.save_screenshot(str(path))
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copyfile(path, ARTIFACTS / path.name)
    assert width > 0 and path.stat().st_size > 10_000
    return path


def _visible_size(element) -> tuple[float, float]:
    rect = element.rect
    return rect["width"], rect["height"]


@pytest.mark.parametrize("kind", ["simulation", "analyze", "analyze_dates", "aggregate"])
@pytest.mark.parametrize("screen", list(WIDTHS))
def test_a_person_sees_the_report(browser, pages, kind, screen, tmp_path):
    from selenium.webdriver.common.by import By

    path, summary = pages[kind]
    width = WIDTHS[screen]
    _open(browser, path, width)
    verdict = browser.find_element(By.ID, "verdict")
    assert verdict.is_displayed() and len(verdict.text) > 40
    plots = browser.find_elements(By.CSS_SELECTOR, "figure.plot svg")
    assert len(plots) == 3
    for svg in plots:
        plot_width, plot_height = _visible_size(svg)
        assert plot_width > 0.5 * min(width, 1000) - 80, plot_width
        assert plot_height > 100, plot_height
        assert plot_width <= width
    _check_figure_text(browser, plots)
    if summary is not None:
        _check_test_report(browser, summary)
    _check_tables(browser, width)
    # only a table's own scroll container may scroll sideways
    page_width = browser.execute_script("return document.documentElement.scrollWidth")
    assert page_width <= browser.execute_script("return window.innerWidth")
    _screenshot(browser, f"report-{kind}-{screen}-{width}", tmp_path)
    severe = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert severe == []


# matplotlib draws text as glyph paths; a digit's height is about 0.73 of the font size (DejaVu
# Sans), so a y tick label of digits at least 0.73 * 9 px high renders a font of 9 px or more.
DIGIT_HEIGHT = 0.73
MIN_FONT_PX = 9


def _label_boxes(svg, axis: str) -> list[dict]:
    """The rendered boxes of the tick labels of ``axis`` (x or y) of one inline figure."""
    from selenium.webdriver.common.by import By

    labels = svg.find_elements(By.CSS_SELECTOR, f'g[id*="-{axis}tick_"] > g[id*="-text_"]')
    boxes = [label.rect for label in labels]
    return [box for box in boxes if box["width"] > 0]


def _check_figure_text(driver, plots) -> None:
    """No two x tick labels of a figure overlap, and its text renders at 9 px or more."""
    for svg in plots:
        xs = sorted(_label_boxes(svg, "x"), key=lambda box: box["x"])
        assert xs
        for left, right in pairwise(xs):
            assert left["x"] + left["width"] <= right["x"] + 0.5, (left, right)
        ys = _label_boxes(svg, "y")
        assert ys and min(box["height"] for box in ys) >= DIGIT_HEIGHT * MIN_FONT_PX, ys


def _check_tables(driver, width: int) -> None:
    """At a desktop width no table the page shows scrolls sideways (folded ones are details a
    reader opens); at a phone's, Table 3's day and headline lift are on screen."""
    from selenium.webdriver.common.by import By

    scrollers = [s for s in driver.find_elements(By.CSS_SELECTOR, ".table-scroll")
                 if s.is_displayed()]  # fmt: skip
    assert scrollers
    if width >= 1280:
        for scroller in scrollers:
            overflow = driver.execute_script(
                "return arguments[0].scrollWidth - arguments[0].clientWidth", scroller
            )
            assert overflow <= 1, scroller.find_element(By.TAG_NAME, "table").get_attribute("class")
    lead = driver.find_elements(By.CSS_SELECTOR, "table.table3 thead th")
    if lead:
        for cell in lead[:2]:  # the day, the headline's lift
            assert cell.rect["x"] + cell.rect["width"] <= width, cell.text


def _check_test_report(driver, summary: dict) -> None:
    from selenium.webdriver.common.by import By

    lead = summary["estimates"][summary["headline"]]
    verdict = driver.find_element(By.ID, "verdict").text
    shown = f"{abs(100 * lead['lift']):.2f}%"
    assert shown in verdict, (shown, verdict)
    assert f"{100 * lead['total_ci_low']:+.2f}%" in verdict
    rows = driver.find_elements(By.CSS_SELECTOR, "table.table3 tbody tr")
    assert len(rows) == summary["days"]
    averages = driver.find_elements(By.CSS_SELECTOR, "table.table3 tfoot tr")
    assert len(averages) == (2 if summary["aa_days"] else 1)
    first_cells = [row.find_elements(By.TAG_NAME, "td")[0].get_attribute("textContent")
                   for row in rows]  # fmt: skip
    assert len(set(first_cells)) == summary["days"]
    scroller = driver.find_element(By.CSS_SELECTOR, "#table3 .table-scroll")
    assert scroller.rect["width"] <= driver.execute_script("return window.innerWidth")
    band = driver.find_element(By.ID, "lift-over-days").text
    assert "always-valid" in band
    # one lift per page: the chart of the lift over the days ends on the headline
    last = driver.find_element(By.CSS_SELECTOR, '#lift-over-days g[id$="last-point"]')
    assert last.rect["width"] > 0
    drawn = re.search(r"<!--\s*(\S+)\s*-->", last.get_attribute("innerHTML"))
    assert drawn is not None and drawn.group(1) == f"{100 * lead['lift']:+.2f}%", drawn


def test_the_console_check_sees_errors(browser, tmp_path):
    """The console assertion above is not vacuous: a page with a script error is caught."""
    page = tmp_path / "broken.html"
    page.write_text("<!DOCTYPE html><title>x</title><script>undefinedFunction();</script>")
    browser.get(page.as_uri())
    assert any(entry["level"] == "SEVERE" for entry in browser.get_log("browser"))


@pytest.fixture(scope="module")
def forecast_page(tmp_path_factory) -> Path:
    """A forecast's page, from replicate rows made up here (the page, not the simulation, is
    what this checks; the app's own run is tests/abtest_sim/apps/test_forecast_app.py)."""
    import numpy as np

    from abtest_sim.sweep.forecast import forecast
    from abtest_sim.sweep.forecast_document import ForecastContext
    from abtest_sim.sweep.forecast_output import write_forecast

    rng = np.random.default_rng(0)
    keys = ("pooled", "mean_daily", "ab_minus_aa", "cuped")
    aa, test = [], []
    for seed in range(40):
        row = {"seed": seed, "users": 5000.0}
        for key in keys:
            lift = float(rng.normal(0, 0.012))
            row |= {f"{key}_lift": lift, f"{key}_se": 0.01, f"{key}_target": lift * 0.3}
        aa.append(row)
    for seed in range(8):
        launch_days = list(0.004 + rng.normal(0, 0.001, 7))
        row = {"seed": seed, "users": 5000.0, "launch": float(np.mean(launch_days)),
               "launch_days": launch_days}  # fmt: skip
        for key in keys:
            row |= {f"{key}_lift": row["launch"] + float(rng.normal(0, 0.01)), f"{key}_se": 0.01,
                    f"{key}_launch": row["launch"]}  # fmt: skip
        test.append(row)
    result = forecast(test, aa, headline="cuped", alpha=0.05, power=0.8)
    context = ForecastContext(
        change="`treatment` (reloop, alpha 0.1, y_last logged) against `control`", ab_days=7,
        design="0123456789abcdef0123", command="abtest-sim-forecast experiment=smoke",
        stored="stored for the design",
    )  # fmt: skip
    out = tmp_path_factory.mktemp("forecast")
    write_forecast(result, context, out)
    return out / "forecast.html"


@pytest.mark.parametrize("screen", list(WIDTHS))
def test_a_person_sees_the_forecast(browser, forecast_page, screen, tmp_path):
    """The lead sentence names the change and the launch effect; the launch curve is drawn at a
    real size; no table pushes the page sideways; the console is clean."""
    from selenium.webdriver.common.by import By

    width = WIDTHS[screen]
    _open(browser, forecast_page, width)
    verdict = browser.find_element(By.ID, "verdict")
    assert verdict.is_displayed()
    assert verdict.text.startswith("Shipping treatment (reloop, alpha 0.1")  # code: no backticks
    assert "simulated world" in verdict.text and "power" in verdict.text
    plots = browser.find_elements(By.CSS_SELECTOR, "figure.plot svg")
    assert len(plots) == 1
    plot_width, plot_height = _visible_size(plots[0])
    assert 0.5 * min(width, 1000) - 80 < plot_width <= width and plot_height > 100
    _check_figure_text(browser, plots)
    tables = browser.find_elements(By.TAG_NAME, "table")
    assert len(tables) >= 2
    page_width = browser.execute_script("return document.documentElement.scrollWidth")
    assert page_width <= browser.execute_script("return window.innerWidth")
    _screenshot(browser, f"forecast-{screen}-{width}", tmp_path)
    severe = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert severe == []
