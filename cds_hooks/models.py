"""CDS Hooks 2.0 wire shapes: the hook request and the card response.

Requests are parsed leniently (unknown fields are kept, as real clients add their
own); responses are strict, so that no rule can emit a card that breaks the spec:
the invariants of CDS Hooks 2.0 (and the 3.0-ballot FSH invariants cds-resp-1..6)
are enforced in validators, and serialisation never writes ``null`` or empty values.
"""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

MAX_SUMMARY_CHARS = 139  # the spec says "<140 characters"


# --------------------------------------------------------------------------- request


class FhirAuthorization(BaseModel):
    """The OAuth token a client grants for FHIR calls. Never logged or stored."""

    model_config = ConfigDict(extra="allow", hide_input_in_errors=True)

    access_token: str = Field(min_length=1, repr=False)
    token_type: str = "Bearer"  # noqa: S105 - a token type, not a secret
    expires_in: int | None = None
    scope: str | None = None
    subject: str | None = None
    patient: str | None = None


class CDSRequest(BaseModel):
    """A hook call. Context is validated per hook by :mod:`cds_hooks.contexts`."""

    model_config = ConfigDict(extra="allow", hide_input_in_errors=True)

    hook: str = Field(min_length=1)
    hookInstance: str = Field(min_length=1, max_length=200)
    fhirServer: str | None = None
    fhirAuthorization: FhirAuthorization | None = None
    context: dict[str, Any]
    prefetch: dict[str, Any] | None = None
    extension: dict[str, Any] | None = None

    @field_validator("fhirServer")
    @classmethod
    def _fhir_server_is_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("https://", "http://")):
            raise ValueError("fhirServer must be an absolute http(s) URL")
        return value.rstrip("/") if value else value

    @model_validator(mode="after")
    def _authorization_needs_server(self) -> CDSRequest:
        if self.fhirAuthorization is not None and not self.fhirServer:
            raise ValueError("fhirServer is required when fhirAuthorization is present")
        return self


# -------------------------------------------------------------------------- response


class _Wire(BaseModel):
    """Response models: strict, immutable, and serialised without null or empty values."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    def wire(self) -> dict[str, Any]:
        pruned: dict[str, Any] = _prune(self.model_dump(mode="json", exclude_none=True))
        return pruned


def _prune(value: Any) -> Any:
    """Drop empty strings, lists and objects, which CDS Hooks forbids in responses."""
    if isinstance(value, dict):
        pruned = {k: _prune(v) for k, v in value.items()}
        return {k: v for k, v in pruned.items() if v not in ("", [], {}, None)}
    if isinstance(value, list):
        return [_prune(v) for v in value if v not in ("", [], {}, None)]
    return value


def new_uuid() -> str:
    return str(uuid.uuid4())


class Indicator(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class Coding(_Wire):
    system: str = Field(min_length=1)
    code: str = Field(min_length=1)
    display: str | None = None


class OverrideReason(Coding):
    """An override reason Coding: ``display`` is required here (cds-resp-4)."""

    display: str = Field(min_length=1)


class Source(_Wire):
    label: str = Field(min_length=1)
    url: str | None = None
    icon: str | None = None
    topic: Coding | None = None


class Link(_Wire):
    label: str = Field(min_length=1)
    url: str = Field(min_length=1)
    type: Literal["absolute", "smart"] = "absolute"
    appContext: str | None = None
    autolaunchable: bool | None = None

    @model_validator(mode="after")
    def _app_context_only_for_smart(self) -> Link:
        if self.appContext is not None and self.type != "smart":
            raise ValueError("appContext is only allowed on smart links (cds-resp-3)")
        return self


class Action(_Wire):
    type: Literal["create", "update", "delete"]
    description: str = Field(min_length=1)
    resource: dict[str, Any] | None = None
    resourceId: str | None = None

    @model_validator(mode="after")
    def _shape_matches_type(self) -> Action:
        if self.type == "delete":
            if not self.resourceId or self.resource is not None:
                raise ValueError("a delete action needs resourceId and no resource (cds-resp-2)")
        elif self.resource is None:
            raise ValueError(f"a {self.type} action needs the resource")
        return self


class Suggestion(_Wire):
    label: str = Field(min_length=1)
    uuid: str = Field(default_factory=new_uuid)
    isRecommended: bool | None = None
    actions: tuple[Action, ...] = ()


class Card(_Wire):
    uuid: str = Field(default_factory=new_uuid)
    summary: str = Field(min_length=1, max_length=MAX_SUMMARY_CHARS)
    detail: str | None = None
    indicator: Indicator
    source: Source
    suggestions: tuple[Suggestion, ...] = ()
    selectionBehavior: Literal["at-most-one", "any"] | None = None
    overrideReasons: tuple[OverrideReason, ...] = ()
    links: tuple[Link, ...] = ()

    @model_validator(mode="after")
    def _suggestion_invariants(self) -> Card:
        if self.suggestions and self.selectionBehavior is None:
            raise ValueError(
                "selectionBehavior is required when there are suggestions (cds-resp-6)"
            )
        if self.selectionBehavior == "at-most-one":
            recommended = sum(1 for s in self.suggestions if s.isRecommended)
            if recommended > 1:
                raise ValueError("at-most-one allows one recommended suggestion (cds-resp-1)")
        if self.source.topic is None:
            raise ValueError("every oih-cds card carries source.topic, a stable code per card type")
        return self


class CDSResponse(_Wire):
    cards: tuple[Card, ...] = ()
    systemActions: tuple[Action, ...] = ()

    def wire(self) -> dict[str, Any]:
        body = super().wire()
        body["cards"] = body.get("cards", [])  # the one empty list the spec requires
        return body
