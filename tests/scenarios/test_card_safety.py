"""No card the suite produces gives forbidden advice, and every suggestion is safe to accept.

Forbidden (spec §6.7): recommending abrupt discontinuation or a rapid taper, raising a
dose, asserting a diagnosis of OIH, or giving a conversion dose. Statements that warn
against these ("never stop abruptly") are allowed: a sentence with a forbidden phrase
must also carry a negation.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

FORBIDDEN = [
    re.compile(p, re.IGNORECASE)
    for p in (
        r"\b(stop|discontinue|cease|halt)\b[^.]*\b(opioids?|abruptly|immediately|at once)\b",
        r"\brapid(ly)?\b[^.]*\btaper",
        r"\btaper\b[^.]*\brapid(ly)?\b",
        r"\b(increase|raise|escalate|up-?titrate|titrate up)\b[^.]*\b(the |this |their )?dose",
        r"\b(has|have|with|diagnosed with|diagnosis of)\s+(opioid-induced hyperalgesia|OIH)\b",
        r"\b(buprenorphine|methadone|morphine|oxycodone|fentanyl)\s+\d+(\.\d+)?\s*(mg|mcg)\b",
        r"\b\d+(\.\d+)?\s*(mg|mcg)\b[^.]*\b(of )?(buprenorphine|methadone)\b",
    )
]
NEGATION = re.compile(
    r"\b(never|not|avoid|don't|do not|rather than|without|no)\b|possible", re.IGNORECASE
)


def violations(text: str) -> list[str]:
    found = []
    for sentence in re.split(r"(?<=[.!?])\s+|\n", text):
        for pattern in FORBIDDEN:
            if pattern.search(sentence) and not NEGATION.search(sentence):
                found.append(sentence.strip())
    return found


@pytest.mark.parametrize(
    "text",
    [
        "Stop opioids now.",
        "Discontinue the opioid immediately.",
        "Taper rapidly over one week.",
        "Increase the dose to 60 MME/day.",
        "The patient has opioid-induced hyperalgesia.",
        "Start buprenorphine 8 mg three times daily.",
        "Give 10 mg of methadone.",
    ],
)
def test_the_scanner_catches_forbidden_advice(text: str) -> None:
    assert violations(text)


@pytest.mark.parametrize(
    "text",
    [
        "Never stop opioids abruptly.",
        "Do not increase the dose.",
        "Pattern consistent with possible opioid-induced hyperalgesia (OIH).",
        "This service does not calculate conversion doses.",
    ],
)
def test_the_scanner_allows_warnings_against_it(text: str) -> None:
    assert not violations(text)


def card_texts(card: dict[str, Any]) -> Iterator[str]:
    yield card["summary"]
    yield card.get("detail", "")
    for suggestion in card.get("suggestions", []):
        yield suggestion["label"]
        for action in suggestion.get("actions", []):
            yield action["description"]


def test_no_card_in_the_suite_gives_forbidden_advice(
    scenario_results: dict[str, dict[str, Any]],
) -> None:
    checked = 0
    for name, result in scenario_results.items():
        for card in result["cards"]:
            for text in card_texts(card):
                assert not violations(text), f"{name}: {violations(text)}"
                checked += 1
    assert checked > 100


def test_every_card_is_advisory_and_dismissable(
    scenario_results: dict[str, dict[str, Any]],
) -> None:
    for name, result in scenario_results.items():
        for card in result["cards"]:
            assert card["indicator"] in ("info", "warning", "critical")
            assert card["overrideReasons"], name
            assert all(r["display"] for r in card["overrideReasons"])
            assert card["uuid"]
            assert len(card["summary"]) <= 139
            assert card["links"], name
            if card.get("suggestions"):
                assert card["selectionBehavior"] == "any"
                assert all(s["uuid"] for s in card["suggestions"])


NALOXONE_RXCUI = "1725059"


def test_suggestions_never_raise_a_dose_or_carry_a_conversion_dose(
    scenario_results: dict[str, dict[str, Any]],
) -> None:
    seen = set()
    for name, result in scenario_results.items():
        drafts = {
            f"{e['resource']['resourceType']}/{e['resource'].get('id')}"
            for e in result["request"]["context"].get("draftOrders", {}).get("entry", [])
        }
        for card in result["cards"]:
            for suggestion in card.get("suggestions", []):
                for action in suggestion.get("actions", []):
                    seen.add(action["type"])
                    if action["type"] == "delete":
                        assert action["resourceId"] in drafts, name
                        continue
                    assert action["type"] == "create", name
                    resource = action["resource"]
                    if resource["resourceType"] == "MedicationRequest":
                        codes = [c["code"] for c in resource["medicationCodeableConcept"]["coding"]]
                        assert codes == [NALOXONE_RXCUI], name
                        assert "doseAndRate" not in str(resource)
                    else:
                        assert resource["resourceType"] == "ServiceRequest", name
    assert seen == {"create", "delete"}


def test_keep_current_dose_deletes_the_escalating_draft_by_id(
    scenario_results: dict[str, dict[str, Any]],
) -> None:
    result = scenario_results["draft-raises-to-60-mme"]
    card = next(c for c in result["cards"] if c["source"]["topic"]["code"] == "avoid-escalation")
    keep = next(s for s in card["suggestions"] if s["label"].startswith("Keep current dose"))
    (action,) = keep["actions"]
    draft = result["request"]["context"]["draftOrders"]["entry"][0]["resource"]
    assert action == {
        "type": "delete",
        "description": action["description"],
        "resourceId": f"MedicationRequest/{draft['id']}",
    }
