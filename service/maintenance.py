"""Privacy housekeeping in the background, so the retention promises hold with no CronJob.

Patient keys must not outlive their use and clinicians' free-text comments (which may
hold PHI) must not outlive the operator's retention period. The CLI commands
``purge-patient-keys`` and ``feedback-purge-comments`` do the same work by hand, but a
schedule of the operator's own is a moving part that gets forgotten, and the default
SQLite file on the pod's volume cannot be reached from a CronJob anyway. So every
process runs it itself: once ``first_delay_seconds`` after start-up (start-up and the
readiness probe never wait for it), then every ``interval_seconds``
(``OIH_MAINTENANCE_INTERVAL_SECONDS``, default 3600; 0 turns it off). Each run:

* clears the patient key of issued cards older than :data:`CARD_KEY_RETENTION_DAYS` and
  deletes ended snoozes (``Store.purge_patient_keys``); active snoozes stay;
* only when ``OIH_COMMENT_RETENTION_DAYS`` is set, blanks the comments of feedback
  received longer ago than that (``Store.purge_user_comments``).

Several processes may run it against one database (replicas on PostgreSQL, workers on
SQLite) without coordination, because every step is idempotent: each is a single
``UPDATE … SET col = NULL WHERE col IS NOT NULL AND <older than a cutoff>`` or
``DELETE … WHERE <ended>`` in its own transaction, so a second run, concurrent or later,
finds nothing left to change and the end state does not depend on who ran first. Under
PostgreSQL's READ COMMITTED a concurrent run waits on the row locks and then skips the
rows already cleared. Should the database abort one of two concurrent runs (a lock
timeout or a deadlock between different query plans), its transaction rolls back whole
and the next run does the work.

A failed step is logged (exception type only: driver messages can quote SQL parameters)
and counted in ``oih_cds_maintenance_errors``; the loop carries on at the next interval
and never takes the process down. A run that completed every step is counted in
``oih_cds_maintenance_runs`` and logged at INFO with counts only, never identifiers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from service.clock import Clock

log = logging.getLogger(__name__)

#: Issued cards keep their patient key this long: only so that accepting the card's
#: snoozing suggestion can snooze it, and feedback arrives within minutes. The CLI's
#: ``purge-patient-keys --card-keys-older-than-days`` defaults to it too.
CARD_KEY_RETENTION_DAYS = 7
DEFAULT_INTERVAL_SECONDS = 3600
#: Long enough that start-up (migrations, warm-up, the first requests) has finished.
DEFAULT_FIRST_DELAY_SECONDS = 60.0

Sleep = Callable[[float], Awaitable[None]]


class MaintainedStore(Protocol):
    """What maintenance needs of ``service.storage.Store`` (a fake is enough in tests)."""

    async def purge_patient_keys(
        self, issued_before: datetime, now: datetime
    ) -> tuple[int, int]: ...

    async def purge_user_comments(self, received_before: datetime) -> int: ...


@dataclass(frozen=True)
class MaintenanceRun:
    """Counts of one run; ``None`` where the step failed or (comments) is not configured."""

    card_keys_cleared: int | None = None
    snoozes_deleted: int | None = None
    comments_blanked: int | None = None
    failed_steps: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.failed_steps


class Maintenance:
    """Purges patient keys, ended snoozes and (optionally) old comments on a timer."""

    def __init__(
        self,
        store: MaintainedStore,
        clock: Clock,
        *,
        interval_seconds: float = DEFAULT_INTERVAL_SECONDS,
        comment_retention_days: int | None = None,
        card_key_retention_days: int = CARD_KEY_RETENTION_DAYS,
        first_delay_seconds: float = DEFAULT_FIRST_DELAY_SECONDS,
        on_run: Callable[[], None] = lambda: None,
        on_error: Callable[[], None] = lambda: None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._store = store
        self._clock = clock
        self._interval = interval_seconds
        self._comment_days = comment_retention_days
        self._card_key_days = card_key_retention_days
        self._first_delay = first_delay_seconds
        self._on_run = on_run
        self._on_error = on_error
        self._sleep = sleep
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def run_once(self) -> MaintenanceRun:
        """One pass over every step; a failing step is counted and does not stop the others."""
        now = self._clock()
        failed: list[str] = []
        cleared = deleted = blanked = None
        try:
            cleared, deleted = await self._store.purge_patient_keys(
                now - timedelta(days=self._card_key_days), now
            )
        except Exception as exc:  # the database is down or busy: next run
            failed.append(self._failed("patient keys", exc))
        if self._comment_days is not None:
            try:
                blanked = await self._store.purge_user_comments(
                    now - timedelta(days=self._comment_days)
                )
            except Exception as exc:
                failed.append(self._failed("feedback comments", exc))
        run = MaintenanceRun(cleared, deleted, blanked, tuple(failed))
        if run.ok:
            self._on_run()
            log.info(
                "maintenance: %d card patient key(s) cleared, %d ended snooze(s) deleted, %s",
                cleared,
                deleted,
                "comments kept (no retention set)"
                if blanked is None
                else f"{blanked} feedback comment(s) blanked",
                extra={
                    "cardKeysCleared": cleared,
                    "snoozesDeleted": deleted,
                    "commentsBlanked": blanked,
                },
            )
        return run

    def _failed(self, step: str, exc: Exception) -> str:
        self._on_error()
        log.warning("maintenance of %s failed (%s); retried next run", step, type(exc).__name__)
        return step

    def start(self) -> None:
        """Schedule the runs (the first after ``first_delay_seconds``); 0 s interval: none."""
        if self._interval <= 0:
            log.warning(
                "maintenance is off (OIH_MAINTENANCE_INTERVAL_SECONDS=0): patient keys and "
                "ended snoozes are kept until `oih-cds purge-patient-keys` runs"
            )
            return
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="maintenance")

    async def close(self) -> None:
        """Stop the timer; a run in progress is cancelled (its transaction rolls back)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        await self._sleep(self._first_delay)
        while True:
            await self.run_once()
            await self._sleep(self._interval)
