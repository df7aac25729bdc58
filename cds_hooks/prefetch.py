"""Prefetch templates: render their tokens and classify what the client sent.

CDS Hooks 2.0 allows only ``{{context.<field>}}`` for root-level primitive context
fields and the four ``{{user...Id}}`` tokens. A client may fill none, some or all
slots; each slot is classified so the service knows what it still has to fetch.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

_TOKEN = re.compile(r"\{\{\s*([A-Za-z][A-Za-z0-9_.]*)\s*\}\}")

#: Context fields of our three hooks that the spec marks "Prefetch Token: Yes".
CONTEXT_TOKENS = frozenset({"context.patientId", "context.userId", "context.encounterId"})
USER_TOKENS = frozenset(
    {"userPractitionerId", "userPractitionerRoleId", "userPatientId", "userRelatedPersonId"}
)
_USER_TOKEN_TYPE = {
    "userPractitionerId": "Practitioner",
    "userPractitionerRoleId": "PractitionerRole",
    "userPatientId": "Patient",
    "userRelatedPersonId": "RelatedPerson",
}


class SlotState(StrEnum):
    """What a client put in one prefetch slot."""

    PRESENT = "present"  # a resource or a Bundle: use it
    NULL = "null"  # the client looked and there is no data: do not fetch
    FAILED = "operation-outcome"  # the client tried and failed: fetch it ourselves
    ABSENT = "absent"  # the client did not fill it: fetch it ourselves


#: A FHIR resource id (R4 ``id`` datatype); anything else must never reach a query URL.
_FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")


class UnresolvableToken(ValueError):
    """A template token has no usable value here (no encounterId, or not a FHIR id)."""


def is_fhir_id(value: object) -> bool:
    return (
        isinstance(value, str) and _FHIR_ID.fullmatch(value) is not None and value.strip(".") != ""
    )


def _is_reference(value: object) -> bool:
    """``Type/id`` with a plain type name and a FHIR id (e.g. ``Practitioner/123``)."""
    if not isinstance(value, str):
        return False
    kind, slash, ident = value.partition("/")
    return bool(slash) and kind.isalpha() and is_fhir_id(ident)


def template_tokens(template: str) -> list[str]:
    return _TOKEN.findall(template)


def is_allowed_token(token: str) -> bool:
    return token in CONTEXT_TOKENS or token in USER_TOKENS


def render_template(template: str, context: Mapping[str, Any]) -> str:
    """Fill a prefetch template from the hook context.

    Raises :class:`UnresolvableToken` when a token has no usable value here, so that the
    caller can treat the slot as optional rather than query ``?patient=``; a value that
    is not a FHIR id (``1&_include=*``, ``../..``) is refused the same way, so it can
    never be pasted into a query.
    """

    def substitute(match: re.Match[str]) -> str:
        token = match.group(1)
        if token.startswith("context."):
            field = token.removeprefix("context.")
            value = context.get(field)
            valid = _is_reference(value) if field == "userId" else is_fhir_id(value)
            if token not in CONTEXT_TOKENS or not valid:
                raise UnresolvableToken(token)
            assert isinstance(value, str)
            return value
        if token in _USER_TOKEN_TYPE:
            user = context.get("userId")
            prefix = _USER_TOKEN_TYPE[token] + "/"
            if isinstance(user, str) and user.startswith(prefix):
                ident = user.removeprefix(prefix)
                if is_fhir_id(ident):
                    return ident
            raise UnresolvableToken(token)
        raise UnresolvableToken(token)

    return _TOKEN.sub(substitute, template)


def classify_slot(prefetch: Mapping[str, Any] | None, key: str) -> SlotState:
    """Classify one prefetch slot as present, null, failed (OperationOutcome) or absent."""
    if prefetch is None or key not in prefetch:
        return SlotState.ABSENT
    value = prefetch[key]
    if value is None:
        return SlotState.NULL
    if not isinstance(value, dict):
        return SlotState.FAILED
    resource_type = value.get("resourceType")
    if resource_type == "OperationOutcome":
        return SlotState.FAILED
    if resource_type == "Bundle" and _bundle_is_only_outcome(value):
        return SlotState.FAILED
    if not isinstance(resource_type, str):
        return SlotState.FAILED
    return SlotState.PRESENT


def _bundle_is_only_outcome(bundle: Mapping[str, Any]) -> bool:
    """A Bundle holding nothing but error OperationOutcomes is a failed search.

    Epic adds informational OperationOutcomes (``search.mode: outcome``) beside real
    results, and a warning-only Bundle is an empty result, so only errors count.
    """
    entries = bundle.get("entry")
    if not isinstance(entries, list) or not entries:
        return False
    has_error = False
    for entry in entries:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict) or resource.get("resourceType") != "OperationOutcome":
            return False
        issues = resource.get("issue")
        if isinstance(issues, list) and any(
            isinstance(i, dict) and i.get("severity") in ("error", "fatal") for i in issues
        ):
            has_error = True
    return has_error
