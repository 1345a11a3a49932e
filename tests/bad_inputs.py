"""A table of bad inputs across the command-line apps (``bad_input_cases.py``), and its driver.

Each case must end with exit code 2, one line on stderr naming the problem, no traceback and
nothing written. The driver runs every case of one app in one process (``--in-process``: fast, the
way the test runs them) or each in its own subprocess with a timeout (the honest count before a
fix: a case that is accepted runs its whole job). Files the cases read are made by ``make_inputs``.

    python tests/bad_inputs.py --subprocess --timeout 40     # counts: clean / traceback / accepted
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np
import polars as pl
from bad_input_cases import APPS, CASES


def make_inputs(folder: Path) -> None:
    """The files the cases read: a valid unit-day log and its broken variants, a sweep dir with a
    corrupt summary, an empty dir, a plain file."""
    rng = np.random.default_rng(0)
    units = np.repeat(np.arange(200), 4)
    days = np.tile(np.arange(1, 5), 200)
    impressions = rng.integers(1, 6, units.size)
    log = pl.DataFrame(
        {
            "unit": units,
            "arm": np.where(units % 2 == 0, "A", "B"),
            "day": days,
            "phase": np.where(days <= 2, "aa", "ab"),
            "clicks": rng.binomial(impressions, 0.1),
            "impressions": impressions,
        }
    )
    log.drop("phase").write_csv(folder / "days.csv")
    broken_tables(folder, log.drop("phase"))
    interactions(rng).write_csv(folder / "interactions.csv")
    calibrate_logs(folder)
    log.write_parquet(folder / "unit_days.parquet")
    log.with_columns(pl.lit("ab").alias("phase")).write_csv(folder / "days_with_phase.csv")
    text = log.with_columns(pl.col("clicks").cast(pl.String).replace("0", "none"))
    text.drop("phase").write_csv(folder / "text_clicks.csv")
    inf = log.with_columns(pl.col("impressions").cast(pl.Float64).replace(3.0, float("inf")))
    inf.drop("phase").write_csv(folder / "inf_impressions.csv")
    names = {1: "mon", 2: "tue", 3: "wed", 4: "thu"}
    log.with_columns(pl.col("day").replace_strict(names)).drop("phase").write_csv(
        folder / "text_days.csv"
    )
    (folder / "a_dir").mkdir()
    (folder / "empty_dir").mkdir()
    (folder / "a_file").write_text("not a directory\n")
    run = folder / "corrupt_sweep" / "0"
    (run / "report").mkdir(parents=True)
    (run / "config.json").write_text("{}")
    (run / "report" / "summary.json").write_text("{not json")
    (folder / "users_folder").mkdir()
    (folder / "users_folder" / "notes.md").write_text("a user's file\n")
    malformed_sweeps(folder)


def malformed_sweeps(folder: Path) -> None:
    """Sweeps whose one run is malformed in one way each (the aggregate skips and names it)."""
    config = {"seed": 0, "world": {}, "model": {}, "experiment": {}, "arms": []}
    summary = {"summary": {"estimates": {"cuped": {"lift": 0.01, "se": 0.01}}}}
    broken = {
        "config_list": ("[]", summary),
        "config_null": ("null", summary),
        "estimates_list": (json.dumps(config), {"summary": {"estimates": []}}),
        "string_number": (
            json.dumps(config),
            {"summary": {"estimates": {"cuped": {"lift": "big"}}}},
        ),
        "summary_list": (json.dumps(config), {"summary": []}),
    }
    for name, (config_text, report) in broken.items():
        run = folder / f"sweep_{name}" / "0"
        (run / "report").mkdir(parents=True)
        (run / "config.json").write_text(config_text)
        (run / "report" / "summary.json").write_text(json.dumps(report))


def broken_tables(folder: Path, log: pl.DataFrame) -> None:
    """Unit-day logs that cannot be read (files) or used (values) by abtest-analyze and the plan."""
    text = (folder / "days.csv").read_text()
    header, body = text.split("\n", 1)
    lines = body.splitlines()
    files = {
        "dup_header.csv": f"{header},clicks\n" + "".join(f"{x},0\n" for x in lines),
        "empty.csv": "", "header_only.csv": header + "\n",
        "ragged.csv": "\n".join([header, *lines[:3], lines[3] + ",7", *lines[4:]]) + "\n",
        "short_line.csv": "\n".join([header, *lines[:3], lines[3].rsplit(",", 1)[0]]) + "\n",
        "blank_line.csv": "\n".join([header, *lines[:3], "", *lines[3:]]) + "\n",
        "garbage.parquet": "PAR1 this is not a parquet file PAR1",
        "days.txt": text,
    }  # fmt: skip
    for name, content in files.items():
        (folder / name).write_text(content)
    log.write_parquet(folder / "parquet_as.csv")
    whole = (folder / "parquet_as.csv").read_bytes()
    (folder / "truncated.parquet").write_bytes(whole[: len(whole) // 2])
    (folder / "latin1.csv").write_bytes((header + "\nd\xe9j\xe0,A,1,0,1\n").encode("latin-1"))
    first = pl.col("unit") == 0
    hours = pl.datetime(2024, 1, 1) + pl.duration(hours=pl.col("day") * 7 + pl.col("unit") % 5)
    edits = {
        "hours.parquet": log.with_columns(hours.alias("day")),
        "hours_text.csv": log.with_columns(hours.dt.strftime("%Y-%m-%d %H:%M:%S").alias("day")),
        "huge_impressions.csv": log.with_columns(
            pl.when(first).then(1e23).otherwise(pl.col("impressions")).alias("impressions")),
        "overflow.csv": log.with_columns(
            pl.when(pl.col("unit") < 8).then(2**62).otherwise("impressions").alias("impressions")),
        "negative_clicks.csv": log.with_columns(
            pl.when(first).then(-1).otherwise("clicks").alias("clicks")),
        "clicks_over.csv": log.with_columns(
            pl.when(first).then(pl.col("impressions") + 1).otherwise("clicks").alias("clicks")),
        "bool_clicks.csv": log.with_columns(pl.col("clicks") > 0),
        "shared_unit.csv": log.with_columns(
            pl.when(pl.col("arm") == "B").then(0).otherwise("unit").alias("unit")),
        "one_unit_arm.csv": log.filter((pl.col("arm") == "A") | (pl.col("unit") == 1)),
        "int_arm.csv": log.with_columns(pl.col("arm").replace_strict({"A": 0, "B": 1})),
        "nulls.csv": log.with_columns(
            pl.when(first).then(None).otherwise("clicks").alias("clicks")),
        "nan_clicks.csv": log.with_columns(
            pl.when(first).then(float("nan")).otherwise(pl.col("clicks")).alias("clicks")),
    }  # fmt: skip
    for name, frame in edits.items():
        (frame.write_parquet if name.endswith(".parquet") else frame.write_csv)(folder / name)


def interactions(rng: np.random.Generator) -> pl.DataFrame:
    """A made-up interaction log: 300 users, 50 items, 10 days, a text time column ``when``."""
    n = 6000
    seconds = 1_700_000_000 + rng.integers(0, 10 * 86_400, n)
    return pl.DataFrame(
        {
            "user_id": rng.integers(0, 300, n),
            "item_id": rng.integers(0, 50, n),
            "timestamp": seconds,
            "when": pl.Series(seconds).cast(pl.String).str.replace("^", "t"),
            "click": rng.binomial(1, 0.1, n),
            "kind": rng.choice(["a", "b"], n),
        }
    )


def calibrate_logs(folder: Path) -> None:
    """Broken interaction logs for abtest-sim-calibrate (``cal_*``), each a variant of a small
    valid one (60 users, 20 items, 10 days, epoch seconds)."""
    rng = np.random.default_rng(1)
    n = 600
    log = pl.DataFrame({"user_id": rng.integers(0, 60, n), "item_id": rng.integers(0, 20, n),
                        "timestamp": 1_700_000_000 + rng.integers(0, 10 * 86_400, n),
                        "click": rng.binomial(1, 0.2, n)})  # fmt: skip
    every_7th = pl.int_range(pl.len()) % 7 == 0
    ts, click = pl.col("timestamp"), pl.col("click")
    variants = {
        "nan_click": pl.when(every_7th).then(float("nan")).otherwise(click).alias("click"),
        "null_click": pl.when(every_7th).then(None).otherwise(click).alias("click"),
        "inf_time": pl.when(every_7th).then(float("inf")).otherwise(ts).alias("timestamp"),
        "text_time": pl.from_epoch(ts).dt.to_string().str.replace("^", "at "),
        "ms": ts * 1000,
        "relative": ts - 1_700_000_000,
        "wide": (ts - 1_700_000_000) * 5000,  # 10 days x 5000 as seconds: 137 years
        "zero_time": pl.lit(0).alias("timestamp"),
        "iso_time": pl.from_epoch(ts).dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "one_user": pl.lit(7).alias("user_id"),
        "no_clicks": pl.lit(0).alias("click"),
        "all_clicks": pl.lit(1).alias("click"),
        "null_user": pl.when(every_7th).then(None).otherwise("user_id").alias("user_id"),
        "inf_user": pl.when(every_7th).then(float("inf")).otherwise("user_id").alias("user_id"),
    }
    for name, change in variants.items():
        log.with_columns(change).write_csv(folder / f"cal_{name}.csv")
    flag = pl.lit(True).alias("timestamp")
    log.with_columns(flag).write_parquet(folder / "cal_bool_time.parquet")
    duration = pl.duration(seconds=ts - 1_700_000_000).alias("timestamp")
    log.with_columns(duration).write_parquet(folder / "cal_duration_time.parquet")
    slot = rng.integers(0, 5, n)
    positions = log.with_columns(
        negative=slot - 1, text=pl.Series(slot).cast(pl.String) + "th", from_3=slot + 3,
        fraction=slot + 0.5,
    )  # fmt: skip
    positions.write_csv(folder / "cal_positions.csv")
    (folder / "cal_empty.csv").write_text("")
    (folder / "cal_header_only.csv").write_text("user_id,item_id,timestamp,click\n")
    (folder / "cal_ragged.csv").write_text(
        "user_id,item_id,timestamp,click\n1,2,1700000000,1\n3,4,1700000100\n5,6,1700000200,0,9\n"
    )
    (folder / "cal_garbage.parquet").write_bytes(b"PAR1 this is not a parquet file PAR1")


def classify(code: int | None, stderr: str, prog: str) -> str:
    lines = stderr.strip().splitlines()
    if code == 2 and len(lines) == 1 and lines[0].startswith(f"{prog}: error:"):
        return "clean"
    if "Traceback" in stderr or (code not in (0, None) and code != 2):
        return "traceback"
    if code == 2:
        return "messy"  # exit 2 but not one line
    return "accepted"


def run_in_process(prog: str, args: tuple[str, ...]) -> tuple[int | None, str]:
    """Run the app's ``main`` here with ``args``; the exit code (None: returned) and stderr."""
    import importlib

    from hydra.core.global_hydra import GlobalHydra

    main = importlib.import_module(APPS[prog]).main
    stderr = io.StringIO()
    saved = sys.argv
    sys.argv = [prog, *args]
    code: int | None = None
    try:
        with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
            main()
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    except Exception as error:
        code, stderr = 1, io.StringIO(f"Traceback (uncaught) {error!r}\n")
    finally:
        sys.argv = saved
        GlobalHydra.instance().clear()
    return code, stderr.getvalue()


