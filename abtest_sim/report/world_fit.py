"""What a world fit says, in words (``abtest-sim-calibrate``): ``calibration.md`` (the fit, what
was not fitted and why, the fidelity of a log simulated from the fitted world) and the world's
Hydra config."""

from __future__ import annotations

from typing import Any

from omegaconf import OmegaConf

from abtest_sim.report.format import markdown_table
from abtest_sim.world.fit.times import UNIT_NAMES

__all__ = ["fidelity_lines", "render_markdown", "time_line", "world_yaml"]


def time_line(times: dict[str, str]) -> str:
    """How the time column was read, in words (log line and calibration.md)."""
    unit = times["unit"]
    read = f"{UNIT_NAMES[unit]} since the epoch" if unit in UNIT_NAMES else unit
    return f"read as {read} ({times['how']}), {times['first']} to {times['last']}"


def world_yaml(overrides: dict[str, Any], source: str) -> str:
    """A Hydra world config: the default world with ``overrides``, saying where they came from."""
    body = OmegaConf.to_yaml(OmegaConf.create(overrides))
    return (
        f"# Fitted by abtest-sim-calibrate from {source}; regenerate it, do not edit it.\n"
        "# Fields not listed keep the default world's values (conf/world/default.yaml).\n"
        "defaults:\n  - default\n  - _self_\n\n" + body
    )


def render_markdown(report: dict[str, Any], name: str) -> str:
    measured, drift = report["measured"], report["measured"]["drift"]
    lines = [
        f"# World `{name}` fitted from {report['source']}", "",
        f"{measured['impressions']:,} impressions, {measured['users']:,} users, "
        f"{measured['items']:,} items over {measured['days']} days; CTR {measured['ctr']:.2%}, "
        f"{measured['impressions_per_request']:.1f} impressions per request.", "",
    ]  # fmt: skip
    lines += [f"Times: column `{measured['time']['column']}` {time_line(measured['time'])}.", ""]
    if drift is None:
        lines += [f"Drift: not fitted: {measured['defaults_kept']['drift_tau']}.", ""]
    else:
        low, high = drift["tau_interval_days"]
        lines += [
            f"Drift time constant: {drift['tau_days']:.1f} days (95% bootstrap interval "
            f"{low:.1f} to {high:.1f}) from {drift['users_in_two_windows']:,} users seen in two "
            f"windows of {drift['window_days']} days; persistent share of taste variance "
            f"{drift['persistent_share']:.2f}.", "",
        ]  # fmt: skip
    lines += markdown_table(
        ("parameter", "fitted"), [(k, str(v)) for k, v in report["world"].items()]
    )
    lines += ["", f"Position curve: {measured['position_curve']}."]
    reasons: dict[str, list[str]] = {}  # the fields each reason keeps at the default
    for key, why in measured["defaults_kept"].items():
        reasons.setdefault(why, []).append(key)
    lines += [f"Not fitted, too small a log: {', '.join(keys)} ({why})."
              for why, keys in reasons.items() if "drift_tau" not in keys]  # fmt: skip
    lines += ["Not fitted (default world): " + ", ".join(measured["not_fitted"]) + "."]
    if "fidelity" in report:
        lines += fidelity_lines(report["fidelity"])
    return "\n".join(lines) + "\n"


def fidelity_lines(result: dict[str, Any]) -> list[str]:
    """The real log and the one simulated from the fitted world, side by side (markdown)."""
    real, sim, auc = result["real"], result["simulated"], result["auc"]

    def row(label: str, get: Any) -> tuple[str, str, str]:
        return label, get(real), get(sim)

    rows = [row("impressions", lambda s: f"{s['impressions']:,}"),
            row("users", lambda s: f"{s['users']:,}"),
            row("CTR", lambda s: f"{s['ctr']:.2%}")]  # fmt: skip
    for q in real["impressions_per_user"]:
        rows.append(
            row(f"impressions per user, q{q}", lambda s, q=q: f"{s['impressions_per_user'][q]:.0f}")
        )
    for t in real["top_items_share"]:
        rows.append(
            row(
                f"share of impressions, top {float(t):.0%} items",
                lambda s, t=t: f"{s['top_items_share'][t]:.1%}",
            )
        )
    deciles = "CTR by user-activity decile (least active first)"
    rows.append(row(deciles, lambda s: " ".join(f"{c:.1%}" for c in s["ctr_by_activity_decile"])))
    lines = ["", "## Fidelity: the real log against one simulated from the fitted world", "",
             "![fidelity](fidelity.png)", "",
             *markdown_table(("statistic", "real", "simulated"), rows)]  # fmt: skip
    lines += ["", f"DeepFM held-out AUC (last 20% of days): trained on real, tested on real "
              f"{auc['real_on_real']:.3f}; simulated on simulated {auc['sim_on_sim']:.3f}; "
              f"simulated on real {auc['sim_on_real']:.3f} (ids do not correspond: what "
              "transfers goes through hour, weekday and category)."]  # fmt: skip
    return lines
