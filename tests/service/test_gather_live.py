"""gather() against a real HTTP FHIR server: real sockets, pooling, latency and paging.

The respx tests prove the logic; these prove that the fetches really overlap on the
wire and that "gathered from the server" equals "prefetched by the EHR" for the same
data, which is what the end-to-end tests (same cards with and without prefetch) rely on.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Mapping
from typing import Any

import orjson
import pytest

from cds_hooks.errors import PrefetchUnavailable
from cds_hooks.models import CDSRequest
from service.catalog import PREFETCH_TEMPLATES, REQUIRED_SLOTS
from service.config import Settings
from service.fhir.client import HttpxFhirClient, create_http_client
from service.fhir.gather import GatherResult, gather
from tests.service.fhir_test_server import (
    FhirServerFactory,
    build_prefetch,
    hook_context,
    sample_data,
)

TOKEN = "live-token-xyz"
FOUR = ("medicationRequests", "painObservations", "conditions", "encounters")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def make_settings(base: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"auth_mode": "disabled", "fhir_allowlist": [base], "_env_file": None}
    values.update(overrides)
    return Settings(**values)


def make_request(base: str, prefetch: Mapping[str, Any] | None) -> CDSRequest:
    body: dict[str, Any] = {
        "hook": "patient-view",
        "hookInstance": "0d7f2a58-5c1f-4b0e-9a55-0c8d3b1f6a11",
        "fhirServer": base,
        "fhirAuthorization": {"access_token": TOKEN, "token_type": "Bearer"},
        "context": hook_context(),
    }
    if prefetch is not None:
        body["prefetch"] = dict(prefetch)
    return CDSRequest.model_validate(body)


async def run(request: CDSRequest, settings: Settings) -> GatherResult:
    async with create_http_client(settings) as http:
        client = HttpxFhirClient.from_settings(http, settings)
        return await gather(request, PREFETCH_TEMPLATES, REQUIRED_SLOTS, client, settings)


@pytest.mark.anyio
async def test_four_fetches_with_100ms_latency_overlap(
    fhir_server_factory: FhirServerFactory,
) -> None:
    server = fhir_server_factory(sample_data(), latency=0.1, required_token=TOKEN)
    full = build_prefetch(sample_data(), hook_context(), base=server.base_url)
    prefetch = {k: v for k, v in full.items() if k not in FOUR}

    request, settings = make_request(server.base_url, prefetch), make_settings(server.base_url)
    # As in the app: the pooled client exists before the hook call (creating it loads CA
    # certificates, a once-per-process cost that is not part of a hook's latency).
    async with create_http_client(settings) as http:
        client = HttpxFhirClient.from_settings(http, settings)
        started = time.perf_counter()
        result = await gather(request, PREFETCH_TEMPLATES, REQUIRED_SLOTS, client, settings)
        elapsed = time.perf_counter() - started

    assert len(server.requests) == 4  # sequentially that is >= 400 ms
    assert elapsed < 0.3, f"four 100 ms fetches took {elapsed * 1000:.0f} ms"
    assert set(result.fetched) == set(FOUR)
    assert all(r.authorization == f"Bearer {TOKEN}" for r in server.requests)
    assert result.slots == full


@pytest.mark.anyio
async def test_gathering_without_prefetch_equals_the_prefetched_dict(
    fhir_server_factory: FhirServerFactory,
) -> None:
    server = fhir_server_factory(sample_data(), page_size=1)  # every search is paged
    settings = make_settings(server.base_url, fhir_max_pages=10)

    fetched = await run(make_request(server.base_url, None), settings)
    prefetched = build_prefetch(sample_data(), hook_context(), base=server.base_url)
    from_prefetch = await run(make_request(server.base_url, prefetched), settings)

    assert fetched.fetched == tuple(PREFETCH_TEMPLATES)
    assert fetched.slots == prefetched == from_prefetch.slots
    assert fetched.notes == ()
    # Paging really happened: 3 pain scores at one per page.
    pain_queries = [r for r in server.requests if "72514-3" in r.query]
    assert len(pain_queries) == 3
    # The catalog's filters reach the server: other patients and statuses are excluded.
    ids = [e["resource"]["id"] for e in fetched.slots["medicationRequests"]["entry"]]
    assert ids == ["mr-1", "med-oxy"]


@pytest.mark.anyio
async def test_real_timeout_and_real_401(fhir_server_factory: FhirServerFactory) -> None:
    slow = fhir_server_factory(sample_data(), latency=1.0)
    settings = make_settings(slow.base_url, fhir_request_timeout_seconds=0.2)
    prefetch = {
        k: v for k, v in build_prefetch(sample_data(), hook_context()).items() if k != "conditions"
    }
    started = time.perf_counter()
    with pytest.raises(
        PrefetchUnavailable, match=r"conditions: the FHIR server did not answer within 0\.2 s"
    ):
        await run(make_request(slow.base_url, prefetch), settings)
    assert time.perf_counter() - started < 0.6

    locked = fhir_server_factory(sample_data(), required_token="another-token")
    with pytest.raises(PrefetchUnavailable, match="conditions: the FHIR server answered 401"):
        await run(make_request(locked.base_url, prefetch), make_settings(locked.base_url))


@pytest.mark.anyio
async def test_real_connection_refused() -> None:
    with socket.socket() as sock:  # a port that was free a moment ago, now closed
        sock.bind(("127.0.0.1", 0))
        base = f"http://127.0.0.1:{sock.getsockname()[1]}/fhir"
    prefetch = {
        k: v for k, v in build_prefetch(sample_data(), hook_context()).items() if k != "patient"
    }
    started = time.perf_counter()
    with pytest.raises(PrefetchUnavailable, match="patient: the FHIR server could not be reached"):
        await run(make_request(base, prefetch), make_settings(base))
    assert time.perf_counter() - started < 1.0


@pytest.mark.anyio
async def test_cached_answers_are_the_same_and_keep_latency_and_auth(
    fhir_server_factory: FhirServerFactory,
) -> None:
    """``cache_responses`` (the benchmark's server) changes the server's cost, not its answers."""
    data = sample_data()
    plain = fhir_server_factory(data, required_token=TOKEN)
    cached = fhir_server_factory(data, latency=0.05, required_token=TOKEN, cache_responses=True)
    settings = make_settings(plain.base_url, fhir_allowlist=[plain.base_url, cached.base_url])

    expected = await run(make_request(plain.base_url, None), settings)
    first = await run(make_request(cached.base_url, None), settings)
    data.bundles["Condition"]["entry"].clear()  # a cached answer no longer looks at the data
    changed = await run(make_request(plain.base_url, None), settings)
    assert changed.slots["conditions"] != expected.slots["conditions"]
    started = time.perf_counter()
    second = await run(make_request(cached.base_url, None), settings)
    elapsed = time.perf_counter() - started

    def without_base(result: GatherResult, base: str) -> bytes:
        return orjson.dumps(result.slots).replace(base.encode(), b"BASE")

    assert without_base(first, cached.base_url) == without_base(expected, plain.base_url)
    assert without_base(second, cached.base_url) == without_base(first, cached.base_url)
    assert elapsed >= 0.05  # the injected latency still applies to cached answers
    assert len(cached.requests) == 2 * len(PREFETCH_TEMPLATES)
    async with create_http_client(settings) as http:  # and so does the token check
        response = await http.get(f"{cached.base_url}/Condition?patient=pat-1&_count=500")
    assert response.status_code == 401
