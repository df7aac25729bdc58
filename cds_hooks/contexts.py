"""Hook contexts of the CDS Hooks Hook Library 1.0.1 that oih-cds serves.

Required fields are checked strictly (a wrong or missing one is a 400 that says
where); everything else is tolerated, because real clients differ: the Sandbox
sends ``draftOrders`` without ``Bundle.type`` and never sends ``encounterId``;
Epic adds its own fields.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from cds_hooks.errors import InvalidRequest

#: Hook Library ord-1: a relative reference "Type/id".
_REFERENCE = re.compile(r"^[A-Za-z]+/[A-Za-z0-9\-.]{1,64}$")
_USER_TYPES = ("Practitioner", "PractitionerRole", "Patient", "RelatedPerson")


class _Context(BaseModel):
    model_config = ConfigDict(extra="allow", hide_input_in_errors=True)

    userId: str = Field(min_length=1)
    patientId: str = Field(min_length=1, max_length=64)
    encounterId: str | None = Field(default=None, min_length=1, max_length=64)

    @field_validator("userId")
    @classmethod
    def _user_reference(cls, value: str) -> str:
        if not _REFERENCE.match(value) or value.split("/", 1)[0] not in _USER_TYPES:
            raise ValueError(
                "userId must be a relative reference such as Practitioner/123 "
                "(Practitioner, PractitionerRole, Patient or RelatedPerson)"
            )
        return value

    @field_validator("patientId")
    @classmethod
    def _bare_id(cls, value: str) -> str:
        if "/" in value:
            raise ValueError("patientId is a bare id, not a reference (use 123, not Patient/123)")
        return value


class PatientViewContext(_Context):
    pass


class _OrderContext(_Context):
    draftOrders: dict[str, Any]

    @field_validator("draftOrders")
    @classmethod
    def _is_bundle(cls, value: dict[str, Any]) -> dict[str, Any]:
        if value.get("resourceType") != "Bundle":
            raise ValueError("draftOrders must be a FHIR Bundle")
        entries = value.get("entry", [])
        if not isinstance(entries, list):
            raise ValueError("draftOrders.entry must be a list")
        for index, entry in enumerate(entries):
            if not isinstance(entry, dict) or not isinstance(entry.get("resource"), dict):
                raise ValueError(f"draftOrders.entry[{index}] has no resource object")
        return value


class OrderSignContext(_OrderContext):
    pass


class OrderSelectContext(_OrderContext):
    selections: list[str] = Field(min_length=1)

    @field_validator("selections")
    @classmethod
    def _references(cls, value: list[str]) -> list[str]:
        for item in value:
            if not _REFERENCE.match(item):
                raise ValueError(f"selections entry {item!r} is not a Type/id reference")
        return value


HookContext = PatientViewContext | OrderSignContext | OrderSelectContext

CONTEXT_MODELS: dict[str, type[_Context]] = {
    "patient-view": PatientViewContext,
    "order-sign": OrderSignContext,
    "order-select": OrderSelectContext,
}


def parse_context(hook: str, context: dict[str, Any]) -> HookContext:
    """Validate a hook's context; errors point at ``context.<field>``."""
    model = CONTEXT_MODELS.get(hook)
    if model is None:
        raise InvalidRequest(f"hook {hook!r} is not supported", location="hook")
    try:
        parsed = model.model_validate(context)
    except ValidationError as exc:
        raise InvalidRequest(
            _describe(exc, prefix="context"), location=_locations(exc, "context")
        ) from None
    assert isinstance(parsed, PatientViewContext | OrderSignContext | OrderSelectContext)
    if isinstance(parsed, OrderSelectContext):
        _check_selections_exist(parsed)
    return parsed


def _check_selections_exist(ctx: OrderSelectContext) -> None:
    present = {
        f"{e['resource'].get('resourceType')}/{e['resource'].get('id')}"
        for e in ctx.draftOrders.get("entry", [])
    }
    for index, ref in enumerate(ctx.selections):
        if ref not in present:
            raise InvalidRequest(
                f"selections[{index}] {ref!r} does not name an order in draftOrders",
                location=f"context.selections[{index}]",
            )


def _path(loc: tuple[int | str, ...], prefix: str) -> str:
    """``context.draftOrders.entry[0]``; without a prefix, ``hook`` (no leading dot)."""
    out = prefix
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _locations(exc: ValidationError, prefix: str) -> list[str]:
    return [_path(err["loc"], prefix) for err in exc.errors()]


def _describe(exc: ValidationError, prefix: str) -> str:
    """One readable sentence per problem, without echoing the input (it may hold PHI)."""
    parts = []
    for err in exc.errors():
        message = str(err["msg"]).removeprefix("Value error, ")
        parts.append(f"{_path(err['loc'], prefix)}: {message}")
    return "; ".join(parts)


def describe_validation_error(exc: ValidationError, prefix: str = "") -> tuple[str, list[str]]:
    """Turn a pydantic error into (message, locations) for an OperationOutcome."""
    return _describe(exc, prefix), _locations(exc, prefix)
