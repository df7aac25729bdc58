"""Active snoozes held in memory, so that a hook call never waits for the database.

The hook path touched no database before snoozes existed (issued-card records are
written in batches off the path), and it keeps that property: a query per call cost
~1.5 ms of a typical 11 ms call, and a slow or locked database would have slowed
every card. Active snoozes are few (a clinician's documented decision, 90 days each),
so each process keeps all of them, keyed by patient key, and reloads them:

* at start-up, before the server accepts requests;
* every ``refresh_seconds`` (``OIH_SNOOZE_REFRESH_SECONDS``, default 5), so a snooze
  made through another replica is honoured within that time;
* right after this process stores feedback that accepted a suggestion, so a snooze
  made here is honoured on the next call.

A failed reload keeps the last snapshot (counted in ``oih_cds_snooze_refresh_errors``)
and the cards fall back to showing: hiding a card is never worth failing a call.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import datetime

from service.clock import Clock

log = logging.getLogger(__name__)

#: patient key -> topic -> end of the latest snooze, for snoozes active at ``now``.
Snapshot = Mapping[str, Mapping[str, datetime]]
Loader = Callable[[datetime], Awaitable[Snapshot]]

DEFAULT_REFRESH_SECONDS = 5.0


class SnoozeCache:
    """All active snoozes of the deployment, reloaded on a timer and on demand."""

    def __init__(
        self,
        load: Loader,
        clock: Clock,
        *,
        refresh_seconds: float = DEFAULT_REFRESH_SECONDS,
        on_error: Callable[[], None] = lambda: None,
    ) -> None:
        self._load = load
        self._clock = clock
        self._refresh_seconds = refresh_seconds
        self._on_error = on_error
        self._snapshot: Snapshot = {}
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    def __len__(self) -> int:
        return len(self._snapshot)

    def active(self, patient_key: str, topics: Iterable[str], now: datetime) -> dict[str, datetime]:
        """The topics snoozed for this patient at ``now``, each with the end of its snooze."""
        found = self._snapshot.get(patient_key)
        if not found:
            return {}
        return {t: found[t] for t in topics if t in found and found[t] > now}

    async def refresh(self) -> bool:
        """Reload the snapshot; on failure keep the last one. True when it was reloaded."""
        async with self._lock:  # the timer and a feedback post may ask at once
            try:
                self._snapshot = await self._load(self._clock())
            except Exception as exc:  # the database is down: keep what we have
                self._on_error()
                log.warning("snooze refresh failed (%s); last snapshot kept", type(exc).__name__)
                return False
        return True

    async def start(self) -> None:
        """Load once (start-up waits for it), then keep reloading in the background."""
        await self.refresh()
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="snooze-refresh")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._refresh_seconds)
            await self.refresh()
