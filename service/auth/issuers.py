"""Which CDS clients we trust: issuers, their keys, algorithms, ``jku`` values and tenants.

Loaded once at start-up from ``OIH_TRUSTED_ISSUERS_FILE`` (YAML, or JSON by extension)::

    issuers:
      - iss: https://ehr.example.org            # required, compared exactly with the claim
        jwks: {keys: [...]}                     # exactly one of jwks / jwks_file / jwks_url
        algorithms: [ES384, RS384]              # optional; this is the default
        jku: [https://ehr.example.org/jwks]     # optional: accepted jku header values
        tenants: [tenant-a]                     # optional: the tenant claim must be one of these
        fhir_servers: [https://ehr.example.org/fhir]   # optional: FHIR bases it may name

Anything odd stops start-up with an :class:`IssuerConfigError` naming the file and entry,
because a trust list that silently drops or widens an entry is worse than no service.
CDS Hooks 2.0 forbids ``none`` and HMAC ("SHALL NOT"), so only asymmetric algorithms
load. A ``jwks_url`` is itself an accepted ``jku`` value. Pinned keys (``jwks`` /
``jwks_file``) are never fetched, even when the token's ``jku`` is allow-listed.
"""

from __future__ import annotations

import ipaddress
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from service.auth.jwks import InvalidJwks, KeySet
from service.config import SANDBOX_ISSUER, Settings

logger = logging.getLogger(__name__)

