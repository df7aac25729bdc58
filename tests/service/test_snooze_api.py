"""Snoozing end to end: a card, the clinician's feedback, and the next hook call."""

from __future__ import annotations

import functools
import logging
import sqlite3
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from service.config import AuthMode, Environment, Settings
from service.main import create_app
from service.scenarios import build_request
from tests.conftest import FIXED_NOW, fixed_clock

OIH = "oih-evaluate"
SERVICE = "oih-patient-view"
EHR = "https://ehr-a.example/fhir"
DOCUMENT = "Document: OIH evaluated, not suspected"
SECRET = "k" * 40


def _at(moment: datetime) -> datetime:
    return moment


def settings_for(data_dir: Path, **overrides: Any) -> Settings:
    return Settings(
        auth_mode=AuthMode.DISABLED,
        data_dir=data_dir,
        patient_key_secret=SECRET,
        _env_file=None,
        **overrides,
    )


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(settings_for(tmp_path), clock=fixed_clock)) as test_client:
        yield test_client


def fire(
    client: TestClient, scenario: str = "classic-oih", server: str = EHR, path: str = ""
) -> dict[str, Any]:
    body = build_request(scenario, "patient-view", FIXED_NOW.date(), fhir_server=server)
    response = client.post(f"/cds-services/{SERVICE}{path}", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def by_topic(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {card["source"]["topic"]["code"]: card for card in result["cards"]}


def accept(client: TestClient, card: dict[str, Any], label: str = DOCUMENT) -> None:
    suggestion = next(s for s in card["suggestions"] if s["label"] == label)
    item = {
        "card": card["uuid"],
        "outcome": "accepted",
        "acceptedSuggestions": [{"id": suggestion["uuid"]}],
        "outcomeTimestamp": (FIXED_NOW - timedelta(minutes=1)).isoformat(),
    }
    response = client.post(f"/cds-services/{SERVICE}/feedback", json={"feedback": [item]})
    assert response.status_code == 200, response.text


def test_documenting_hides_the_oih_card_for_this_patient(client: TestClient) -> None:
    first = by_topic(fire(client))
    assert "hides this card for this patient for 90 days" in first[OIH]["detail"]
    accept(client, first[OIH])

    again = by_topic(fire(client))
    assert OIH not in again
    assert "consider-rotation" not in again  # follows the OIH card
    assert {"avoid-escalation", "offer-naloxone"} <= set(again)

    explained = fire(client, path="/explain")
    decision = next(d for d in explained["evaluation"]["rules"] if d["id"] == OIH)
    assert decision["fired"] is False
    assert decision["reason"].startswith("Snoozed until 2027-02-21")  # 90 days on

    metrics = client.get("/metrics").text
    assert f'oih_cds_cards_snoozed_total{{topic="{OIH}"}} 1.0' in metrics  # explain not counted


def test_the_snooze_is_per_patient_and_per_fhir_server(client: TestClient) -> None:
    accept(client, by_topic(fire(client))[OIH])
    assert OIH in by_topic(fire(client, server="https://ehr-b.example/fhir"))
    assert OIH in by_topic(fire(client, scenario="renal-egfr-25-morphine"))


def test_accepting_another_suggestion_snoozes_nothing(client: TestClient) -> None:
    card = by_topic(fire(client))[OIH]
    accept(client, card, label="Refer to pain medicine")
    assert OIH in by_topic(fire(client))


def test_a_critical_card_is_never_snoozed(client: TestClient) -> None:
    scenario = "neuroexcitation-myoclonus"
    accept(client, by_topic(fire(client, scenario))[OIH])
    card = by_topic(fire(client, scenario))[OIH]
    assert card["indicator"] == "critical"
    assert "**Shown despite a snooze**" in card["detail"]


def test_the_snooze_survives_a_restart_and_ends_after_90_days(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    with TestClient(create_app(settings, clock=fixed_clock)) as client:
        accept(client, by_topic(fire(client))[OIH])
    with TestClient(create_app(settings, clock=fixed_clock)) as client:
        assert OIH not in by_topic(fire(client))

    for days, hidden in ((89, True), (90, False)):  # accepted a minute before FIXED_NOW
        now = FIXED_NOW + timedelta(days=days)
        with TestClient(create_app(settings, clock=functools.partial(_at, now))) as client:
            body = build_request("classic-oih", "patient-view", now.date(), fhir_server=EHR)
            cards = client.post(f"/cds-services/{SERVICE}", json=body).json()["cards"]
            assert (OIH not in {c["source"]["topic"]["code"] for c in cards}) is hidden, days


def test_the_database_holds_no_patient_id_and_logs_no_key(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with (
        caplog.at_level(logging.DEBUG),
        TestClient(create_app(settings_for(tmp_path), clock=fixed_clock)) as client,
    ):
        body = build_request("classic-oih", "patient-view", FIXED_NOW.date(), fhir_server=EHR)
        patient_id = body["context"]["patientId"]
        accept(client, by_topic(fire(client))[OIH])
        assert OIH not in by_topic(fire(client))
    with sqlite3.connect(tmp_path / "oih-cds.sqlite3") as db:
        keys = {row[0] for row in db.execute("SELECT patient_key FROM card_snooze")}
        dump = "\n".join(db.iterdump())
    assert len(keys) == 1
    assert patient_id not in dump
    (key,) = keys
    assert key not in caplog.text
    assert patient_id not in caplog.text


def test_a_snooze_made_through_another_replica_counts_after_a_refresh(tmp_path: Path) -> None:
    """Two processes on one database: each reloads the active snoozes on its timer."""
    settings = settings_for(tmp_path, snooze_refresh_seconds=3600)  # refreshed by hand here
    with (
        TestClient(create_app(settings, clock=fixed_clock)) as one,
        TestClient(create_app(settings, clock=fixed_clock)) as two,
    ):
        accept(one, by_topic(fire(one))[OIH])
        assert OIH not in by_topic(fire(one))  # the replica that stored it: at once
        assert OIH in by_topic(fire(two))  # the other: not until it reloads
        refresh = two.app.state.runtime.snoozes.refresh  # type: ignore[attr-defined]
        assert two.portal is not None
        assert two.portal.call(refresh) is True
        assert OIH not in by_topic(fire(two))


def test_a_hook_call_does_not_touch_the_database(client: TestClient) -> None:
    """Snoozes are answered from memory: no statement runs while the call is served.

    (Issued-card records are written 0.25 s after the response, in a batch.)
    """
    accept(client, by_topic(fire(client))[OIH])
    engine = client.app.state.runtime.store.engine.sync_engine  # type: ignore[attr-defined]
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        assert OIH not in by_topic(fire(client))
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert statements == []


def test_a_failed_refresh_keeps_the_snoozes_and_is_counted(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    accept(client, by_topic(fire(client))[OIH])
    runtime = client.app.state.runtime  # type: ignore[attr-defined]

    async def broken(now: datetime) -> Any:
        raise OSError("database unreachable")

    runtime.snoozes._load = broken
    with caplog.at_level(logging.WARNING):
        assert client.portal is not None
        assert client.portal.call(runtime.snoozes.refresh) is False
    assert "snooze refresh failed (OSError)" in caplog.text
    assert "oih_cds_snooze_refresh_errors_total 1.0" in client.get("/metrics").text
    assert OIH not in by_topic(fire(client))


def test_without_a_secret_in_production_cards_do_not_promise_a_snooze(tmp_path: Path) -> None:
    settings = Settings.model_construct(
        **{
            **settings_for(tmp_path).model_dump(),
            "environment": Environment.PRODUCTION,
            "patient_key_secret": None,
        }
    )
    with TestClient(create_app(settings, clock=fixed_clock)) as client:
        card = by_topic(fire(client))[OIH]
        assert "hides this card" not in card["detail"]
        accept(client, card)
        assert OIH in by_topic(fire(client))
