"""D2: long-term opioid therapy (LTOT).

Opioids on ≥21 days in each of the last three 30-day blocks, as in the CQF content's
"Prescribed Opioids for 21 or more of 30 Days for each of the past 3 Months"
(``OpioidCDSCommon``) [R6]. Cards A and C require it (spec §6.3 D2).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta

from rules.derived.common import DailySeries, DateWindow
from rules.settings import RuleSettings

__all__ = ["LongTermOpioidTherapy", "LtotBlock", "long_term_opioid_therapy"]


@dataclass(frozen=True, slots=True)
class LtotBlock:
    """One 30-day block and the number of its days with any opioid (MME/day > 0)."""

    window: DateWindow
    opioid_days: int


@dataclass(frozen=True, slots=True)
class LongTermOpioidTherapy:
    """``ltot`` with the blocks it was judged on, most recent block first."""

    ltot: bool
    blocks: tuple[LtotBlock, ...]
    min_days_per_block: int
    reason: str


def long_term_opioid_therapy(
    daily_mme: Mapping[date, float], as_of: date, settings: RuleSettings
) -> LongTermOpioidTherapy:
    """Judge LTOT from the daily MME series (a day with MME/day > 0 is an opioid day).

    Days on an opioid whose MME could not be computed are not seen here; that case is
    caught by the MME engine's quality flag, which suppresses the cards anyway.
    """
    size, need = settings.ltot_block_days, settings.ltot_days_per_30
    series = DailySeries.of(daily_mme)
    blocks = []
    for i in range(settings.ltot_blocks):
        window = DateWindow.last_days(as_of - timedelta(days=i * size), size)
        days = sum(1 for value in series.between(window.start, window.end) if value > 0)
        blocks.append(LtotBlock(window, days))
    counts = ", ".join(str(b.opioid_days) for b in blocks)
    n = settings.ltot_blocks
    short = next((b for b in blocks if b.opioid_days < need), None)
    if short is None:
        reason = (
            f"Long-term opioid therapy: opioids on {counts} of {size} days in each of the "
            f"last {n} {size}-day blocks (≥{need} needed in each)."
        )
    else:
        reason = (
            f"Not long-term opioid therapy: opioids on only {short.opioid_days} of {size} "
            f"days from {short.window} (≥{need} needed in each of the last {n} "
            f"{size}-day blocks; counts {counts}, most recent first)."
        )
    return LongTermOpioidTherapy(short is None, tuple(blocks), need, reason)
