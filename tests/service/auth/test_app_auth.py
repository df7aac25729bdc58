"""JWT authentication through the app: discovery, hooks and explain require a valid token.

Failures are 401 with a generic OperationOutcome and CORS headers; the reason goes to the
log and to the auth-failure metric, never to the response; no token reaches the logs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.config import Settings
from service.main import create_app
from tests.factories import full_prefetch, hook_request
from tests.service.auth.conftest import BASE, ISS, es384_token, write_issuers

SANDBOX = "https://sandbox.cds-hooks.org"


@pytest.fixture
def app_client(tmp_path: Path, jwks: dict[str, Any]) -> Iterator[TestClient]:
    settings = Settings(
        _env_file=None,
        public_base_url=BASE,
        trusted_issuers_file=write_issuers(tmp_path, [{"iss": ISS, "jwks": jwks}]),
        data_dir=tmp_path,
    )
    with TestClient(create_app(settings)) as client:
        yield client


def token_for(ec_key: Any, path: str, **claims: Any) -> str:
    now = int(time.time())
    return es384_token(ec_key, aud=f"{BASE}{path}", iat=now, exp=now + 300, **claims)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_discovery_needs_a_token(app_client: TestClient, ec_key: Any) -> None:
    assert app_client.get("/cds-services").status_code == 401
    ok = app_client.get("/cds-services", headers=bearer(token_for(ec_key, "/cds-services")))
    assert ok.status_code == 200


def test_hook_with_a_valid_token_is_answered(app_client: TestClient, ec_key: Any) -> None:
    path = "/cds-services/oih-order-sign"
    response = app_client.post(
        path, json=hook_request(prefetch=full_prefetch()), headers=bearer(token_for(ec_key, path))
    )
    assert response.status_code == 200, response.text


def test_explain_uses_its_own_audience(app_client: TestClient, ec_key: Any) -> None:
    path = "/cds-services/oih-order-sign/explain"
    body = hook_request(prefetch=full_prefetch())
    wrong = token_for(ec_key, "/cds-services/oih-order-sign")
    assert app_client.post(path, json=body, headers=bearer(wrong)).status_code == 401
    right = token_for(ec_key, path)
    assert app_client.post(path, json=body, headers=bearer(right)).status_code == 200


def test_failure_is_generic_401_with_cors_and_counted(
    app_client: TestClient, ec_key: Any, caplog: pytest.LogCaptureFixture
) -> None:
    token = token_for(ec_key, "/cds-services/oih-patient-view")  # wrong audience
    with caplog.at_level(logging.DEBUG):
        response = app_client.post(
            "/cds-services/oih-order-sign",
            json=hook_request(prefetch=full_prefetch()),
            headers={**bearer(token), "Origin": SANDBOX},
        )
    assert response.status_code == 401
    assert response.headers["access-control-allow-origin"] == SANDBOX
    assert response.headers["www-authenticate"] == "Bearer"
    issue = response.json()["issue"][0]
    assert issue["code"] == "login"
    assert "audience" not in issue["diagnostics"]
    assert token not in caplog.text
    assert token.split(".")[1] not in caplog.text
    metrics = app_client.get("/metrics").text
    assert 'oih_cds_auth_failures_total{reason="wrong-audience"} 1.0' in metrics


def test_replayed_token_is_refused(app_client: TestClient, ec_key: Any) -> None:
    path = "/cds-services/oih-order-sign"
    token = token_for(ec_key, path)
    body = hook_request(prefetch=full_prefetch())
    assert app_client.post(path, json=body, headers=bearer(token)).status_code == 200
    assert app_client.post(path, json=body, headers=bearer(token)).status_code == 401


def test_unknown_service_is_401_before_404(app_client: TestClient) -> None:
    assert app_client.post("/cds-services/nope", json={}).status_code == 401


def test_preflight_and_health_need_no_token(app_client: TestClient) -> None:
    preflight = app_client.options(
        "/cds-services/oih-order-sign",
        headers={"Origin": SANDBOX, "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code == 200
    assert app_client.get("/healthz").status_code == 200
    assert app_client.get("/readyz").status_code == 200
