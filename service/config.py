"""Settings from ``OIH_*`` environment variables, validated once at start-up.

Unsafe combinations are refused with a message that says how to fix them, because a
misconfigured clinical service should not start at all rather than run open.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

SANDBOX_ISSUER = "https://sandbox.cds-hooks.org"
SANDBOX_ORIGIN = "https://sandbox.cds-hooks.org"
#: Shortest OIH_PATIENT_KEY_SECRET accepted (service/patient_key.py), in UTF-8 bytes.
PATIENT_KEY_MIN_LENGTH = 32
#: Shortest non-zero OIH_MAINTENANCE_INTERVAL_SECONDS: each run scans tables for old rows.
MAINTENANCE_MIN_INTERVAL_SECONDS = 60


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class AuthMode(StrEnum):
    REQUIRED = "required"
    DISABLED = "disabled"


def _split_csv(value: Any) -> Any:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


def _normalise_base(url: str) -> str:
    return url.strip().rstrip("/")


CsvList = Annotated[list[str], NoDecode]


class Settings(BaseSettings):
    """Every knob of the service. Names map to ``OIH_<NAME>`` environment variables."""

    model_config = SettingsConfigDict(env_prefix="OIH_", extra="ignore", frozen=True)

    environment: Environment = Environment.DEVELOPMENT
    public_base_url: str = "http://127.0.0.1:8080"

    # --- HTTP surface
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    workers: int = Field(default=1, ge=1, le=64)
    graceful_timeout_seconds: int = Field(default=20, ge=1, le=600)
    max_body_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)
    cors_origins: CsvList = Field(default_factory=lambda: [SANDBOX_ORIGIN])
    sandbox_enabled: bool = False
    log_level: str = "INFO"
    otel_enabled: bool = False

    # --- authentication of CDS clients (JWT)
    auth_mode: AuthMode = AuthMode.REQUIRED
    trusted_issuers_file: Path | None = None
    trust_sandbox_issuer: bool = False  # development only: the Sandbox's key is public
    jwt_leeway_seconds: int = Field(default=60, ge=0, le=600)
    redis_url: str | None = None

    # --- FHIR access
    fhir_allowlist: CsvList = Field(default_factory=list)
    fhir_open_allowlist: CsvList = Field(default_factory=list)
    fhir_request_timeout_seconds: float = Field(default=1.0, gt=0, le=30)
    hook_deadline_seconds: float = Field(default=2.5, gt=0, le=60)
    fhir_max_pages: int = Field(default=5, ge=1, le=100)

    # --- storage and rules
    data_dir: Path = Path(".data")
    database_url: str | None = None
    #: Store clinicians' free-text feedback comments (they may hold PHI); false drops them.
    keep_user_comments: bool = True
    rules_file: Path | None = None
    #: HMAC secret for patient keys (snoozes); see service/patient_key.py. Unset in
    #: production turns snoozing off; in development a generated file is used.
    patient_key_secret: SecretStr | None = None
    #: How often each process reloads the active snoozes (service/snooze_cache.py).
    snooze_refresh_seconds: float = Field(default=5.0, gt=0, le=3600)
    #: Blank feedback comments received longer ago than this (service/maintenance.py);
    #: unset keeps them. Bounded so that ``now - days`` cannot overflow a datetime.
    comment_retention_days: int | None = Field(default=None, ge=1, le=36500)
    #: How often each process purges old patient keys, ended snoozes and (with a retention
    #: set) old comments; 0 turns it off. At most a day, so keys go within 7 days + a day.
    maintenance_interval_seconds: int = Field(default=3600, ge=0, le=86400)

    @field_validator("cors_origins", "fhir_allowlist", "fhir_open_allowlist", mode="before")
    @classmethod
    def _csv(cls, value: Any) -> Any:
        return _split_csv(value)

    @field_validator("comment_retention_days", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        """``OIH_COMMENT_RETENTION_DAYS=`` (a blank line in an env file) keeps comments."""
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("fhir_allowlist", "fhir_open_allowlist")
    @classmethod
    def _bases(cls, value: list[str]) -> list[str]:
        for url in value:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValueError(f"{url!r} is not an absolute http(s) FHIR base URL")
        return [_normalise_base(url) for url in value]

    @field_validator("public_base_url")
    @classmethod
    def _public_base(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("OIH_PUBLIC_BASE_URL must be an absolute http(s) URL")
        return _normalise_base(value)

    @model_validator(mode="after")
    def _refuse_unsafe(self) -> Settings:
        problems: list[str] = []
        if self.environment is Environment.PRODUCTION:
            if self.auth_mode is AuthMode.DISABLED:
                problems.append("OIH_AUTH_MODE=disabled is not allowed in production")
            if self.trust_sandbox_issuer:
                problems.append(
                    "OIH_TRUST_SANDBOX_ISSUER=true is not allowed in production: the CDS Hooks "
                    "Sandbox's private key is public, so anyone could sign its tokens"
                )
            if self.fhir_open_allowlist:
                problems.append(
                    "OIH_FHIR_OPEN_ALLOWLIST (unauthenticated FHIR calls) is for development only"
                )
            if self.sandbox_enabled:
                problems.append("OIH_SANDBOX_ENABLED=true is for development only")
            if "*" in self.cors_origins:
                problems.append("OIH_CORS_ORIGINS=* is not allowed in production")
            if not self.public_base_url.startswith("https://"):
                problems.append("OIH_PUBLIC_BASE_URL must be https in production")
            if any(url.startswith("http://") for url in self.fhir_allowlist):
                problems.append("OIH_FHIR_ALLOWLIST entries must be https in production")
        if (
            self.auth_mode is AuthMode.REQUIRED
            and self.trusted_issuers_file is None
            and not self.trust_sandbox_issuer
        ):
            problems.append(
                "OIH_AUTH_MODE=required needs OIH_TRUSTED_ISSUERS_FILE (or, in development, "
                "OIH_TRUST_SANDBOX_ISSUER=true); set OIH_AUTH_MODE=disabled for local trials"
            )
        if self.trusted_issuers_file is not None and not self.trusted_issuers_file.is_file():
            problems.append(f"OIH_TRUSTED_ISSUERS_FILE {self.trusted_issuers_file} does not exist")
        if self.rules_file is not None and not self.rules_file.is_file():
            problems.append(f"OIH_RULES_FILE {self.rules_file} does not exist")
        if (
            self.patient_key_secret is not None
            and len(self.patient_key_secret.get_secret_value().encode("utf-8"))
            < PATIENT_KEY_MIN_LENGTH
        ):
            problems.append(
                f"OIH_PATIENT_KEY_SECRET must be at least {PATIENT_KEY_MIN_LENGTH} characters"
            )
        if 0 < self.maintenance_interval_seconds < MAINTENANCE_MIN_INTERVAL_SECONDS:
            problems.append(
                "OIH_MAINTENANCE_INTERVAL_SECONDS must be 0 (off) or at least "
                f"{MAINTENANCE_MIN_INTERVAL_SECONDS}"
            )
        if self.comment_retention_days is not None and self.maintenance_interval_seconds == 0:
            problems.append(
                "OIH_COMMENT_RETENTION_DAYS is enforced by the maintenance task, which "
                "OIH_MAINTENANCE_INTERVAL_SECONDS=0 turns off; unset one of them"
            )
        if self.fhir_request_timeout_seconds > self.hook_deadline_seconds:
            problems.append(
                "OIH_FHIR_REQUEST_TIMEOUT_SECONDS must not exceed OIH_HOOK_DEADLINE_SECONDS"
            )
        if problems:
            raise ValueError("unsafe or invalid configuration: " + "; ".join(problems))
        return self

    @property
    def effective_database_url(self) -> str:
        """PostgreSQL when configured, else an SQLite file under the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'oih-cds.sqlite3').resolve()}"
