"""Issued-card records, written in batches off the response path.

Every shown card is remembered so that feedback can be joined to its topic later.
Writing each response's cards in its own transaction cost 2-3 ms of CPU per hook call
(SQLAlchemy, aiosqlite's thread hop, an fsync), a quarter of a typical request's CPU.
The recorder instead queues the records and writes whatever has gathered after a short
``linger`` in one transaction, so under load one write serves many responses.

What this trades: a record reaches the database up to ``linger`` seconds after its
response, and records still queued when the process is killed (not stopped) are lost.
They are our own bookkeeping, not something a client sent us: a lost record only means
the feedback report cannot name the topic of that card. Feedback is never queued here.
Anything that joins on the records (storing feedback) calls :meth:`flush` first, and a
graceful shutdown flushes too. The queue is bounded: when the database cannot keep up,
new records are dropped and counted rather than held in memory without limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence

from service.storage.store import IssuedResponse

log = logging.getLogger(__name__)

Writer = Callable[[Sequence[IssuedResponse]], Awaitable[int]]

DEFAULT_LINGER_S = 0.25
DEFAULT_MAX_QUEUED_CARDS = 10_000


class CardRecorder:
    """Queue of issued-card records and the one task that writes them."""

    def __init__(
        self,
        write: Writer,
        *,
        linger: float = DEFAULT_LINGER_S,
        max_queued_cards: int = DEFAULT_MAX_QUEUED_CARDS,
        on_dropped: Callable[[int], None] = lambda n: None,
    ) -> None:
        self._write = write
        self._linger = linger
        self._max_queued = max_queued_cards
        self._on_dropped = on_dropped
        self._queue: list[IssuedResponse] = []
        self._queued_cards = 0
        self._task: asyncio.Task[None] | None = None
        self._now = asyncio.Event()  # flush: write without waiting for the linger
        self._progress = asyncio.Event()  # set after each batch
        self._submitted = 0  # responses queued so far
        self._finished = 0  # responses written (or dropped by a failed write) so far

    @property
    def queued_cards(self) -> int:
        return self._queued_cards

    def submit(self, response: IssuedResponse) -> None:
        """Queue one response's cards; never waits. Drops (and counts) when the queue is full."""
        if not response.cards:
            return
        if self._queued_cards + len(response.cards) > self._max_queued:
            self._on_dropped(len(response.cards))
            log.warning("issued-card queue is full; card records dropped")
            return
        self._queue.append(response)
        self._queued_cards += len(response.cards)
        self._submitted += 1
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())

    async def flush(self) -> None:
        """Return once every record submitted before this call has been written (or failed).

        Only those: under steady traffic the queue never empties, and a caller (storing
        feedback) must not wait for records that arrive after it.
        """
        target = self._submitted
        while self._finished < target and self._task is not None and not self._task.done():
            self._now.set()
            self._progress.clear()
            await self._progress.wait()

    async def _run(self) -> None:
        while self._queue:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._now.wait(), self._linger)
            self._now.clear()
            batch, self._queue = self._queue, []
            self._queued_cards = 0
            try:
                await self._write(batch)
            except Exception:  # the cards went out; the report then lacks their "shown" count
                dropped = sum(len(r.cards) for r in batch)
                self._on_dropped(dropped)
                log.exception("could not record issued cards")
            finally:
                self._finished += len(batch)
                self._progress.set()
