"""The oih-cds console script: openapi prints the spec; serve refuses bad settings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from service.cli import app

runner = CliRunner()


def cli_database(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """Point the CLI at a fresh SQLite file under ``tmp_path``; return its URL."""
    from service.config import Settings

    monkeypatch.setenv("OIH_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("OIH_DATABASE_URL", raising=False)
    return Settings(auth_mode="disabled", data_dir=tmp_path, _env_file=None).effective_database_url


def test_openapi_prints_the_document() -> None:
    result = runner.invoke(app, ["openapi"])
    assert result.exit_code == 0
    spec = json.loads(result.stdout)
    assert "/cds-services/{service_id}" in spec["paths"]


def test_serve_refuses_unsafe_settings_with_a_clear_message(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OIH_ENVIRONMENT", "production")
    monkeypatch.setenv("OIH_AUTH_MODE", "disabled")
    result = runner.invoke(app, ["serve", "--port", "18999"])
    assert result.exit_code == 2
    assert "OIH_AUTH_MODE=disabled is not allowed in production" in result.output


def test_feedback_report_reads_the_store(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    """Cards shown through the hook and feedback on them appear in the report, per topic."""
    from fastapi.testclient import TestClient

    from service.config import Settings
    from service.main import create_app
    from service.scenarios import build_request
    from tests.conftest import FIXED_NOW, fixed_clock

    monkeypatch.setenv("OIH_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("OIH_DATABASE_URL", raising=False)
    settings = Settings(auth_mode="disabled", data_dir=tmp_path, _env_file=None)
    with TestClient(create_app(settings, clock=fixed_clock)) as client:
        body = build_request("classic-oih", "patient-view", FIXED_NOW.date())
        cards = client.post("/cds-services/oih-patient-view", json=body).json()["cards"]
        oih = next(c for c in cards if c["source"]["topic"]["code"] == "oih-evaluate")
        reason = oih["overrideReasons"][0]
        feedback = {
            "feedback": [
                {
                    "card": oih["uuid"],
                    "outcome": "overridden",
                    "overrideReason": {"reason": reason},
                    "outcomeTimestamp": "2026-11-23T14:31:00Z",
                }
            ]
        }
        stored = client.post("/cds-services/oih-patient-view/feedback", json=feedback)
        assert stored.status_code == 200, stored.text
        # explain does not count as "shown"
        client.post("/cds-services/oih-patient-view/explain", json=body)

    result = runner.invoke(app, ["feedback-report", "--json"])
    assert result.exit_code == 0, result.output
    rows = {row["topic"]: row for row in json.loads(result.stdout)["topics"]}
    assert rows["oih-evaluate"]["shown"] == 1
    assert rows["oih-evaluate"]["overridden"] == 1
    assert reason["display"] in json.dumps(rows["oih-evaluate"])
    table = runner.invoke(app, ["feedback-report"])
    assert table.exit_code == 0
    assert "oih-evaluate" in table.stdout
    assert runner.invoke(app, ["feedback-report", "--since", "yesterday"]).exit_code == 2


def test_feedback_purge_comments_blanks_only_old_comments(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import asyncio
    from dataclasses import dataclass
    from datetime import datetime, timedelta

    from sqlalchemy import select

    from cds_hooks.feedback import FeedbackItem
    from service.clock import system_clock
    from service.storage import create_store, migrate
    from service.storage.models import FeedbackRecord

    url = cli_database(monkeypatch, tmp_path)
    now = system_clock()

    def item(card: str, comment: str) -> FeedbackItem:
        return FeedbackItem.model_validate(
            {
                "card": card,
                "outcome": "overridden",
                "outcomeTimestamp": now.isoformat(),
                "overrideReason": {"userComment": comment},
            }
        )

    @dataclass
    class FixedClock:
        at: datetime

        def __call__(self) -> datetime:
            return self.at

    async def seed() -> None:
        await migrate(url)
        for days_ago, card in (
            (100, "0" * 8 + "-0000-4000-8000-000000000001"),
            (1, "0" * 8 + "-0000-4000-8000-000000000002"),
        ):
            store = create_store(url, clock=FixedClock(now - timedelta(days=days_ago)))
            await store.store_feedback("svc", [item(card, f"comment {days_ago}")], None, None)
            await store.close()

    async def comments() -> list[str | None]:
        store = create_store(url)
        async with store.engine.connect() as conn:
            found = (
                (
                    await conn.execute(
                        select(FeedbackRecord.user_comment).order_by(FeedbackRecord.id)
                    )
                )
                .scalars()
                .all()
            )
        await store.close()
        return list(found)

    asyncio.run(seed())
    result = runner.invoke(app, ["feedback-purge-comments", "--older-than-days", "90"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("1 feedback comment(s) received before ")
    assert asyncio.run(comments()) == [None, "comment 1"]
    assert runner.invoke(app, ["feedback-purge-comments", "--older-than-days", "-1"]).exit_code == 2


def test_purge_patient_keys_clears_old_keys_and_ended_snoozes(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import asyncio
    import functools
    from datetime import timedelta

    from sqlalchemy import select

    from cds_hooks.feedback import FeedbackItem
    from service.clock import system_clock
    from service.storage import IssuedCard, IssuedResponse, create_store, migrate
    from service.storage.models import CardIssued, CardSnooze

    url = cli_database(monkeypatch, tmp_path)
    now = system_clock()
    cards = {  # card uuid -> (issued days ago, snoozed then)
        "11111111-1111-4111-8111-111111111111": (200, True),  # snooze ended
        "22222222-2222-4222-8222-222222222222": (30, True),  # snooze still in force
        "33333333-3333-4333-8333-333333333333": (1, False),  # recent: keeps its key
    }

    async def seed() -> None:
        await migrate(url)
        for uuid, (days, snoozed) in cards.items():
            at = now - timedelta(days=days)
            store = create_store(url, clock=functools.partial(lambda t: t, at), snooze_days=90)
            try:
                card = IssuedCard(uuid, "oih-evaluate", "warning", "k" * 64, "s-" + uuid[:8])
                await store.record_responses([IssuedResponse("svc", "h", (card,), None, None)])
                if snoozed:
                    item = FeedbackItem.model_validate(
                        {
                            "card": uuid,
                            "outcome": "accepted",
                            "acceptedSuggestions": [{"id": "s-" + uuid[:8]}],
                            "outcomeTimestamp": at.isoformat(),
                        }
                    )
                    await store.store_feedback("svc", [item], None, None)
            finally:
                await store.close()

    async def state() -> tuple[dict[str, str | None], list[str]]:
        store = create_store(url)
        try:
            async with store.engine.connect() as conn:
                keys = dict(
                    (await conn.execute(select(CardIssued.card_uuid, CardIssued.patient_key))).all()
                )
                snoozes = list((await conn.execute(select(CardSnooze.card_uuid))).scalars())
            return keys, snoozes
        finally:
            await store.close()

    asyncio.run(seed())
    result = runner.invoke(app, ["purge-patient-keys"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("2 card patient key(s) issued before ")
    assert result.stdout.rstrip().endswith(" cleared; 1 ended snooze(s) deleted.")
    keys, snoozes = asyncio.run(state())
    uuids = list(cards)
    assert keys == {uuids[0]: None, uuids[1]: None, uuids[2]: "k" * 64}
    assert snoozes == [uuids[1]]


def test_comments_are_not_stored_when_the_setting_says_so(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from fastapi.testclient import TestClient
    from sqlalchemy import select

    from service.config import Settings
    from service.main import create_app
    from service.storage.models import FeedbackRecord

    settings = Settings(
        auth_mode="disabled", data_dir=tmp_path, keep_user_comments=False, _env_file=None
    )
    app = create_app(settings)
    with TestClient(app) as client:
        stored = client.post(
            "/cds-services/oih-patient-view/feedback",
            json={
                "feedback": [
                    {
                        "card": "00000000-0000-4000-8000-000000000009",
                        "outcome": "overridden",
                        "overrideReason": {"userComment": "Mrs Smith declined"},
                        "outcomeTimestamp": "2026-11-23T14:31:00Z",
                    }
                ]
            },
        )
        assert stored.status_code == 200, stored.text
        store = app.state.runtime.store

        async def comment() -> str | None:
            async with store.engine.connect() as conn:
                found: str | None = await conn.scalar(select(FeedbackRecord.user_comment))
            return found

        assert client.portal.call(comment) is None  # type: ignore[union-attr]


def test_serve_refuses_a_bad_rules_file_in_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("version: x\nthresholds:\n  escalation_ratoi: 1.5\n")
    monkeypatch.setenv("OIH_AUTH_MODE", "disabled")
    monkeypatch.setenv("OIH_RULES_FILE", str(rules))
    result = runner.invoke(app, ["serve", "--port", "18998"])
    assert result.exit_code == 2
    assert "escalation_ratoi" in result.output
    assert "Traceback" not in result.output


def test_serve_refuses_a_bad_issuers_file_in_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    issuers = tmp_path / "issuers.yaml"
    issuers.write_text("issuers:\n  - iss: https://ehr.example.org\n    algorithms: [HS256]\n")
    monkeypatch.setenv("OIH_TRUSTED_ISSUERS_FILE", str(issuers))
    result = runner.invoke(app, ["serve", "--port", "18997"])
    assert result.exit_code == 2
    assert "issuers.yaml" in result.output


def test_clear_snoozes_undoes_one_patients_snooze(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A clinician documented "not suspected" by mistake: support clears that snooze."""
    from fastapi.testclient import TestClient

    from service.main import create_app
    from tests.conftest import fixed_clock
    from tests.service.test_snooze_api import EHR, OIH, SECRET, accept, by_topic, fire
    from tests.service.test_snooze_api import settings_for as snooze_settings

    cli_database(monkeypatch, tmp_path)
    monkeypatch.setenv("OIH_AUTH_MODE", "disabled")
    monkeypatch.setenv("OIH_PATIENT_KEY_SECRET", SECRET)
    app_settings = snooze_settings(tmp_path, snooze_refresh_seconds=3600)
    with TestClient(create_app(app_settings, clock=fixed_clock)) as client:
        accept(client, by_topic(fire(client, "classic-oih"))[OIH])
        accept(client, by_topic(fire(client, "fentanyl-patch-escalation"))[OIH])

        elsewhere = runner.invoke(
            app,
            ["clear-snoozes", "--fhir-server", "https://other.example/fhir"],
            input="classic-oih\n",
        )
        assert elsewhere.exit_code == 0, elsewhere.output
        assert "No snooze found for that patient" in elsewhere.stdout

        result = runner.invoke(app, ["clear-snoozes", "--fhir-server", EHR], input="classic-oih\n")
        assert result.exit_code == 0, result.output
        assert "1 snooze(s) cleared for that patient." in result.stdout
        assert "classic-oih" not in result.output  # the id is neither echoed nor printed

        refresh = client.app.state.runtime.snoozes.refresh  # type: ignore[attr-defined]
        assert client.portal is not None
        assert client.portal.call(refresh) is True  # what every pod does on its timer
        assert OIH in by_topic(fire(client, "classic-oih"))
        assert OIH not in by_topic(fire(client, "fentanyl-patch-escalation"))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["clear-snoozes"], "Name exactly one of --fhir-server or --issuer."),
        (
            ["clear-snoozes", "--fhir-server", "https://a.example/fhir", "--issuer", "https://b"],
            "Name exactly one of --fhir-server or --issuer.",
        ),
        (
            ["clear-snoozes", "--fhir-server", "https://a.example/fhir", "--tenant", "t1"],
            "--tenant goes with --issuer.",
        ),
        (["clear-snoozes", "--fhir-server", ""], "must be the absolute http(s) URL"),
        (["clear-snoozes", "--fhir-server", "fhir.example"], "must be the absolute http(s) URL"),
        (["clear-snoozes", "--issuer", " "], "--issuer must not be empty."),
    ],
)
def test_clear_snoozes_needs_exactly_one_namespace(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, args: list[str], message: str
) -> None:
    cli_database(monkeypatch, tmp_path)
    result = runner.invoke(app, args, input="p1\n")
    assert result.exit_code == 2
    assert message in result.output
    assert "Patient id" not in result.output  # refused before asking


def test_clear_snoozes_says_when_snoozing_is_off(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    cli_database(monkeypatch, tmp_path)
    issuers = tmp_path / "issuers.yaml"
    issuers.write_text("issuers: []\n")
    monkeypatch.setenv("OIH_ENVIRONMENT", "production")
    monkeypatch.setenv("OIH_PUBLIC_BASE_URL", "https://cds.example.org")
    monkeypatch.setenv("OIH_CORS_ORIGINS", "")
    monkeypatch.setenv("OIH_TRUSTED_ISSUERS_FILE", str(issuers))
    monkeypatch.delenv("OIH_PATIENT_KEY_SECRET", raising=False)
    result = runner.invoke(app, ["clear-snoozes", "--issuer", "https://ehr.example"], input="p1\n")
    assert result.exit_code == 1, result.output
    assert "Snoozing is off here (no OIH_PATIENT_KEY_SECRET): nothing to clear." in result.output
