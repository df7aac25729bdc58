"""Alembic migrations: from empty, re-runnable, concurrent, CLI, and matching the models."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event, inspect, text
from sqlalchemy.engine import Connection, make_url

from service.storage import Store, alembic_config, create_store, migrate
from service.storage.engine import create_engine
from service.storage.migrate import alembic_ini_path
from service.storage.models import Base
from tests.service.storage.conftest import MutableClock
from tests.service.storage.test_store import fb

pytestmark = pytest.mark.anyio

REPO = Path(__file__).resolve().parents[3]
TABLES = {"alembic_version", "card_issued", "card_snooze", "feedback"}


def head() -> str:
    revision = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert revision is not None
    return revision


async def inspect_db(url: str) -> tuple[set[str], str | None]:
    """The tables present and the recorded Alembic revision."""
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:

            def read(sync: Connection) -> tuple[set[str], str | None]:
                return (
                    set(inspect(sync).get_table_names()),
                    MigrationContext.configure(sync).get_current_revision(),
                )

            return await conn.run_sync(read)
    finally:
        await engine.dispose()


async def test_migrate_creates_the_schema_from_empty(database_url: str) -> None:
    assert await inspect_db(database_url) == (set(), None)
    await migrate(database_url)
    assert await inspect_db(database_url) == (TABLES, head())


async def test_migrate_creates_the_sqlite_data_directory(sqlite_url: str) -> None:
    directory = Path(make_url(sqlite_url).database or "").parent
    assert not directory.exists()
    await migrate(sqlite_url)
    assert (directory / "oih-cds.sqlite3").is_file()


async def test_migrate_is_rerunnable_and_keeps_data(database_url: str, clock: MutableClock) -> None:
    await migrate(database_url)
    store = create_store(database_url, clock=clock)
    try:
        assert await store.store_feedback("svc", [fb()], None, None) == 1
        await migrate(database_url)
        await migrate(database_url)
        assert await store.store_feedback("svc", [fb()], None, None) == 0  # still there
        (report,) = await store.report(None)
        assert report.overridden == 1
    finally:
        await store.close()
    assert await inspect_db(database_url) == (TABLES, head())


async def test_models_match_the_migrations(database_url: str) -> None:
    """Autogenerate finds nothing to do: the ORM models and the migrations agree."""
    await migrate(database_url)
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:

            def diff(sync: Connection) -> list[Any]:
                context = MigrationContext.configure(sync, opts={"compare_type": True})
                return list(compare_metadata(context, Base.metadata))

            assert await conn.run_sync(diff) == []
    finally:
        await engine.dispose()


async def test_downgrade_and_upgrade_again(database_url: str) -> None:
    await migrate(database_url)
    await asyncio.to_thread(command.downgrade, alembic_config(database_url), "base")
    assert await inspect_db(database_url) == ({"alembic_version"}, None)
    await migrate(database_url)
    assert await inspect_db(database_url) == (TABLES, head())


async def test_upgrade_from_0001_keeps_cards_and_feedback(
    database_url: str, clock: MutableClock
) -> None:
    """A deployment on the first schema upgrades in place: its rows survive 0002."""
    await asyncio.to_thread(command.upgrade, alembic_config(database_url), "0001")
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO card_issued (card_uuid, service_id, topic_code, indicator, "
                    "hook_instance, created_at) VALUES ('c1', 'svc', 'oih-evaluate', 'warning', "
                    "'h1', :at)"
                ),
                {"at": clock.now.replace(tzinfo=None)},
            )
    finally:
        await engine.dispose()
    await migrate(database_url)
    assert await inspect_db(database_url) == (TABLES, head())
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            rows = (
                await conn.execute(text("SELECT card_uuid, patient_key FROM card_issued"))
            ).all()
    finally:
        await engine.dispose()
    assert [tuple(row) for row in rows] == [("c1", None)]


async def test_concurrent_migrations_in_one_process(database_url: str) -> None:
    await asyncio.gather(*(migrate(database_url) for _ in range(5)))
    assert await inspect_db(database_url) == (TABLES, head())


# Each replica imports everything, says it is ready, then waits for "go": the upgrades
# start within milliseconds of each other, so a missing lock shows up as a failure.
_REPLICA = """
import asyncio, pathlib, sys, time
from service.storage import migrate
url, barrier, n = sys.argv[1], pathlib.Path(sys.argv[2]), sys.argv[3]
(barrier / f"ready-{n}").touch()
while not (barrier / "go").exists():
    time.sleep(0.005)
