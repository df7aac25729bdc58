"""Settings come from OIH_* variables and refuse unsafe combinations with a clear message."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from service.config import AuthMode, Environment, Settings


def make(**kwargs: object) -> Settings:
    return Settings(_env_file=None, **kwargs)  # type: ignore[arg-type]


def test_environment_variables_with_prefix_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OIH_AUTH_MODE", "disabled")
    monkeypatch.setenv("OIH_FHIR_ALLOWLIST", "https://ehr.example/fhir/, https://b.example/r4")
    monkeypatch.setenv("OIH_CORS_ORIGINS", "https://a.example,https://b.example")
    monkeypatch.setenv("OIH_PUBLIC_BASE_URL", "https://cds.example.org/")
    settings = Settings()
    assert settings.auth_mode is AuthMode.DISABLED
    assert settings.fhir_allowlist == ["https://ehr.example/fhir", "https://b.example/r4"]
    assert settings.cors_origins == ["https://a.example", "https://b.example"]
    assert settings.public_base_url == "https://cds.example.org"


def test_defaults_use_embedded_sqlite(tmp_path: Path) -> None:
    settings = make(auth_mode="disabled", data_dir=tmp_path)
    assert settings.effective_database_url.startswith("sqlite+aiosqlite:///")
    assert str(tmp_path) in settings.effective_database_url
    assert make(
        auth_mode="disabled", database_url="postgresql+asyncpg://x/y"
    ).effective_database_url == ("postgresql+asyncpg://x/y")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"environment": "production", "auth_mode": "disabled"}, "OIH_AUTH_MODE=disabled"),
        ({"environment": "production", "trust_sandbox_issuer": True}, "private key is public"),
        (
            {
                "environment": "production",
                "auth_mode": "disabled",
                "fhir_open_allowlist": "https://x.example",
            },
            "OIH_FHIR_OPEN_ALLOWLIST",
        ),
        (
            {"environment": "production", "auth_mode": "disabled", "sandbox_enabled": True},
            "OIH_SANDBOX_ENABLED",
        ),
        (
            {"environment": "production", "auth_mode": "disabled", "cors_origins": "*"},
            "OIH_CORS_ORIGINS=*",
        ),
        (
            {
                "environment": "production",
                "auth_mode": "disabled",
                "public_base_url": "http://cds.example",
            },
            "must be https",
        ),
        ({"auth_mode": "required"}, "OIH_TRUSTED_ISSUERS_FILE"),
        ({"auth_mode": "disabled", "trusted_issuers_file": "/nonexistent.yaml"}, "does not exist"),
        ({"auth_mode": "disabled", "rules_file": "/nonexistent.yaml"}, "OIH_RULES_FILE"),
        ({"auth_mode": "disabled", "fhir_allowlist": "not-a-url"}, "not an absolute"),
        ({"auth_mode": "disabled", "public_base_url": "cds.example"}, "absolute"),
        (
            {
                "auth_mode": "disabled",
                "fhir_request_timeout_seconds": 3,
                "hook_deadline_seconds": 2,
            },
            "must not exceed",
        ),
        ({"auth_mode": "disabled", "comment_retention_days": 0}, "comment_retention_days"),
        ({"auth_mode": "disabled", "comment_retention_days": "ninety"}, "comment_retention_days"),
        ({"auth_mode": "disabled", "comment_retention_days": 36501}, "comment_retention_days"),
        ({"auth_mode": "disabled", "maintenance_interval_seconds": -1}, "maintenance_interval"),
        ({"auth_mode": "disabled", "maintenance_interval_seconds": 86401}, "maintenance_interval"),
        (
            {"auth_mode": "disabled", "maintenance_interval_seconds": 59},
            "OIH_MAINTENANCE_INTERVAL_SECONDS must be 0 \\(off\\) or at least 60",
        ),
        (
            {
                "auth_mode": "disabled",
                "maintenance_interval_seconds": 0,
                "comment_retention_days": 90,
            },
            "OIH_COMMENT_RETENTION_DAYS is enforced by the maintenance task",
        ),
    ],
)
def test_unsafe_or_invalid_combinations_are_refused(
    kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        make(**kwargs)


def test_production_with_issuers_file_is_accepted(tmp_path: Path) -> None:
    issuers = tmp_path / "issuers.yaml"
    issuers.write_text("issuers: []\n")
    settings = make(
        environment="production",
        public_base_url="https://cds.example.org",
        trusted_issuers_file=issuers,
        cors_origins="https://ehr.example.org",
    )
    assert settings.environment is Environment.PRODUCTION
    assert settings.auth_mode is AuthMode.REQUIRED


def test_maintenance_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Comments are kept unless a retention is set; maintenance runs hourly; 0 turns it off."""
    from service.maintenance import DEFAULT_INTERVAL_SECONDS

    defaults = make(auth_mode="disabled")
    assert defaults.comment_retention_days is None
    assert defaults.maintenance_interval_seconds == DEFAULT_INTERVAL_SECONDS == 3600
    monkeypatch.setenv("OIH_COMMENT_RETENTION_DAYS", "90")
    monkeypatch.setenv("OIH_MAINTENANCE_INTERVAL_SECONDS", "600")
    settings = make(auth_mode="disabled")
    assert settings.comment_retention_days == 90
    assert settings.maintenance_interval_seconds == 600
    monkeypatch.delenv("OIH_COMMENT_RETENTION_DAYS")
    monkeypatch.setenv("OIH_MAINTENANCE_INTERVAL_SECONDS", "0")
    assert make(auth_mode="disabled").maintenance_interval_seconds == 0


def test_a_blank_comment_retention_keeps_comments(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OIH_COMMENT_RETENTION_DAYS", "")
    assert make(auth_mode="disabled").comment_retention_days is None
    monkeypatch.setenv("OIH_COMMENT_RETENTION_DAYS", " 30 ")
    assert make(auth_mode="disabled").comment_retention_days == 30
