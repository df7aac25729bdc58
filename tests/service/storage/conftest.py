"""Database fixtures: a fresh SQLite file, or a fresh PostgreSQL database per test.

PostgreSQL tests create ``oih_test_<random>`` in the cluster of ``OIH_TEST_POSTGRES_URL``
(default: the team/CI server, ``postgres@127.0.0.1:5432/test``) and drop it afterwards.
When that server is unreachable they are skipped with the reason (shown by ``-ra``).
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from service.storage import Store, create_store, migrate

PG_ADMIN_URL = os.environ.get(
    "OIH_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class MutableClock:
    """A clock the test moves by hand."""

    now: datetime = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> MutableClock:
    return MutableClock()


def postgres_unreachable_reason() -> str | None:
    url = make_url(PG_ADMIN_URL)
    host, port = url.host or "127.0.0.1", url.port or 5432
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return None
    except OSError as exc:
        return f"PostgreSQL is not reachable at {host}:{port} ({exc}); set OIH_TEST_POSTGRES_URL"


async def _admin(sql: str) -> None:
    engine = create_async_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            await conn.exec_driver_sql(sql)
    finally:
        await engine.dispose()


@asynccontextmanager
async def fresh_postgres_database() -> AsyncIterator[str]:
    """A new, empty PostgreSQL database; dropped (even with open connections) afterwards."""
    reason = postgres_unreachable_reason()
    if reason:
        pytest.skip(reason)
    name = f"oih_test_{uuid.uuid4().hex[:16]}"
    await _admin(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def fresh_sqlite_url(tmp_path: Path) -> str:
    """An SQLite file in a data directory that does not exist yet (the store creates it)."""
    return f"sqlite+aiosqlite:///{tmp_path / 'data' / 'oih-cds.sqlite3'}"


@pytest.fixture
async def postgres_url(anyio_backend: str) -> AsyncIterator[str]:
    async with fresh_postgres_database() as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return fresh_sqlite_url(tmp_path)


@pytest.fixture(params=BACKENDS)
async def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, anyio_backend: str
) -> AsyncIterator[str]:
    """Each test using this runs once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        yield fresh_sqlite_url(tmp_path)
        return
    async with fresh_postgres_database() as url:
        yield url


@pytest.fixture
async def store(database_url: str, clock: MutableClock) -> AsyncIterator[Store]:
    """A migrated store with a hand-moved clock."""
    await migrate(database_url)
    s = create_store(database_url, clock=clock)
    try:
        yield s
    finally:
        await s.close()