asyncio.run(migrate(url))
"""


async def test_concurrent_migrations_from_several_processes(
    database_url: str, tmp_path: Path
) -> None:
    """Replicas starting together: every process succeeds, the schema is created once."""
    replicas = 4
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _REPLICA,
            database_url,
            str(barrier),
            str(n),
            cwd=REPO,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for n in range(replicas)
    ]
    async with asyncio.timeout(60):
        while len(list(barrier.glob("ready-*"))) < replicas:
            await asyncio.sleep(0.01)
    (barrier / "go").touch()
    outputs = [await asyncio.wait_for(p.communicate(), timeout=120) for p in processes]
    failures = [
        err.decode() for p, (_, err) in zip(processes, outputs, strict=True) if p.returncode
    ]
    assert failures == []
    assert await inspect_db(database_url) == (TABLES, head())


def test_alembic_command_line(sqlite_url: str, tmp_path: Path) -> None:
    """``alembic -c service/storage/alembic.ini upgrade head`` takes OIH_DATABASE_URL."""
    env = {**os.environ, "OIH_DATABASE_URL": sqlite_url.replace("+aiosqlite", "")}
    for args in (["upgrade", "head"], ["current"]):
        result = subprocess.run(
            [sys.executable, "-m", "alembic", "-c", "service/storage/alembic.ini", *args],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stderr
    assert f"{head()} (head)" in result.stdout


def test_alembic_command_line_defaults_to_the_data_directory(tmp_path: Path) -> None:
    """Without OIH_DATABASE_URL the CLI uses the service's SQLite file under OIH_DATA_DIR,
    even when unrelated settings (auth) are incomplete in the operator's shell."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OIH_")}
    env["OIH_DATA_DIR"] = str(tmp_path / "data")
    result = subprocess.run(
        [sys.executable, "-m", "alembic", "-c", str(alembic_ini_path()), "upgrade", "head"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "data" / "oih-cds.sqlite3").is_file()


async def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(sqlite_url: str) -> None:
    await migrate(sqlite_url)
    store = create_store(sqlite_url)
    try:
        async with store.engine.connect() as conn:
            assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
            assert (await conn.execute(text("PRAGMA busy_timeout"))).scalar_one() >= 5000
    finally:
        await store.close()


def test_migrations_are_package_data() -> None:
    """The ini, env.py, the template and the revisions live inside the package."""
    ini = alembic_ini_path()
    package = REPO / "service" / "storage"
    assert ini == package / "alembic.ini"
    for name in ("env.py", "script.py.mako", "__init__.py", "versions/__init__.py"):
        assert (package / "migrations" / name).is_file()
    assert (package / "migrations" / "versions" / "0001_initial.py").is_file()
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert Path(script.dir) == package / "migrations"
    assert [rev.revision for rev in script.walk_revisions()] == ["0003", "0002", "0001"]


async def test_sqlite_lock_during_migration_is_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite may say "database is locked" at once when processes race on a fresh file."""
    import importlib

    from sqlalchemy.exc import OperationalError

    migrate_module = importlib.import_module("service.storage.migrate")

    calls: list[str] = []

    def flaky_upgrade(config: object, revision: str) -> None:
        calls.append(revision)
        if len(calls) < 3:
            raise OperationalError("BEGIN IMMEDIATE", {}, Exception("database is locked"))

    monkeypatch.setattr(migrate_module.command, "upgrade", flaky_upgrade)
    monkeypatch.setattr(migrate_module.time, "sleep", lambda _seconds: None)
    migrate_module._upgrade_blocking("sqlite:///unused.db", "head")
    assert calls == ["head", "head", "head"]


async def test_other_database_errors_are_not_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    from sqlalchemy.exc import OperationalError

    migrate_module = importlib.import_module("service.storage.migrate")

    calls: list[str] = []

    def broken_upgrade(config: object, revision: str) -> None:
        calls.append(revision)
        raise OperationalError("CREATE TABLE", {}, Exception("disk I/O error"))

    monkeypatch.setattr(migrate_module.command, "upgrade", broken_upgrade)
    with pytest.raises(OperationalError, match="disk I/O"):
        migrate_module._upgrade_blocking("sqlite:///unused.db", "head")
    assert calls == ["head"]


#: Each purge the maintenance runs (service/maintenance.py), with the index it needs.
PURGES: dict[str, Callable[[Store, datetime], Awaitable[object]]] = {
    "ix_card_issued_keyed_created_at": lambda store, at: store.purge_patient_keys(at, at),
    "ix_feedback_commented_received_at": lambda store, at: store.purge_user_comments(at),
}


@pytest.mark.parametrize("index", list(PURGES))
async def test_the_hourly_purges_can_use_their_partial_indexes(
    database_url: str, index: str
) -> None:
    """The purge need not walk the whole history (450 ms a run at 2 million cards).

    The Store's own UPDATE statements are captured as it runs them, then explained.
    """
    await migrate(database_url)
    store = create_store(database_url)
    updates: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE"):
            updates.append((statement, parameters))

    event.listen(store.engine.sync_engine, "before_cursor_execute", capture)
    try:
        await PURGES[index](store, datetime(2026, 11, 16, tzinfo=UTC))
        assert updates, "the purge ran no UPDATE"
        plans: list[str] = []
        async with store.engine.connect() as conn:
            postgresql = store.engine.dialect.name == "postgresql"
            if postgresql:
                # Empty tables: make the planner show whether the index can serve the query.
                await conn.execute(text("SET LOCAL enable_seqscan = off"))
            for statement, parameters in updates:
                prefix = "EXPLAIN " if postgresql else "EXPLAIN QUERY PLAN "
                rows = await conn.exec_driver_sql(prefix + statement, parameters)
                plans += [str(row[-1]) for row in rows]
            await conn.rollback()
    finally:
        await store.close()
    assert any(index in line for line in plans), plans
