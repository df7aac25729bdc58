"""Async engines for SQLite (single node, WAL) and PostgreSQL (replicas, asyncpg pool)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

#: How long an SQLite writer waits for another connection's (or process's) write lock.
SQLITE_BUSY_TIMEOUT_MS = 15_000

_DRIVERS = {
    "postgres": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
}


def async_database_url(url: str | URL) -> URL:
    """Map ``postgresql://``, ``postgres://`` and ``sqlite://`` onto their async drivers.

    Operators write plain DSNs in ``OIH_DATABASE_URL``; the service only has async drivers.
    """
    parsed = make_url(url) if isinstance(url, str) else url
    driver = _DRIVERS.get(parsed.drivername)
    if driver is None:
        raise ValueError(
            f"unsupported database URL scheme {parsed.drivername!r}: use postgresql:// or sqlite://"
        )
    return parsed.set(drivername=driver)


def is_sqlite(url: URL) -> bool:
    return url.get_backend_name() == "sqlite"


def ensure_sqlite_directory(url: URL) -> None:
    """Create the data directory of a file database (a fresh volume starts empty)."""
    database = url.database
    if is_sqlite(url) and database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)


def _quiet_driver_logs() -> None:
    """aiosqlite logs every statement *with its parameters* at DEBUG; feedback parameters
    include clinicians' comments (possible PHI), so its logger never goes below INFO."""
    driver_log = logging.getLogger("aiosqlite")
    if driver_log.level < logging.INFO:  # NOTSET (0) would inherit a DEBUG root later
        driver_log.setLevel(logging.INFO)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL lets readers run during a write; FULL sync because feedback must survive power loss."""
    cursor = dbapi_connection.cursor()
    try:
        # The busy timeout first: switching a fresh file to WAL needs a lock that another
        # process may hold for a moment.
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
    finally:
        cursor.close()


def create_engine(
    url: str | URL,
    *,
    pool_size: int = 5,
    max_overflow: int = 10,
    for_migrations: bool = False,
) -> AsyncEngine:
    """An engine with the right settings per backend.

    ``for_migrations`` uses no pool and, on SQLite, opens every transaction with
    ``BEGIN IMMEDIATE``: the migration then holds SQLite's write lock from start to end,
    which is SQLite's equivalent of the PostgreSQL advisory lock (see ``migrations/env.py``).
    """
    parsed = async_database_url(url)
    # Statement parameters (which may hold PHI) stay out of logs and exception messages.
    common: dict[str, Any] = {"hide_parameters": True}
    if is_sqlite(parsed):
        ensure_sqlite_directory(parsed)
        _quiet_driver_logs()
        kwargs: dict[str, Any] = {
            **common,
            "connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
        }
        if for_migrations:
            kwargs["poolclass"] = NullPool
        engine = create_async_engine(parsed, **kwargs)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        if for_migrations:
            _begin_immediate(engine)
        return engine
    connect_args = {
        "timeout": 10,  # seconds to establish a connection
        "command_timeout": 30,
        "server_settings": {"application_name": "oih-cds"},
    }
    if for_migrations:
        return create_async_engine(parsed, poolclass=NullPool, connect_args=connect_args, **common)
    return create_async_engine(
        parsed,
        **common,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_timeout=30,
        pool_pre_ping=True,  # survive a database restart or failover without 500s
        pool_recycle=1800,
        connect_args=connect_args,
    )


def _begin_immediate(engine: AsyncEngine) -> None:
    """SQLAlchemy's documented recipe: the driver stops issuing BEGIN; we issue our own."""

    def _autocommit_driver(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None

    def _begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    event.listen(engine.sync_engine, "connect", _autocommit_driver)
    event.listen(engine.sync_engine, "begin", _begin)
