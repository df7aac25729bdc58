"""Durable storage of issued cards, clinicians' feedback and snoozes (SQLite or PostgreSQL).

Wiring (FastAPI lifespan)::

    url = settings.effective_database_url
    await migrate(url)              # Alembic upgrade head; safe from many replicas at once
    store = create_store(url)       # SQLite: WAL + busy timeout; PostgreSQL: asyncpg pool
    ...
    await store.close()

Privacy: no patient identifiers are stored; snoozes use a keyed pseudonym
(``service/patient_key.py``) that cannot be reversed without the operator's secret.
``feedback.user_comment`` is free text a
clinician typed and may contain PHI. We **store** it, because it is often the only
explanation of an override, but it is never logged, never part of ``repr``, validation
errors or the report, and ``create_store(url, keep_user_comments=False)`` drops it at
the door for deployments that must not hold it. Treat the database as PHI-bearing.
"""

from __future__ import annotations

from service.storage.engine import async_database_url
from service.storage.migrate import alembic_config, migrate
from service.storage.store import (
    IssuedCard,
    IssuedResponse,
    ReasonCount,
    Store,
    TopicReport,
    create_store,
    idempotency_key,
)

__all__ = [
    "IssuedCard",
    "IssuedResponse",
    "ReasonCount",
    "Store",
    "TopicReport",
    "alembic_config",
    "async_database_url",
    "create_store",
    "idempotency_key",
    "migrate",
]