def new_files(folder: Path, before: set[Path]) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p not in before)


def _main() -> None:
    # Run as a script, this file's folder leads sys.path, and its abtest_sim/ (tests) would shadow
    # the package for Hydra's config lookup.
    here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subprocess", action="store_true", help="one process per case")
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--app", help="only this app's cases (in-process mode prints JSON)")
    args = parser.parse_args()
    cases = [case for case in CASES if args.app in (None, case[0])]
    counts: Counter[str] = Counter()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        make_inputs(folder)
        before = set(folder.rglob("*"))
        import os

        os.chdir(folder)
        for prog, case_args in cases:
            if args.subprocess:
                code, stderr = _run_subprocess(prog, case_args, args.timeout)
            else:
                code, stderr = run_in_process(prog, case_args)
            kind = classify(code, stderr, prog)
            written = new_files(folder, before)
            if written and kind == "clean":
                kind = "wrote files"
            for path in written:  # leave the next case a clean folder
                target = folder / path
                if target.is_file():
                    target.unlink()
            for path in sorted(written, reverse=True):
                with contextlib.suppress(OSError):
                    (folder / path).rmdir()
            counts[kind] += 1
            results.append({"app": prog, "args": " ".join(case_args[-1:]), "kind": kind,
                            "stderr": stderr.strip()[-300:], "written": written[:5]})  # fmt: skip
    print(json.dumps({"counts": counts, "cases": results}, indent=1))


def _run_subprocess(prog: str, args: tuple[str, ...], timeout: float) -> tuple[int | None, str]:
    code = f"from {APPS[prog]} import main; main()"
    try:
        done = subprocess.run(
            [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return 0, "(still running at the timeout: accepted)"
    return done.returncode, done.stderr


if __name__ == "__main__":
    _main()
