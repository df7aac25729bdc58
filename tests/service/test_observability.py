"""Metrics are exposed for operators; request logs are JSON, keyed by hookInstance, PHI-free."""

from __future__ import annotations

import json
import logging

import pytest
from fastapi.testclient import TestClient

from service.observability.logging import ScrubbingJsonFormatter, scrub
from tests.factories import full_prefetch, hook_request


def test_metrics_count_requests_and_hook_latency_per_service(client: TestClient) -> None:
    client.post("/cds-services/oih-order-sign", json=hook_request(prefetch=full_prefetch()))
    client.post("/cds-services/oih-order-sign", content=b"{")
    text = client.get("/metrics").text
    assert (
        'oih_cds_http_requests_total{method="POST",route="/cds-services/{service_id}",'
        'status="200"} 1.0' in text
    )
    assert 'status="400"} 1.0' in text
    assert 'oih_cds_hook_duration_seconds_count{service="oih-order-sign",status="200"} 1.0' in text
    for family in (
        "oih_cds_cards",
        "oih_cds_fhir_fetch_duration_seconds",
        "oih_cds_fhir_fetch_errors",
        "oih_cds_auth_failures",
        "oih_cds_feedback_items",
        "oih_cds_card_records_dropped",
        "oih_cds_cards_snoozed",
        "oih_cds_snooze_refresh_errors",
    ):
        assert f"# HELP {family}" in text
    assert "_created" not in text


def test_one_access_log_line_per_request_keyed_by_hook_instance(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    body = hook_request(prefetch=full_prefetch())
    body["context"]["patientId"] = "patient-secret-42"
    with caplog.at_level(logging.INFO, logger="oih_cds.access"):
        client.post("/cds-services/oih-order-sign", json=body)
    lines = [r for r in caplog.records if r.name == "oih_cds.access"]
    assert len(lines) == 1
    record = lines[0]
    assert record.hookInstance == body["hookInstance"]  # type: ignore[attr-defined]
    assert record.route == "/cds-services/{service_id}"  # type: ignore[attr-defined]
    assert record.status == 200  # type: ignore[attr-defined]
    assert "patient-secret-42" not in caplog.text


def test_formatter_writes_json_and_scrubs_tokens() -> None:
    jwt = "eyJhbGciOiJFUzM4NCJ9.eyJpc3MiOiJ4In0.c2lnbmF0dXJl"
    record = logging.LogRecord(
        "x", logging.INFO, __file__, 1, f"Authorization: Bearer {jwt}", None, None
    )
    line = json.loads(ScrubbingJsonFormatter("{message}", style="{").format(record))
    assert jwt not in line["message"]
    assert scrub(f"token {jwt}") == "token [redacted-jwt]"
    assert scrub("Bearer abc.def") == "Bearer [redacted]"


def test_tracing_is_off_by_default_and_refuses_to_start_half_configured(
    tmp_path: object,
) -> None:
    import importlib.util

    from service.config import Settings
    from service.main import create_app
    from service.observability.tracing import MISSING, TracingUnavailable

    assert not Settings(auth_mode="disabled", _env_file=None).otel_enabled
    enabled = Settings(auth_mode="disabled", otel_enabled=True, _env_file=None)
    try:
        installed = importlib.util.find_spec("opentelemetry.instrumentation.fastapi") is not None
    except ModuleNotFoundError:
        installed = False
    if not installed:
        with pytest.raises(TracingUnavailable, match="otel"):
            create_app(enabled)
        assert "OIH_OTEL_ENABLED" in MISSING
    else:  # pragma: no cover - with the extra installed
        assert create_app(enabled)
