"""CORS works for browser clients (the CDS Hooks Sandbox), errors included; health is cheap."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.factories import hook_request

SANDBOX = "https://sandbox.cds-hooks.org"
PREFLIGHT = {
    "Origin": SANDBOX,
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "authorization,content-type",
}


@pytest.mark.parametrize(
    "path",
    ["/cds-services", "/cds-services/oih-order-sign", "/cds-services/oih-order-sign/feedback"],
)
def test_preflight_from_the_sandbox_is_2xx_without_authentication(
    client: TestClient, path: str
) -> None:
    response = client.options(path, headers=PREFLIGHT)
    assert 200 <= response.status_code < 300
    assert response.headers["access-control-allow-origin"] == SANDBOX
    assert "POST" in response.headers["access-control-allow-methods"]
    allowed = response.headers["access-control-allow-headers"].lower()
    assert "authorization" in allowed
    assert "content-type" in allowed


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        ("post", "/cds-services/oih-order-sign", {"content": b"{"}, 400),
        ("post", "/cds-services/nope", {"json": {}}, 404),
        ("post", "/cds-services/oih-order-sign", {"json": hook_request()}, 412),
        ("post", "/cds-services/oih-order-sign", {"content": b" " * (6 * 1024 * 1024)}, 413),
    ],
)
def test_error_responses_carry_cors_headers(
    client: TestClient, method: str, path: str, kwargs: dict[str, object], status: int
) -> None:
    response = getattr(client, method)(path, headers={"Origin": SANDBOX}, **kwargs)
    assert response.status_code == status
    assert response.headers["access-control-allow-origin"] == SANDBOX


def test_unlisted_origin_gets_no_cors_grant(client: TestClient) -> None:
    response = client.options(
        "/cds-services", headers={**PREFLIGHT, "Origin": "https://evil.example"}
    )
    assert "access-control-allow-origin" not in response.headers


def test_healthz_and_readyz(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"
