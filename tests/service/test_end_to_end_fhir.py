"""End to end over real HTTP: a hook call without prefetch, answered from a FHIR server.

A local FHIR test server (real sockets, 100 ms injected latency per query) serves a
library scenario's patient. The same hook with no prefetch must give the same cards as
the fully prefetched call, every query must carry the bearer token, and the queries
must overlap (well under the sum of their latencies). No token may reach the logs.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.config import Settings
from service.main import create_app
from service.scenarios import build_request, list_scenarios, patient_bundle
from tests.conftest import FIXED_NOW, fixed_clock
from tests.service.fhir_test_server import FhirTestData, FhirTestServer, run_fhir_server

TOKEN = "e2e-secret-access-token-123"
AS_OF = FIXED_NOW.date()


@pytest.fixture(params=["classic-oih", "epic-medication-reference", "exclusion-active-cancer"])
def scenario(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def server(scenario: str) -> Iterator[FhirTestServer]:
    bundle = patient_bundle(scenario, AS_OF)
    data = FhirTestData.from_resources([e["resource"] for e in bundle["entry"]])
    with run_fhir_server(data, latency=0.1, required_token=TOKEN) as running:
        yield running


@pytest.fixture
def client(server: FhirTestServer, tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(
        auth_mode="disabled",
        data_dir=tmp_path,
        fhir_allowlist=[server.base_url],
        _env_file=None,
    )
    with TestClient(create_app(settings, clock=fixed_clock)) as test_client:
        yield test_client


def cards_of(response: Any) -> list[tuple[str, str, str]]:
    assert response.status_code == 200, response.text
    return [
        (c["source"]["topic"]["code"], c["indicator"], c["summary"])
        for c in response.json()["cards"]
    ]


def test_no_prefetch_gives_the_same_cards_as_prefetch(
    client: TestClient, server: FhirTestServer, scenario: str, caplog: pytest.LogCaptureFixture
) -> None:
    hook = next(i.hook for i in list_scenarios() if i.name == scenario)
    service = f"/cds-services/oih-{hook}"
    prefetched = build_request(scenario, hook, AS_OF)
    expected = cards_of(client.post(service, json=prefetched))

    fetched = build_request(scenario, hook, AS_OF, prefetch=False, fhir_server=server.base_url)
    fetched["fhirAuthorization"] = {
        "access_token": TOKEN,
        "token_type": "Bearer",
        "expires_in": 300,
        "scope": "patient/*.read",
        "subject": "oih-cds",
    }
    with caplog.at_level(logging.DEBUG):
        started = time.perf_counter()
        response = client.post(service, json=fetched)
        elapsed = time.perf_counter() - started
    assert cards_of(response) == expected
    if scenario == "classic-oih":
        assert expected, "the classic scenario should produce cards"
    assert server.requests, "the service should have queried the FHIR server"
    assert all(r.authorization == f"Bearer {TOKEN}" for r in server.requests)
    slots = {r.path.split("/")[0] for r in server.requests}
    assert {"Patient", "MedicationRequest", "Observation", "Condition", "Encounter"} <= slots
    # Eight queries of 100 ms each: sequential would take 800 ms.
    assert elapsed < 0.6, f"queries did not overlap: {elapsed:.2f}s"
    assert TOKEN not in caplog.text
    metrics = client.get("/metrics").text
    assert 'oih_cds_fhir_fetch_duration_seconds_count{slot="medicationRequests"} 1.0' in metrics
    patient_id = fetched["context"]["patientId"]
    assert patient_id not in caplog.text, "a patient identifier reached the logs"


class _ImportRecorder:
    """Imports attempted while ``recording``: an audit hook, installed once per process.

    An audit hook cannot be removed, so it stays, idle, for the rest of the session.
    """

    installed: _ImportRecorder | None = None

    def __init__(self) -> None:
        self.recording = False
        self.names: list[str] = []
        sys.addaudithook(self._hook)

    def _hook(self, event: str, args: tuple[Any, ...]) -> None:
        if self.recording and event == "import":
            self.names.append(str(args[0]))

    @classmethod
    def get(cls) -> _ImportRecorder:
        if cls.installed is None:
            cls.installed = cls()
        return cls.installed


def test_a_warm_hook_call_imports_nothing(
    client: TestClient, server: FhirTestServer, scenario: str
) -> None:
    """No module import (or failed import) per request, on either path.

    A failed import is not cached: Python searches sys.path again each time. httpcore
    tried ``import sniffio`` for every FHIR request (~70 searches per hook call) until
    sniffio became a dependency; this keeps that class of cost out of the hook path.
    """
    hook = next(i.hook for i in list_scenarios() if i.name == scenario)
    service = f"/cds-services/oih-{hook}"
    prefetched = build_request(scenario, hook, AS_OF)
    fetched = build_request(scenario, hook, AS_OF, prefetch=False, fhir_server=server.base_url)
    fetched["fhirAuthorization"] = {"access_token": TOKEN, "token_type": "Bearer"}
    for body in (prefetched, fetched):  # warm-up: first-use imports are expected
        assert client.post(service, json=body).status_code == 200

    recorder = _ImportRecorder.get()
    recorder.names.clear()
    recorder.recording = True
    try:
        statuses = [client.post(service, json=body).status_code for body in (prefetched, fetched)]
    finally:
        recorder.recording = False
    assert statuses == [200, 200]
    assert recorder.names == []
