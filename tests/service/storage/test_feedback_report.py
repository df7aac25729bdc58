"""Rendering the feedback report as an aligned table or JSON, from a real store."""

from __future__ import annotations

import json

import pytest

from service.feedback_report import render_report
from service.storage import IssuedCard, IssuedResponse, ReasonCount, Store, TopicReport
from tests.service.storage.test_store import fb, reason

REPORTS = [
    TopicReport(
        topic="oih-rising-dose-rising-pain",
        shown=120,
        accepted=30,
        overridden=45,
        top_override_reasons=[
            ReasonCount("urn:r", "palliative", "Palliative care", 20),
            ReasonCount("urn:r", "not-opioid", None, 5),
            ReasonCount(None, None, None, 2),
        ],
    ),
    TopicReport(topic="taper", shown=7, accepted=0, overridden=0),
    TopicReport(topic=None, shown=0, accepted=1, overridden=0),
]


def test_table_has_aligned_columns() -> None:
    lines = render_report(REPORTS, as_json=False).splitlines()
    header, rule, *body = lines
    assert header.split()[:4] == ["topic", "shown", "accepted", "overridden"]
    assert set(rule.replace(" ", "")) == {"-"}
    assert len(body) == 3
    # every column starts at the same offset on every line
    for column in ("shown", "accepted", "overridden", "top override reasons"):
        start = header.index(column)
        assert all(line[start - 2 : start] == "  " for line in body)
    # numbers are right-aligned under their header
    shown_end = header.index("shown") + len("shown")
    assert [line[:shown_end].split()[-1] for line in body] == ["120", "7", "0"]


def test_table_content() -> None:
    text = render_report(REPORTS, as_json=False)
    first, second, third = text.splitlines()[2:]
    assert first.startswith("oih-rising-dose-rising-pain")
    assert "palliative 'Palliative care' x20, not-opioid x5, (no coded reason) x2" in first
    assert second.rstrip().endswith("-")  # no reasons
    assert third.startswith("(unknown card)")
    assert text.endswith("\n")


def test_empty_table() -> None:
    assert "No cards or feedback" in render_report([], as_json=False)


def test_json_round_trips() -> None:
    data = json.loads(render_report(REPORTS, as_json=True))
    assert [t["topic"] for t in data["topics"]] == ["oih-rising-dose-rising-pain", "taper", None]
    first = data["topics"][0]
    assert (first["shown"], first["accepted"], first["overridden"]) == (120, 30, 45)
    assert first["top_override_reasons"][0] == {
        "system": "urn:r",
        "code": "palliative",
        "display": "Palliative care",
        "count": 20,
    }
    assert json.loads(render_report([], as_json=True)) == {"topics": []}


@pytest.mark.anyio
async def test_report_from_a_store_never_shows_comments(store: Store) -> None:
    card = "4e0a3a1e-3283-4575-ab82-028d55fe2719"
    await store.record_responses(
        [IssuedResponse("svc", "h", (IssuedCard(card, "t", "info"),), None, None)]
    )
    secret = "patient is my neighbour"
    await store.store_feedback(
        "svc", [fb(card, overrideReason=reason("c1", comment=secret))], None, None
    )
    reports = await store.report(None)
    for as_json in (False, True):
        text = render_report(reports, as_json=as_json)
        assert "c1" in text
        assert secret not in text
        assert card not in text
