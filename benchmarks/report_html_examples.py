"""Every kind of page the toolkit writes, with screenshots at a desktop and a phone width, into
``benchmarks/results/report_html/``: the report.html of the default simulated run, of
``abtest-analyze`` on a real public log (weeks numbered, and the same log with ISO dates as days),
of ``abtest-sim-aggregate`` over a two-seed smoke sweep, and ``abtest-sim-forecast``'s
forecast.html of the smoke design.

The real log is MovieLens-100k (shipped by the ``recbole`` package the project installs; nothing
is downloaded): each rating is an impression, a rating of 4 or 5 a click, users are split 50/50 by
a salted hash of their id, and weeks of the log are the test's days (the log has about ten users
a day, sixty a week): 14 weeks, the first 7 the A/A pre-period. There is no treatment, so it is a
real A/A test read as an A/B one, and the page should say so.

    python benchmarks/report_html_examples.py --run-dir runs/default

Needs chromium and chromedriver (Debian's chromium, chromium-driver) and selenium for the
screenshots; the default run is simulated into the run dir (``abtest-sim``, a few minutes) or, if
it finished there, only its report is written again; the sweep and the forecast take a few
minutes more.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import polars as pl

from reloop.datasets import movielens100k_frame

OUT = Path("benchmarks/results/report_html")
WIDTHS = {"desktop": (1280, 2300), "phone": (390, 2600)}  # width, height of the top kept
MAX_BYTES = 300_000


def movielens_log(weeks: int = 14) -> pl.DataFrame:
    """MovieLens-100k as an impression log: user, arm (salted hash), week (1..), click."""
    frame = movielens100k_frame()
    start = frame["timestamp"].min()
    week = ((pl.col("timestamp") - start) // (7 * 86_400) + 1).alias("week")
    users = frame["user_id"].unique().sort()
    arms = {
        u: "A" if hashlib.sha256(f"report-html-{u}".encode()).digest()[0] < 128 else "B"
        for u in users.to_list()
    }
    log = frame.select("user_id", week, "click").filter(pl.col("week") <= weeks)
    return log.with_columns(pl.col("user_id").replace_strict(arms).alias("arm"))


def simulated(run_dir: Path) -> Path:
    """The default run's page: simulated into ``run_dir``, or (a finished run there) its report
    written again from its logs with the current code (``resume=true``)."""
    command = [sys.executable, "-m", "abtest_sim", f"run_dir={run_dir}", "resume=true",
               "progress=false"]  # fmt: skip
    subprocess.run(command, check=True)
    return run_dir / "report" / "report.html"


def analyzed(work: Path, *, dates: bool) -> Path:
    """``abtest-analyze`` of the MovieLens log, its weeks as days 1.. or as ISO start dates."""
    name = "analyze_dates" if dates else "analyze"
    log = movielens_log()
    if dates:  # the week's first day, from the log's first rating
        first = movielens100k_frame()["timestamp"].min()
        start = pl.from_epoch(pl.lit(first) + (pl.col("week") - 1) * 7 * 86_400, time_unit="s")
        log = log.with_columns(start.dt.date().cast(pl.String).alias("week"))
    log.write_csv(work / f"{name}.csv")
    command = [sys.executable, "-m", "abtest_sim.apps.analyze",
               f"input={work / f'{name}.csv'}", "unit=user_id", "day=week", "control=A",
               "treatment=B", "aa_days=7",
               f"out={work / name}"]  # fmt: skip
    subprocess.run(command, check=True)
    return work / name / "report" / "report.html"


def aggregated(work: Path) -> Path:
    """``abtest-sim-aggregate`` of a two-seed sweep of the smoke design."""
    sweep = work / "sweep"
    command = [sys.executable, "-m", "abtest_sim", "-m", "experiment=smoke", "seed=0,1",
               f"hydra.sweep.dir={sweep}", "progress=false"]  # fmt: skip
    subprocess.run(command, check=True)
    aggregate = [sys.executable, "-m", "abtest_sim.apps.aggregate", f"input={sweep}"]
    subprocess.run(aggregate, check=True)
    return sweep / "aggregate" / "report.html"


def forecast(work: Path) -> Path:
    """``abtest-sim-forecast`` of the smoke design (its defaults: a first forecast)."""
    out = work / "forecast"
    command = [sys.executable, "-m", "abtest_sim.apps.forecast", "experiment=smoke",
               f"forecast.out={out}"]  # fmt: skip
    subprocess.run(command, check=True)
    return out / "forecast.html"


def screenshots(pages: dict[str, Path]) -> None:
    """Top of each page at each width, as a small palette PNG."""
    from PIL import Image
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                     "--force-device-scale-factor=1"):  # fmt: skip
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    try:
        for name, page in pages.items():
            for screen, (width, height) in WIDTHS.items():
                driver.set_window_size(width, height)
                driver.get(page.resolve().as_uri())
                raw = OUT / f".{name}-{screen}.raw.png"
                driver.save_screenshot(str(raw))
                image = Image.open(raw).convert("RGB").quantize(colors=64, dither=Image.NONE)
                target = OUT / f"{name}-{screen}.png"
                image.save(target, optimize=True)
                raw.unlink()
                size = target.stat().st_size
                print(f"{target}: {image.size[0]}x{image.size[1]}, {size // 1000} kB")
                assert size < MAX_BYTES, f"{target} is {size} bytes"
    finally:
        driver.quit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", type=Path, default=Path("runs/default"))
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as work:
        pages = {
            "default_run": simulated(args.run_dir),
            "movielens_analyze": analyzed(Path(work), dates=False),
            "movielens_analyze_dates": analyzed(Path(work), dates=True),
            "smoke_aggregate": aggregated(Path(work)),
            "smoke_forecast": forecast(Path(work)),
        }
        kept = {name: OUT / f"{name}.html" for name in pages}
        for name, page in pages.items():
            shutil.copyfile(page, kept[name])
        screenshots(kept)


if __name__ == "__main__":
    main()
