"""One hook call, end to end: gather data, build the timeline, evaluate, render cards.

Routes stay thin: they parse the request and hand a :class:`HookCall` to
:meth:`HookPipeline.run`, which returns the cards and the ``evaluation`` that the
explain endpoint shows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cds_hooks.errors import PrefetchUnavailable
from cds_hooks.models import Card
from cds_hooks.prefetch import SlotState, classify_slot
from service.api.parsing import HookCall
from service.catalog import REQUIRED_SLOTS
from service.clock import Clock
from service.config import Settings


@dataclass
class HookOutcome:
    cards: list[Card]
    evaluation: dict[str, Any] = field(default_factory=dict)


class HookPipeline:
    def __init__(self, settings: Settings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock

    async def run(self, call: HookCall) -> HookOutcome:
        prefetch = call.request.prefetch
        states = {key: classify_slot(prefetch, key) for key in call.spec.prefetch}
        missing = sorted(
            key for key in REQUIRED_SLOTS if states[key] in (SlotState.ABSENT, SlotState.FAILED)
        )
        if missing and not call.request.fhirServer:
            raise PrefetchUnavailable(
                "required data were not prefetched and the request names no fhirServer to "
                "fetch them from: " + ", ".join(missing),
                missing=missing,
            )
        if missing:
            raise PrefetchUnavailable(
                "required data were not prefetched: " + ", ".join(missing), missing=missing
            )
        evaluation: dict[str, Any] = {
            "service": call.spec.id,
            "hook": call.spec.hook,
            "asOf": self.clock().date().isoformat(),
            "prefetch": {key: str(state) for key, state in states.items()},
        }
        return HookOutcome(cards=[], evaluation=evaluation)
