"""Units that live in types, so that MME/day can never be confused with a bare number."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

MME_PER_DAY_UNIT = "{MME}/d"


@dataclass(frozen=True, order=True, slots=True)
class MmePerDay:
    """Morphine milligram equivalents per day (UCUM-style unit ``{MME}/d``).

    Always finite and never negative: a negative or NaN MME is a programming error,
    not a clinical value, so it is refused at construction.
    """

    value: float
    unit: ClassVar[str] = MME_PER_DAY_UNIT

    def __post_init__(self) -> None:
        if not math.isfinite(self.value) or self.value < 0:
            raise ValueError(f"MME/day must be a finite number >= 0, got {self.value!r}")

    @classmethod
    def zero(cls) -> MmePerDay:
        return cls(0.0)

    def __add__(self, other: MmePerDay) -> MmePerDay:
        if not isinstance(other, MmePerDay):
            return NotImplemented
        return MmePerDay(self.value + other.value)

    def rounded(self, digits: int = 1) -> float:
        """The value as shown to clinicians (CDC and CQF round to 0.1)."""
        return round(self.value, digits)

    def __str__(self) -> str:
        return f"{self.rounded():g} MME/day"
