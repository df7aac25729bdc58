"""The one place that reads the wall clock; everything else has ``now`` injected."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)  # noqa: TID251 - the injected clock's only implementation
