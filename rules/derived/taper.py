"""D6: recent taper.

Mean MME/day over the last 30 days below 90% of the mean over the 30 days before.
Pain after a taper is expected, largely withdrawal-mediated and usually transient
(about 2 weeks in one case series) [R2, R25], so card A is suppressed and an info card
shown instead (spec §6.3 D6).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta

from rules.derived.common import DailySeries, DateWindow, at_least, fmt_mme
from rules.settings import RuleSettings
from rules.units import MmePerDay

__all__ = ["RecentTaper", "recent_taper"]


@dataclass(frozen=True, slots=True)
class RecentTaper:
    """``recent_taper`` with both window means; ``ratio`` is None when the prior mean is 0."""

    recent_taper: bool
    recent_window: DateWindow
    prior_window: DateWindow
    recent_mme: MmePerDay
    prior_mme: MmePerDay
    ratio: float | None
    reason: str


def recent_taper(
    daily_mme: Mapping[date, float], as_of: date, settings: RuleSettings
) -> RecentTaper:
    """Compare the last ``recent_taper_days`` with the same number of days before them.

    Strictly below the ratio counts ("<90%"); exactly 90% is not a taper.
    """
    days = settings.recent_taper_days
    recent_w = DateWindow.last_days(as_of, days)
    prior_w = DateWindow.last_days(as_of - timedelta(days=days), days)
    series = DailySeries.of(daily_mme)
    recent, prior = series.mean(recent_w), series.mean(prior_w)
    limit = settings.recent_taper_ratio
    pct = f"{limit * 100:g}%"
    if prior <= 0:
        ratio = None
        taper = False
        reason = (
            f"No recent taper: no opioid in the {days} days before {recent_w.start.isoformat()}, "
            "so there was nothing to reduce."
        )
    else:
        ratio = recent / prior
        taper = not at_least(ratio, limit)
        change = f"{fmt_mme(prior)} ({prior_w}) to {fmt_mme(recent)} ({recent_w})"
        if taper:
            reason = (
                f"Recent taper: mean dose fell from {change}, {ratio * 100:.1f}% of before "
                f"(below {pct}); pain rising now may be withdrawal-related and transient."
            )
        else:
            reason = (
                f"No recent taper: mean dose went from {change}, {ratio * 100:.1f}% of before "
                f"(a taper is below {pct})."
            )
    return RecentTaper(taper, recent_w, prior_w, MmePerDay(recent), MmePerDay(prior), ratio, reason)