#: Asymmetric JWS algorithms a trusted issuer may be configured with.
ASYMMETRIC_ALGORITHMS: Final = frozenset(
    {"ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
)
#: CDS Hooks 2.0 recommends ES384 and RS384; anything else must be asked for per issuer.
DEFAULT_ALGORITHMS: Final = ("ES384", "RS384")

SANDBOX_JKU: Final = "https://sandbox.cds-hooks.org/.well-known/jwks.json"
SANDBOX_JWKS_RESOURCE: Final = "data/sandbox-jwks.json"


class IssuerConfigError(ValueError):
    """The trusted-issuer configuration is invalid; the message says where and why."""


@dataclass(frozen=True, slots=True)
class IssuerPolicy:
    """Runtime view of one trusted issuer (validated, normalised, keys loaded)."""

    iss: str
    algorithms: frozenset[str]
    jku: frozenset[str]
    tenants: frozenset[str] | None
    fhir_servers: tuple[str, ...]
    static_keys: KeySet | None
    jwks_url: str | None

    @property
    def fetchable_urls(self) -> frozenset[str]:
        """URLs the key store may fetch: only for remote issuers, only allow-listed ones."""
        if self.static_keys is not None:
            return frozenset()
        return self.jku | ({self.jwks_url} if self.jwks_url else set())


def _is_loopback(host: str | None) -> bool:
    if host is None:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _absolute_url(value: str, *, what: str, https_only: bool) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{what} {value!r} must be an absolute http(s) URL")
    if parts.fragment:
        raise ValueError(f"{what} {value!r} must not have a #fragment")
    if https_only and parts.scheme != "https" and not _is_loopback(parts.hostname):
        raise ValueError(f"{what} {value!r} must use https (http only for localhost)")
    return value


class IssuerConfig(BaseModel):
    """One ``issuers`` entry exactly as written in the file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    iss: str
    jwks: dict[str, Any] | None = None
    jwks_file: Path | None = None
    jwks_url: str | None = None
    algorithms: list[str] = Field(default_factory=lambda: list(DEFAULT_ALGORITHMS))
    jku: list[str] = Field(default_factory=list)
    tenants: list[str] | None = None
    fhir_servers: list[str] = Field(default_factory=list)

    @field_validator("iss")
    @classmethod
    def _iss(cls, value: str) -> str:
        if value != value.strip():
            raise ValueError("iss must not have surrounding whitespace")
        return _absolute_url(value, what="iss", https_only=False)

    @field_validator("jwks")
    @classmethod
    def _jwks(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            KeySet.from_jwks(value, reject_private=True)  # InvalidJwks is a ValueError
        return value

    @field_validator("jwks_url")
    @classmethod
    def _jwks_url(cls, value: str | None) -> str | None:
        return None if value is None else _absolute_url(value, what="jwks_url", https_only=True)

    @field_validator("jku")
    @classmethod
    def _jku(cls, value: list[str]) -> list[str]:
        return [_absolute_url(url, what="jku", https_only=True) for url in value]

    @field_validator("fhir_servers")
    @classmethod
    def _fhir_servers(cls, value: list[str]) -> list[str]:
        return [
            _absolute_url(url.strip(), what="fhir_servers entry", https_only=False).rstrip("/")
            for url in value
        ]

    @field_validator("tenants")
    @classmethod
    def _tenants(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and (not value or any(not t for t in value)):
            raise ValueError("tenants must list at least one non-empty tenant, or be omitted")
        return value

    @field_validator("algorithms")
    @classmethod
    def _algorithms(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("algorithms must not be empty (omit it for ES384, RS384)")
        for alg in value:
            if alg.lower() == "none":
                raise ValueError(
                    "algorithm 'none' is forbidden: CDS Hooks 2.0 says clients SHALL NOT use it"
                )
            if alg.upper().startswith("HS"):
                raise ValueError(
                    f"algorithm {alg!r} is HMAC, which CDS Hooks 2.0 forbids (SHALL NOT); "
                    "use an asymmetric algorithm such as ES384 or RS384"
                )
            if alg not in ASYMMETRIC_ALGORITHMS:
                raise ValueError(
                    f"algorithm {alg!r} is not supported; use one of "
                    f"{', '.join(sorted(ASYMMETRIC_ALGORITHMS))}"
                )
        return list(dict.fromkeys(value))

    @model_validator(mode="after")
    def _one_key_source(self) -> IssuerConfig:
        given = [
            name for name in ("jwks", "jwks_file", "jwks_url") if getattr(self, name) is not None
        ]
        if len(given) != 1:
            raise ValueError(
                "exactly one of jwks, jwks_file, jwks_url is required"
                + (f" (got {', '.join(given)})" if given else "")
            )
        return self


class IssuersFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    issuers: list[IssuerConfig] = Field(min_length=1)


def _entry_label(raw: object, index: int) -> str:
    label = f"issuers[{index}]"
    if isinstance(raw, Mapping):
        entries = raw.get("issuers")
        if isinstance(entries, list) and index < len(entries):
            entry = entries[index]
            if isinstance(entry, Mapping) and isinstance(entry.get("iss"), str):
                label += f" (iss {entry['iss']!r})"
    return label


def _format_validation_error(path: Path, raw: object, error: ValidationError) -> str:
    lines = []
    for item in error.errors(include_url=False, include_input=False):
        loc = list(item["loc"])
        where = "top level"
        if len(loc) >= 2 and loc[0] == "issuers" and isinstance(loc[1], int):
            where = _entry_label(raw, loc[1])
            loc = loc[2:]
        field = ".".join(str(part) for part in loc)
        message = str(item["msg"]).removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown key (allowed: " + ", ".join(IssuerConfig.model_fields) + ")"
        lines.append(f"{where}: {field + ': ' if field else ''}{message}")
    return f"{path}: invalid trusted-issuer configuration: " + "; ".join(lines)


def _read_document(path: Path) -> object:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise IssuerConfigError(f"{path}: cannot read trusted-issuer file: {error}") from None
    try:
        if path.suffix.lower() == ".json":
            return json.loads(text)
        return yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as error:
        raise IssuerConfigError(f"{path}: not valid YAML/JSON: {error}") from None


def _load_jwks_file(path: Path) -> KeySet:
    return KeySet.from_jwks(json.loads(path.read_text(encoding="utf-8")), reject_private=True)


def _policy(entry: IssuerConfig, base_dir: Path, where: str) -> IssuerPolicy:
    static_keys: KeySet | None = None
    if entry.jwks is not None:
        static_keys = KeySet.from_jwks(entry.jwks, reject_private=True)
    elif entry.jwks_file is not None:
        jwks_path = entry.jwks_file if entry.jwks_file.is_absolute() else base_dir / entry.jwks_file
        try:
            static_keys = _load_jwks_file(jwks_path)
        except OSError as error:
            raise IssuerConfigError(f"{where}: jwks_file {jwks_path}: {error}") from None
        except (ValueError, RecursionError) as error:
            raise IssuerConfigError(f"{where}: jwks_file {jwks_path}: {error}") from None
    if static_keys is not None and not static_keys.supports_any(entry.algorithms):
        raise IssuerConfigError(
            f"{where}: none of its keys can verify {', '.join(entry.algorithms)} "
            "(check the key types, curves and the algorithms list)"
        )
    return IssuerPolicy(
        iss=entry.iss,
        algorithms=frozenset(entry.algorithms),
        jku=frozenset(entry.jku) | ({entry.jwks_url} if entry.jwks_url else frozenset()),
        tenants=frozenset(entry.tenants) if entry.tenants is not None else None,
        fhir_servers=tuple(dict.fromkeys(entry.fhir_servers)),
        static_keys=static_keys,
        jwks_url=entry.jwks_url,
    )


def load_trusted_issuers(path: Path) -> dict[str, IssuerPolicy]:
    """Parse and validate the trusted-issuer file; pinned key files are read now."""
    raw = _read_document(path)
    try:
        parsed = IssuersFile.model_validate(raw)
    except ValidationError as error:
        raise IssuerConfigError(_format_validation_error(path, raw, error)) from None
    policies: dict[str, IssuerPolicy] = {}
    first_index: dict[str, int] = {}
    for index, entry in enumerate(parsed.issuers):
        where = f"{path}: {_entry_label(raw, index)}"
        if entry.iss in first_index:
            raise IssuerConfigError(
                f"{where}: duplicate iss (already defined by issuers[{first_index[entry.iss]}])"
            )
        first_index[entry.iss] = index
        policies[entry.iss] = _policy(entry, path.parent, where)
    return policies


def sandbox_issuer() -> IssuerPolicy:
    """The CDS Hooks Sandbox, with its public key pinned (see data/README.md). Dev only."""
    text = resources.files("service.auth").joinpath(SANDBOX_JWKS_RESOURCE).read_text("utf-8")
    try:
        keys = KeySet.from_jwks(json.loads(text), reject_private=True)
    except InvalidJwks as error:  # pragma: no cover - shipped data file
        raise IssuerConfigError(f"built-in Sandbox JWKS is invalid: {error}") from None
    return IssuerPolicy(
        iss=SANDBOX_ISSUER,
        algorithms=frozenset({"ES384"}),
        jku=frozenset({SANDBOX_JKU}),
        tenants=None,
        fhir_servers=(),
        static_keys=keys,
        jwks_url=None,
    )


def trusted_issuers_from_settings(settings: Settings) -> dict[str, IssuerPolicy]:
    """The file's issuers plus, only if ``trust_sandbox_issuer``, the built-in Sandbox."""
    policies: dict[str, IssuerPolicy] = {}
    if settings.trusted_issuers_file is not None:
        policies.update(load_trusted_issuers(settings.trusted_issuers_file))
    if settings.trust_sandbox_issuer:
        if SANDBOX_ISSUER in policies:
            raise IssuerConfigError(
                f"{settings.trusted_issuers_file}: iss {SANDBOX_ISSUER!r} is configured in the "
                "file and by OIH_TRUST_SANDBOX_ISSUER=true; keep only one"
            )
        policies[SANDBOX_ISSUER] = sandbox_issuer()
        logger.warning(
            "trusting the CDS Hooks Sandbox issuer %s: its private key is public, so anyone "
            "can mint tokens it accepts; development only",
            SANDBOX_ISSUER,
        )
    return policies
