"""The oih-cds console script: openapi prints the spec; serve refuses bad settings."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from service.cli import app

runner = CliRunner()


def test_openapi_prints_the_document() -> None:
    result = runner.invoke(app, ["openapi"])
    assert result.exit_code == 0
    spec = json.loads(result.stdout)
    assert "/cds-services/{service_id}" in spec["paths"]


def test_serve_refuses_unsafe_settings_with_a_clear_message(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OIH_ENVIRONMENT", "production")
    monkeypatch.setenv("OIH_AUTH_MODE", "disabled")
    result = runner.invoke(app, ["serve", "--port", "18999"])
    assert result.exit_code == 2
    assert "OIH_AUTH_MODE=disabled is not allowed in production" in result.output
