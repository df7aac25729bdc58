"""Feedback parsing: the spec's rules (cds-fb-1..3) and the leniency real clients need."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from cds_hooks.errors import InvalidRequest
from cds_hooks.feedback import (
    FeedbackItem,
    FeedbackRequest,
    format_location,
    parse_feedback_request,
    partition_feedback,
)

SPEC = Path(__file__).parents[1] / "data" / "cds-hooks" / "hl7-cds-hooks-2.0.1-spec-examples"
CARD = "4e0a3a1e-3283-4575-ab82-028d55fe2719"
SYSTEM = "https://example.com/cds-hooks/override-reason-system"


def load(name: str) -> Any:
    return json.loads((SPEC / name).read_text(encoding="utf-8"))


def item(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "card": CARD,
        "outcome": "overridden",
        "outcomeTimestamp": "2021-12-11T10:05:31Z",
    }
    base.update(fields)
    return base


def accepted(**fields: Any) -> dict[str, Any]:
    return item(outcome="accepted", acceptedSuggestions=[{"id": "s1"}], **fields)


def rejected(body: Any) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as info:
        parse_feedback_request(body)
    return info.value


# ----------------------------------------------------------------------- spec examples


@pytest.mark.parametrize(
    "name",
    [
        "spec201-19-feedback-accepted.json",
        "spec201-20-feedback-overridden-no-reason.json",
        "spec201-21-feedback-overridden-with-reason.json",
    ],
)
def test_spec_examples_are_accepted(name: str) -> None:
    request = parse_feedback_request(load(name))
    assert len(request.feedback) == 1
    assert request.feedback[0].outcomeTimestamp.tzinfo is UTC


def test_spec_accepted_example_keeps_suggestion_ids() -> None:
    fb = parse_feedback_request(load("spec201-19-feedback-accepted.json")).feedback[0]
    assert fb.outcome == "accepted"
    assert fb.accepted_suggestion_ids == ["e56e1945-20b3-4393-8503-a1a20fd73152"]
    assert fb.outcomeTimestamp == datetime(2021, 12, 11, 10, 5, 31, tzinfo=UTC)


def test_spec_override_example_has_reason_without_display_and_comment() -> None:
    fb = parse_feedback_request(load("spec201-21-feedback-overridden-with-reason.json")).feedback[0]
    assert fb.overrideReason is not None
    assert fb.overrideReason.reason is not None
    assert (fb.overrideReason.reason.system, fb.overrideReason.reason.code) == (SYSTEM, "d7ecf885")
    assert fb.overrideReason.reason.display is None
    assert fb.overrideReason.userComment == "A comment entered by the clinician."


# ------------------------------------------------------------------------ cds-fb rules


def test_accepted_without_suggestions_is_rejected_with_its_location() -> None:
    body = {"feedback": [accepted(), item(), item(outcome="accepted")]}
    error = rejected(body)
    assert error.locations == ("feedback[2].acceptedSuggestions",)
    assert "cds-fb-2" in error.message
    outcome = error.to_operation_outcome()
    assert outcome["issue"][0]["expression"] == ["feedback[2].acceptedSuggestions"]


def test_accepted_with_empty_suggestions_is_rejected() -> None:
    error = rejected({"feedback": [item(outcome="accepted", acceptedSuggestions=[])]})
    assert error.locations == ("feedback[0].acceptedSuggestions",)


def test_overridden_needs_no_suggestions_or_reason() -> None:
    fb = parse_feedback_request({"feedback": [item()]}).feedback[0]
    assert fb.acceptedSuggestions is None
    assert fb.overrideReason is None


@pytest.mark.parametrize("reason", [{}, {"userComment": "   "}, {"reason": None}])
def test_override_reason_needs_reason_or_comment(reason: dict[str, Any]) -> None:
    error = rejected({"feedback": [item(overrideReason=reason)]})
    assert error.locations == ("feedback[0].overrideReason",)
    assert "cds-fb-3" in error.message


def test_override_reason_with_only_a_comment_is_accepted() -> None:
    fb = FeedbackItem.model_validate(item(overrideReason={"userComment": "not today"}))
    assert fb.overrideReason is not None
    assert fb.overrideReason.reason is None


@pytest.mark.parametrize(
    ("coding", "location"),
    [
        ({"system": SYSTEM}, "feedback[0].overrideReason.reason.code"),
        ({"code": "x"}, "feedback[0].overrideReason.reason.system"),
        ({"code": "", "system": SYSTEM}, "feedback[0].overrideReason.reason.code"),
    ],
)
def test_reason_coding_needs_code_and_system(coding: dict[str, Any], location: str) -> None:
    error = rejected({"feedback": [item(overrideReason={"reason": coding})]})
    assert error.locations == (location,)


@pytest.mark.parametrize("outcome", ["ignored", "", None])
def test_outcome_must_be_accepted_or_overridden(outcome: Any) -> None:
    error = rejected({"feedback": [item(outcome=outcome)]})
    assert "feedback[0].outcome" in error.locations


def test_outcome_case_is_forgiven() -> None:
    fb = FeedbackItem.model_validate(item(outcome="Overridden"))
    assert fb.outcome == "overridden"


@pytest.mark.parametrize("missing", ["card", "outcome", "outcomeTimestamp"])
def test_required_fields(missing: str) -> None:
    body = item()
    del body[missing]
    assert f"feedback[0].{missing}" in rejected({"feedback": [body]}).locations


@pytest.mark.parametrize("card", ["not-a-uuid", "", "card-1"])
def test_card_must_be_a_uuid(card: str) -> None:
    assert rejected({"feedback": [item(card=card)]}).locations == ("feedback[0].card",)


def test_card_uuid_is_normalised_to_lowercase() -> None:
    assert FeedbackItem.model_validate(item(card=CARD.upper())).card == CARD


@pytest.mark.parametrize("body", [[], "feedback", {"feedback": "x"}, {}, None])
def test_body_shape_errors_are_invalid_request(body: Any) -> None:
    error = rejected(body)
    assert error.message.startswith("Invalid feedback")


def test_many_errors_are_summarised() -> None:
    error = rejected({"feedback": [item(card="x")] * 8})
    assert len(error.locations) == 8
    assert "and 3 more" in error.message


# ------------------------------------------------------------------------- leniency


def test_sandbox_dismiss_shape_without_display_is_accepted() -> None:
    body = {"feedback": [item(overrideReason={"reason": {"code": "c1", "system": SYSTEM}})]}
    fb = parse_feedback_request(body).feedback[0]
    assert fb.overrideReason is not None
    assert fb.overrideReason.reason is not None
    assert fb.overrideReason.reason.code == "c1"
    assert fb.overrideReason.reason.display is None


@pytest.mark.parametrize(
    "plural",
    [
        [{"reason": {"code": "c1", "system": SYSTEM, "display": "D"}, "userComment": "why"}],
        {"reason": {"code": "c1", "system": SYSTEM, "display": "D"}, "userComment": "why"},
    ],
)
def test_epic_override_reasons_plural_is_mapped(plural: Any) -> None:
    fb = FeedbackItem.model_validate(item(overrideReasons=plural))
    assert fb.overrideReason is not None
    assert fb.overrideReason.reason is not None
    assert fb.overrideReason.reason.code == "c1"
    assert fb.overrideReason.reason.display == "D"
    assert fb.overrideReason.userComment == "why"
    assert "overrideReasons" not in (fb.model_extra or {})


def test_epic_override_reasons_as_bare_codings_keep_the_others() -> None:
    codings = [{"code": "c1", "system": SYSTEM}, {"code": "c2", "system": SYSTEM}]
    fb = FeedbackItem.model_validate(item(overrideReasons=codings))
    assert fb.overrideReason is not None
    assert fb.overrideReason.reason is not None
    assert fb.overrideReason.reason.code == "c1"
    assert (fb.model_extra or {})["additionalOverrideReasons"] == [codings[1]]


def test_epic_override_reasons_invalid_is_reported_at_override_reason() -> None:
    error = rejected({"feedback": [item(overrideReasons=[{"userComment": ""}])]})
    assert error.locations == ("feedback[0].overrideReason",)


def test_singular_override_reason_wins_over_plural() -> None:
    fb = FeedbackItem.model_validate(
        item(overrideReason={"userComment": "a"}, overrideReasons=[{"userComment": "b"}])
    )
    assert fb.overrideReason is not None
    assert fb.overrideReason.userComment == "a"
    assert (fb.model_extra or {})["overrideReasons"] == [{"userComment": "b"}]


def test_empty_epic_override_reasons_is_ignored() -> None:
    fb = FeedbackItem.model_validate(item(overrideReasons=[]))
    assert fb.overrideReason is None


def test_unknown_fields_and_extensions_are_kept() -> None:
    body = {
        "feedback": [accepted(extension={"com.epic.x": 1}, vendorField="v")],
        "extension": {"batch": "7"},
    }
    request = FeedbackRequest.model_validate(body)
    assert (request.model_extra or {})["extension"] == {"batch": "7"}
    assert (request.feedback[0].model_extra or {})["vendorField"] == "v"
    assert (request.feedback[0].acceptedSuggestions or [])[0].id == "s1"


def test_epic_batch_of_several_cards() -> None:
    other = "f6b95768-b1c8-40dc-8385-bf3504b82ffb"
    request = parse_feedback_request({"feedback": [accepted(), item(card=other), item()]})
    assert [fb.card for fb in request.feedback] == [CARD, other, CARD]


@pytest.mark.parametrize(
    ("stamp", "expected"),
    [
        ("2021-12-11T12:05:31+02:00", datetime(2021, 12, 11, 10, 5, 31, tzinfo=UTC)),
        ("2021-12-11T10:05:31.250Z", datetime(2021, 12, 11, 10, 5, 31, 250000, tzinfo=UTC)),
        ("2021-12-11T10:05:31", datetime(2021, 12, 11, 10, 5, 31, tzinfo=UTC)),  # read as UTC
    ],
)
def test_outcome_timestamp_is_normalised_to_utc(stamp: str, expected: datetime) -> None:
    fb = FeedbackItem.model_validate(item(outcomeTimestamp=stamp))
    assert fb.outcomeTimestamp == expected
    assert fb.outcomeTimestamp.utcoffset() is not None
    assert fb.outcomeTimestamp.tzinfo is UTC


def test_bad_timestamp_is_rejected() -> None:
    error = rejected({"feedback": [item(outcomeTimestamp="yesterday")]})
    assert error.locations == ("feedback[0].outcomeTimestamp",)


# ----------------------------------------------------------------------- privacy, batches


def test_user_comment_never_appears_in_repr_or_errors() -> None:
    secret = "Pt John Doe MRN 12345 refuses"
    fb = FeedbackItem.model_validate(item(overrideReason={"userComment": secret}))
    assert secret not in repr(fb)
    error = rejected({"feedback": [item(card="bad", overrideReason={"userComment": secret})]})
    assert secret not in error.message
    assert secret not in json.dumps(error.to_operation_outcome())


def test_partition_keeps_valid_items_and_reports_the_rest_by_index() -> None:
    body = {"feedback": [accepted(), item(outcome="accepted"), item(), item(card="x")]}
    part = partition_feedback(body)
    assert len(part.valid) == 2
    assert part.error is not None
    assert part.error.locations == ("feedback[1].acceptedSuggestions", "feedback[3].card")


def test_partition_of_a_valid_request_has_no_error() -> None:
    part = partition_feedback(load("spec201-19-feedback-accepted.json"))
    assert part.error is None
    assert len(part.valid) == 1


def test_partition_of_a_malformed_body() -> None:
    part = partition_feedback({"nope": 1})
    assert part.valid == []
    assert part.error is not None
    assert part.error.locations == ("feedback",)


def test_format_location() -> None:
    assert format_location(("feedback", 2, "acceptedSuggestions")) == (
        "feedback[2].acceptedSuggestions"
    )
    assert format_location(("feedback", 0, "overrideReason", "reason", "code")) == (
        "feedback[0].overrideReason.reason.code"
    )
    assert format_location(()) == ""
