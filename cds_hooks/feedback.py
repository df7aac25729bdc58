"""CDS Hooks 2.0 feedback: ``POST {base}/cds-services/{id}/feedback`` (spec §"Feedback").

Clinicians' feedback is the product's most valuable signal, so parsing is lenient
wherever real clients differ from the spec and strict only where the data would be
meaningless:

* The Sandbox sends ``overrideReason.reason`` as ``{code, system}`` without ``display``
  (``display`` is required only on the *card's* ``overrideReasons``), so it is optional.
* Epic uses the key ``overrideReasons`` (plural), as a list or an object, and batches
  items; both are mapped onto ``overrideReason``.
* Unknown fields (vendor extensions) are kept (``extra="allow"``).
* ``outcomeTimestamp`` is normalised to UTC; a timestamp without an offset is read as UTC.

Enforced: cds-fb-1 (``outcome`` is ``accepted|overridden``), cds-fb-2 (``accepted`` needs
``acceptedSuggestions``), cds-fb-3 (``overrideReason`` needs ``reason`` or ``userComment``),
and ``card`` must be a UUID (we always issue UUIDv4; anything else cannot be ours).

``userComment`` is free text typed by a clinician and may contain PHI: it is excluded
from ``repr`` and from validation errors, and must never be logged.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from cds_hooks.errors import InvalidRequest

MAX_REPORTED_ERRORS = 5  # enough to fix a request, short enough to read in an OperationOutcome

_LENIENT = ConfigDict(extra="allow", hide_input_in_errors=True)


class FeedbackCoding(BaseModel):
    """A Coding as clients send it in feedback: ``display`` optional (the Sandbox omits it)."""

    model_config = _LENIENT

    system: str = Field(min_length=1)
    code: str = Field(min_length=1)
    display: str | None = None


class FeedbackOverrideReason(BaseModel):
    """Why a card was overridden: a coded reason, a free-text comment, or both (cds-fb-3)."""

    model_config = _LENIENT

    reason: FeedbackCoding | None = None
    userComment: str | None = Field(default=None, repr=False)  # may contain PHI

    @model_validator(mode="after")
    def _reason_or_comment(self) -> FeedbackOverrideReason:
        if self.reason is None and not (self.userComment or "").strip():
            raise ValueError("overrideReason needs a reason or a userComment (cds-fb-3)")
        return self


class AcceptedSuggestion(BaseModel):
    model_config = _LENIENT

    id: str = Field(min_length=1)


class FeedbackItem(BaseModel):
    """One card outcome. Several may arrive in one request, and the same one repeatedly."""

    model_config = _LENIENT

    card: str
    outcome: Literal["accepted", "overridden"]
    outcomeTimestamp: datetime
    acceptedSuggestions: list[AcceptedSuggestion] | None = Field(
        default=None, validate_default=True
    )
    overrideReason: FeedbackOverrideReason | None = None

    @model_validator(mode="before")
    @classmethod
    def _map_epic_override_reasons(cls, data: Any) -> Any:
        """Epic sends ``overrideReasons`` (plural, list or object): map it to ``overrideReason``."""
        if not isinstance(data, dict) or "overrideReasons" not in data:
            return data
        data = dict(data)
        plural = data.pop("overrideReasons")
        if data.get("overrideReason") is not None:
            data["overrideReasons"] = plural  # keep it as an unknown field, don't override
            return data
        candidates = plural if isinstance(plural, list) else [plural]
        candidates = [c for c in candidates if c not in (None, {}, "")]
        if not candidates:
            return data
        first = candidates[0]
        if isinstance(first, dict) and "reason" not in first and "userComment" not in first:
            first = {"reason": first}  # a bare Coding
        data["overrideReason"] = first
        if len(candidates) > 1:
            data["additionalOverrideReasons"] = candidates[1:]
        return data

    @field_validator("card")
    @classmethod
    def _card_is_uuid(cls, value: str) -> str:
        try:
            return str(uuid.UUID(value.strip()))
        except ValueError:
            raise ValueError("card must be the card's uuid") from None

    @field_validator("outcome", mode="before")
    @classmethod
    def _outcome_lowercase(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("outcomeTimestamp")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    @field_validator("acceptedSuggestions")
    @classmethod
    def _required_when_accepted(
        cls, value: list[AcceptedSuggestion] | None, info: ValidationInfo
    ) -> list[AcceptedSuggestion] | None:
        if info.data.get("outcome") == "accepted" and not value:
            raise ValueError("acceptedSuggestions is required when outcome is accepted (cds-fb-2)")
        return value

    @property
    def accepted_suggestion_ids(self) -> list[str]:
        return [s.id for s in self.acceptedSuggestions or ()]


class FeedbackRequest(BaseModel):
    """The request body: ``{"feedback": [...]}``."""

    model_config = _LENIENT

    feedback: list[FeedbackItem]


# ----------------------------------------------------------------------------- errors


def format_location(loc: Sequence[int | str]) -> str:
    """``("feedback", 2, "acceptedSuggestions")`` -> ``feedback[2].acceptedSuggestions``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


