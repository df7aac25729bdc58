"""Schema migrations at start-up: ``await migrate(settings.effective_database_url)``.

Alembic's command API is synchronous and keeps its ``context``/``op`` proxies in module
globals, so two upgrades must never interleave in one process. ``migrate`` therefore
runs the upgrade in a worker thread (the event loop keeps serving) under a process-wide
lock; across processes and replicas, ``migrations/env.py`` takes a database lock
(PostgreSQL transaction-level advisory lock; SQLite ``BEGIN IMMEDIATE``).
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from importlib import resources
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import URL
from sqlalchemy.exc import OperationalError

from service.storage.engine import async_database_url

_PROCESS_LOCK = threading.Lock()


def alembic_ini_path() -> Path:
    """The packaged ``alembic.ini`` (works from a wheel as well as from a checkout)."""
    return Path(str(resources.files("service.storage").joinpath("alembic.ini")))


def alembic_config(url: str | URL) -> Config:
    """An Alembic config bound to ``url``; passed via attributes, so ``%`` needs no escaping."""
    config = Config(str(alembic_ini_path()))
    config.attributes["database_url"] = async_database_url(url).render_as_string(
        hide_password=False
    )
    config.attributes["configure_logging"] = False
    return config


#: SQLite can answer "database is locked" without waiting (first switch to WAL, wal-index
#: recovery) when several processes open a fresh file at once; the migration transaction
#: has then rolled back, so trying again is safe. PostgreSQL waits on its advisory lock.
SQLITE_LOCKED_RETRIES = 6


def _upgrade_blocking(url: str | URL, revision: str) -> None:
    with _PROCESS_LOCK:
        for attempt in range(SQLITE_LOCKED_RETRIES):
            try:
                command.upgrade(alembic_config(url), revision)
                return
            except OperationalError as exc:
                locked = "database is locked" in str(exc)
                if not locked or attempt == SQLITE_LOCKED_RETRIES - 1:
                    raise
                time.sleep(0.1 * 2**attempt + random.uniform(0, 0.1))  # noqa: S311


async def migrate(url: str | URL, revision: str = "head") -> None:
    """Upgrade the database at ``url`` to ``revision``; safe to call from many replicas."""
    await asyncio.to_thread(_upgrade_blocking, url, revision)
