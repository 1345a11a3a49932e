"""The world's traffic and catalogue parts measured on a log: requests per user and day, their
weekday and hour profiles, item lifetimes and catalogue size, the position curve and the
category structure. Each is a closed-form estimate (moments, a first Fourier harmonic, a
log-log slope), vectorised over the log."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from abtest_sim.world.fit.log import InteractionLog

__all__ = [
    "Activity", "Catalogue", "lifetime_gap", "measure_activity", "measure_catalogue",
    "position_curve", "weekday_gap",
]  # fmt: skip

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MIN_LIFETIME_DAYS = 2  # item arrivals are counted in the log's second half


@dataclass(frozen=True)
class Activity:
    activity_mean: float  # mean requests per user and day
    activity_shape: float  # Gamma shape of the users' daily request rates
    weekday_activity: tuple[float, ...] | None  # 7, Mon..Sun, mean 1; None: see weekday_gap
    hour_activity_amplitude: float
    hour_activity_peak: float
    slate_size: float  # mean impressions per request


@dataclass(frozen=True)
class Catalogue:
    n_items: int  # items live on an average day
    item_lifetime_days: int | None  # None: see lifetime_gap
    n_categories: int | None
    category_zipf: float | None


def requests_of(log: InteractionLog) -> np.ndarray:
    """Request index of every impression: a user's impressions in one hour of one day."""
    key = (log.user * (log.n_days + 1) + log.day) * 24 + log.hour
    return np.unique(key, return_inverse=True)[1]


def measure_activity(log: InteractionLog) -> Activity:
    """Daily request rates by the method of moments: the counts of user i over the log's days
    are Poisson(lambda_i), so var(lambda) = var(rate) - E(rate) / days (at least 1% of E^2)."""
    request = requests_of(log)
    first = np.unique(request, return_index=True)[1]
    user, hour = log.user[first], log.hour[first]
    per_user = np.bincount(user, minlength=log.n_users) / log.n_days
    mean = float(per_user.mean())
    variance = max(float(per_user.var()) - mean / log.n_days, 0.01 * mean**2)
    weekday = None
    if weekday_gap(log) is None:
        counts = np.bincount(log.weekday[first], minlength=7).astype(float)
        days_per_weekday = np.bincount((np.arange(log.n_days) + log.start_weekday) % 7, minlength=7)
        counts /= days_per_weekday
        weekday = tuple(round(float(w), 4) for w in counts / counts.mean())
    amplitude, peak = _first_harmonic(np.bincount(hour, minlength=24).astype(float))
    return Activity(
        activity_mean=float(f"{mean:.6g}"),
        activity_shape=float(f"{mean**2 / variance:.6g}"),
        weekday_activity=weekday,
        hour_activity_amplitude=amplitude,
        hour_activity_peak=peak,
        slate_size=len(log) / first.size,
    )


def weekday_gap(log: InteractionLog) -> str | None:
    """Why the log cannot tell the weekday profiles (requests and CTR), or None if it can: every
    weekday must occur, with impressions."""
    if log.n_days < 7:
        return f"the log spans {log.n_days} day(s); a weekday profile needs at least 7"
    unseen = [WEEKDAYS[d] for d in np.flatnonzero(np.bincount(log.weekday, minlength=7) == 0)]
    if unseen:
        return f"the log has no impressions on {', '.join(unseen)}"
    return None


def lifetime_gap(log: InteractionLog) -> str | None:
    """Why the log cannot tell item lifetimes, or None if it can."""
    if log.n_days < MIN_LIFETIME_DAYS:
        return (
            f"the log spans {log.n_days} day(s); item lifetimes need at least "
            f"{MIN_LIFETIME_DAYS} (arrivals in its second half)"
        )
    return None


def measure_catalogue(log: InteractionLog) -> Catalogue:
    """Catalogue: the mean number of items whose first-to-last span covers a day; lifetime: see
    ``_lifetime``. Categories: their count and the Zipf
    exponent of their sizes (log size against log rank)."""
    first = np.full(log.n_items, np.iinfo(np.int64).max)
    last = np.full(log.n_items, -1)
    np.minimum.at(first, log.item, log.day)
    np.maximum.at(last, log.item, log.day)
    live = np.bincount(first, minlength=log.n_days + 1)[: log.n_days].cumsum()
    live -= np.bincount(last + 1, minlength=log.n_days + 1)[: log.n_days].cumsum()
    n_categories = zipf = None
    if log.item_category is not None:
        sizes = np.sort(np.bincount(log.item_category))[::-1]
        sizes = sizes[sizes > 0]
        n_categories = int(sizes.size)
        if sizes.size > 1:
            ranks = np.log(np.arange(1, sizes.size + 1))
            zipf = float(max(-np.polyfit(ranks, np.log(sizes), 1)[0], 0.0))
    return Catalogue(
        n_items=max(round(float(live.mean())), 2),
        item_lifetime_days=(
            None if lifetime_gap(log) else _lifetime(first, float(live.mean()), log.n_days)
        ),
        n_categories=n_categories,
        category_zipf=zipf,
    )


def _lifetime(first: np.ndarray, live: float, n_days: int) -> int:
    """Days an item stays live: live items over the arrival rate (items first seen in the second
    half of the log, when the catalogue that predates it has been seen), at most ten times the
    log's span. A first-to-last span would be cut short by the log's own length."""
    half = n_days // 2
    arrivals = np.count_nonzero(first >= half) / max(n_days - half, 1)
    if arrivals == 0:
        return 10 * n_days
    return int(min(max(round(live / arrivals), 1), 10 * n_days))


def position_curve(log: InteractionLog) -> tuple[float | None, str]:
    """(eta, what was done): eta of CTR(pos) / CTR(0) = (1 / (pos + 1))^eta by least squares on
    the log scale over the positions with clicks; None (the default kept) without positions, or
    with clicks at fewer than two positions or none at the top. Measured on a ranked log this
    includes the ranking's effect (better items shown higher): an upper bound on examination
    decay."""
    if log.position is None:
        return None, "not logged: default eta kept"
    slots, index = np.unique(log.position, return_inverse=True)
    shown = np.bincount(index)
    clicks = np.bincount(index, weights=log.click, minlength=slots.size)
    usable = clicks > 0
    numbered = "" if not log.position_base else f" (numbered from {log.position_base} in the log)"
    if not usable[0] or slots[0] != 0:
        return None, f"logged, but the top slot{numbered} has no clicks: default eta kept"
    if usable.sum() < 2:
        return None, f"logged, but only the top slot{numbered} has clicks: default eta kept"
    ratio = (clicks[usable] / shown[usable]) / (clicks[0] / shown[0])
    x = np.log(slots[usable] + 1.0)
    eta = float(max(-(x @ np.log(ratio)) / (x @ x), 0.0))
    return eta, f"fitted over {slots.size} slots{numbered}"


def _first_harmonic(counts: np.ndarray) -> tuple[float, float]:
    """(amplitude, peak hour) of counts ~ 1 + a cos(2 pi (h - peak) / 24)."""
    if counts.sum() == 0:
        return 0.0, 0.0
    share = counts / counts.mean()
    angle = 2 * np.pi * np.arange(24) / 24
    c, s = (share * np.cos(angle)).mean() * 2, (share * np.sin(angle)).mean() * 2
    peak = (np.arctan2(s, c) * 24 / (2 * np.pi)) % 24
    return round(float(min(np.hypot(c, s), 0.99)), 4), round(float(peak), 2)
