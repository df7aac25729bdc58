"""Alembic environment for async engines (asyncpg, aiosqlite).

Concurrency: several replicas may start, and migrate, at once.

* PostgreSQL: the whole upgrade runs in one transaction (PostgreSQL has transactional
  DDL) that first takes ``pg_advisory_xact_lock(MIGRATION_LOCK_KEY)``. Other replicas
  block there; once the first commits (which releases the lock), they read the new
  ``alembic_version`` and have nothing left to do. A crash rolls everything back and
  frees the lock, so no lock can be left behind.
* SQLite: the upgrade runs in one ``BEGIN IMMEDIATE`` transaction, which holds SQLite's
  write lock from start to end; other processes wait on the busy timeout.
"""

from __future__ import annotations

import asyncio
import logging.config
import os
from pathlib import Path

from alembic import context
from sqlalchemy import text
from sqlalchemy.engine import Connection

from service.storage.engine import async_database_url, create_engine
from service.storage.models import Base

#: Arbitrary but fixed 64-bit key ("oih-cds" migrations) for pg_advisory_xact_lock.
MIGRATION_LOCK_KEY = 0x6F69_6863_6473_0001

config = context.config
target_metadata = Base.metadata


def _database_url() -> str:
    """``-x database_url=``, ``migrate(url)``, ``OIH_DATABASE_URL``, then the settings."""
    explicit = context.get_x_argument(as_dictionary=True).get("database_url")
    explicit = explicit or config.attributes.get("database_url")
    explicit = explicit or os.environ.get("OIH_DATABASE_URL")
    if explicit:
        return str(explicit)
    from pydantic import ValidationError

    from service.config import Settings

    try:
        return Settings().effective_database_url
    except ValidationError:
        # Unrelated settings (auth, FHIR) may be incomplete on an operator's shell; the
        # database location only depends on OIH_DATA_DIR.
        data_dir = os.environ.get("OIH_DATA_DIR")
        if data_dir:
            return Settings.model_construct(data_dir=Path(data_dir)).effective_database_url
        return Settings.model_construct().effective_database_url


def _configure_logging() -> None:
    # Only from the command line: at service start-up this would replace the app's logging.
    if config.config_file_name is not None and config.attributes.get("configure_logging", True):
        logging.config.fileConfig(config.config_file_name, disable_existing_loggers=False)


def run_migrations_offline() -> None:
    """``alembic upgrade head --sql``: print the SQL instead of running it."""
    context.configure(
        url=async_database_url(_database_url()),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def do_run_migrations(connection: Connection) -> None:
    is_sqlite = connection.dialect.name == "sqlite"
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        transactional_ddl=True,  # one transaction per upgrade, on SQLite too
        render_as_batch=is_sqlite,  # SQLite cannot ALTER most things: use batch mode
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
            )
        context.run_migrations()


async def run_async_migrations() -> None:
    engine = create_engine(_database_url(), for_migrations=True)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(do_run_migrations)
    finally:
        await engine.dispose()


_configure_logging()
if context.is_offline_mode():
    run_migrations_offline()
else:
    asyncio.run(run_async_migrations())
