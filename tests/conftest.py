"""Shared fixtures: a fixed clock, settings without auth, the app and a client."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.config import AuthMode, Settings
from service.main import create_app

DATA = Path(__file__).parent / "data"
FIXED_NOW = datetime(2026, 11, 23, 14, 30, tzinfo=UTC)


def load_json(relative: str) -> Any:
    return json.loads((DATA / relative).read_text(encoding="utf-8"))


def fixed_clock() -> datetime:
    return FIXED_NOW


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        auth_mode=AuthMode.DISABLED,
        data_dir=tmp_path,
        _env_file=None,
    )


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings, clock=fixed_clock)) as test_client:
        yield test_client