def invalid_feedback(exc: ValidationError, *, offset: Sequence[int | str] = ()) -> InvalidRequest:
    """Turn a pydantic error into :class:`InvalidRequest`; input values are never echoed."""
    errors = exc.errors(include_url=False, include_input=False, include_context=False)
    locations: list[str] = []
    messages: list[str] = []
    for error in errors:
        location = format_location([*offset, *error["loc"]])
        message = error["msg"].removeprefix("Value error, ")
        if location and location not in locations:
            locations.append(location)
        messages.append(f"{location}: {message}" if location else message)
    shown = messages[:MAX_REPORTED_ERRORS]
    if len(messages) > len(shown):
        shown.append(f"and {len(messages) - len(shown)} more")
    return InvalidRequest("Invalid feedback: " + "; ".join(shown), location=locations)


def parse_feedback_request(body: Any) -> FeedbackRequest:
    """Validate a whole request; any invalid item rejects it with :class:`InvalidRequest`."""
    try:
        return FeedbackRequest.model_validate(body)
    except ValidationError as exc:
        raise invalid_feedback(exc) from None


@dataclass(frozen=True)
class FeedbackPartition:
    """The valid items of a batch, and an error describing the invalid ones (if any)."""

    valid: list[FeedbackItem]
    error: InvalidRequest | None


def partition_feedback(body: Any) -> FeedbackPartition:
    """Validate item by item, so one bad item in an Epic batch does not lose the others.

    The caller stores ``valid`` and still answers 400 with ``error`` when it is set.
    Errors keep the item's original index (``feedback[2].…``).
    """
    if not isinstance(body, dict) or not isinstance(body.get("feedback"), list):
        try:
            request = FeedbackRequest.model_validate(body)
        except ValidationError as exc:
            return FeedbackPartition([], invalid_feedback(exc))
        return FeedbackPartition(list(request.feedback), None)
    valid: list[FeedbackItem] = []
    locations: list[str] = []
    messages: list[str] = []
    for index, raw in enumerate(body["feedback"]):
        try:
            valid.append(FeedbackItem.model_validate(raw))
        except ValidationError as exc:
            err = invalid_feedback(exc, offset=("feedback", index))
            locations.extend(err.locations)
            messages.append(err.message.removeprefix("Invalid feedback: "))
    if not messages:
        return FeedbackPartition(valid, None)
    shown = messages[:MAX_REPORTED_ERRORS]
    if len(messages) > len(shown):
        shown.append(f"and {len(messages) - len(shown)} more invalid items")
    error = InvalidRequest("Invalid feedback: " + "; ".join(shown), location=locations)
    return FeedbackPartition(valid, error)
