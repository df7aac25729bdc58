"""Run every library scenario once through the real app (explain endpoint), shared by tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.catalog import SERVICES
from service.config import Settings
from service.main import create_app
from service.scenarios import ScenarioInfo, build_request, list_scenarios
from tests.conftest import FIXED_NOW, fixed_clock

SERVICE_FOR_HOOK = {spec.hook: spec.id for spec in SERVICES.values()}


@pytest.fixture(scope="session")
def scenario_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = Settings(
        auth_mode="disabled",
        data_dir=Path(tmp_path_factory.mktemp("scenario-data")),
        _env_file=None,
    )
    with TestClient(create_app(settings, clock=fixed_clock)) as client:
        yield client


def run_scenario(client: TestClient, info: ScenarioInfo, hook: str | None = None) -> dict[str, Any]:
    hook = hook or info.hook
    body = build_request(info.name, hook, FIXED_NOW.date())
    response = client.post(f"/cds-services/{SERVICE_FOR_HOOK[hook]}/explain", json=body)
    assert response.status_code == 200, f"{info.name}: {response.status_code} {response.text[:500]}"
    result: dict[str, Any] = response.json()
    result["request"] = body
    return result


@pytest.fixture(scope="session")
def scenario_results(scenario_client: TestClient) -> dict[str, dict[str, Any]]:
    """Every scenario on its own hook, plus order-select for those with a draft."""
    results: dict[str, dict[str, Any]] = {}
    for info in list_scenarios():
        results[info.name] = run_scenario(scenario_client, info)
        if info.hook == "order-sign":
            results[f"{info.name}@order-select"] = run_scenario(
                scenario_client, info, "order-select"
            )
    return results
