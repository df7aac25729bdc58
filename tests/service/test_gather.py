"""gather(): prefetch first, then concurrent, allow-listed, deadline-bounded FHIR fetches.

The FHIR server is mocked with respx at the transport, so these tests run the real
pooled client (create_http_client + HttpxFhirClient) and count every HTTP call.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Iterator, Mapping
from typing import Any

import httpx
import pytest
import respx

from cds_hooks.errors import PrefetchUnavailable
from cds_hooks.models import CDSRequest
from service.catalog import PREFETCH_TEMPLATES, REQUIRED_SLOTS
from service.config import Settings
from service.fhir.client import (
    FhirHttpStatus,
    FhirRequestRefused,
    FhirUnreachable,
    HttpxFhirClient,
    create_http_client,
)
from service.fhir.gather import GatherResult, gather
from tests.service.fhir_test_server import PATIENT_ID, build_prefetch, hook_context, sample_data

BASE = "https://ehr.example.org/fhir"
HOST = "ehr.example.org"
TOKEN = "tok-S3CRET-abc123"  # must never show up in logs or errors
FULL = build_prefetch(sample_data(), hook_context())


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@contextlib.contextmanager
def mocked_fhir(*, all_called: bool = False) -> Iterator[respx.MockRouter]:
    """A respx router whose call records outlive the block (respx resets them on exit).

    Unmatched requests are recorded (and answered 200 with no body) rather than raised
    inside the transport, so ``mock.calls`` counts every request that was attempted.
    """
    router = respx.mock(assert_all_mocked=False, assert_all_called=False)
    router.start()
    try:
        yield router
    finally:
        router.stop(clear=False, reset=False, quiet=True)
    if all_called:
        router.assert_all_called()


def make_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {"auth_mode": "disabled", "fhir_allowlist": [BASE], "_env_file": None}
    values.update(overrides)
    return Settings(**values)


def make_request(
    prefetch: Mapping[str, Any] | None = None,
    *,
    server: str | None = BASE,
    token: str | None = TOKEN,
    context: Mapping[str, Any] | None = None,
) -> CDSRequest:
    body: dict[str, Any] = {
        "hook": "patient-view",
        "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        "context": dict(context or hook_context()),
    }
    if server is not None:
        body["fhirServer"] = server
    if token is not None:
        body["fhirAuthorization"] = {"access_token": token, "token_type": "Bearer"}
    if prefetch is not None:
        body["prefetch"] = dict(prefetch)
    return CDSRequest.model_validate(body)


def without(*names: str) -> dict[str, Any]:
    return {k: v for k, v in FULL.items() if k not in names}


async def run(
    request: CDSRequest,
    settings: Settings | None = None,
    *,
    templates: Mapping[str, str] = PREFETCH_TEMPLATES,
    required: frozenset[str] = REQUIRED_SLOTS,
    extra_allowed_servers: set[str] | None = None,
) -> GatherResult:
    settings = settings or make_settings()
    async with create_http_client(settings) as http:
        client = HttpxFhirClient.from_settings(http, settings)
        return await gather(
            request,
            templates,
            required,
            client,
            settings,
            extra_allowed_servers=extra_allowed_servers,
        )


def fhir(body: Mapping[str, Any], status: int = 200) -> httpx.Response:
    return httpx.Response(
        status, content=json.dumps(body), headers={"Content-Type": "application/fhir+json"}
    )


def route(mock: respx.MockRouter, resource_type: str) -> respx.Route:
    return mock.route(method="GET", host=HOST, path=f"/fhir/{resource_type}")


def outcome(severity: str = "error") -> dict[str, Any]:
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": severity, "code": "processing", "diagnostics": "x"}],
    }


def bundle(*ids: str, next_url: str | None = None) -> dict[str, Any]:
    value: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [
            {"resource": {"resourceType": "MedicationRequest", "id": i, "status": "active"}}
            for i in ids
        ],
    }
    if next_url:
        value["link"] = [{"relation": "self", "url": "x"}, {"relation": "next", "url": next_url}]
    return value


# ------------------------------------------------------------------ prefetch only


@pytest.mark.anyio
async def test_everything_prefetched_makes_no_http_call() -> None:
    with mocked_fhir(all_called=True) as mock:
        result = await run(make_request(FULL))
    assert mock.calls.call_count == 0
    assert result.slots == FULL
    assert (result.fetched, result.notes, result.timings, result.skipped) == ((), (), {}, ())


@pytest.mark.anyio
async def test_everything_prefetched_needs_no_fhir_server_at_all() -> None:
    with mocked_fhir() as mock:
        result = await run(make_request(FULL, server=None, token=None))
    assert mock.calls.call_count == 0
    assert result.slots == FULL


@pytest.mark.anyio
async def test_null_slots_are_no_data_and_never_fetched() -> None:
    prefetch = {**FULL, "patient": FULL["patient"], "conditions": None, "procedures": None}
    with mocked_fhir() as mock:
        result = await run(make_request(prefetch))
    assert mock.calls.call_count == 0
    assert result.slots["conditions"] is None
    assert result.slots["procedures"] is None
    assert result.fetched == ()


# ------------------------------------------------------------- partial prefetch


class InFlight:
    """Counts requests in flight, so a test can prove they overlapped."""

    def __init__(self) -> None:
        self.now = 0
        self.peak = 0

    def respond(self, body: Mapping[str, Any], delay: float = 0.05) -> Any:
        async def effect(request: httpx.Request) -> httpx.Response:
            self.now += 1
            self.peak = max(self.peak, self.now)
            try:
                await asyncio.sleep(delay)
            finally:
                self.now -= 1
            return fhir(body)

        return effect


@pytest.mark.anyio
async def test_only_missing_slots_are_fetched_concurrently_with_the_token() -> None:
    inflight = InFlight()
    prefetch = without("medicationRequests", "painObservations", "labObservations")
    with mocked_fhir(all_called=True) as mock:
        meds = route(mock, "MedicationRequest").mock(
            side_effect=inflight.respond(FULL["medicationRequests"])
        )
        obs = mock.route(method="GET", host=HOST, path="/fhir/Observation")
        obs.side_effect = inflight.respond(FULL["painObservations"])
        result = await run(make_request(prefetch))

    assert meds.call_count == 1
    assert obs.call_count == 2  # pain and lab observations: two different queries
    assert mock.calls.call_count == 3
    assert inflight.peak == 3, "the three fetches did not overlap"
    for call in mock.calls:
        assert call.request.headers["Authorization"] == f"Bearer {TOKEN}"
        assert call.request.headers["Accept"] == "application/fhir+json"
        assert call.request.url.params["patient"] == PATIENT_ID
    assert meds.calls.last.request.url.params["status"] == "active,completed,stopped,on-hold"
    assert result.fetched == ("medicationRequests", "painObservations", "labObservations")
    assert set(result.timings) == set(result.fetched)
    assert all(ms > 0 for ms in result.timings.values())
    assert result.slots["medicationRequests"] == FULL["medicationRequests"]
    assert result.slots["patient"] == FULL["patient"]  # prefetched value untouched


@pytest.mark.anyio
async def test_prefetch_absent_entirely_fetches_every_slot() -> None:
    with mocked_fhir() as mock:
        mock.route(method="GET", host=HOST, path=f"/fhir/Patient/{PATIENT_ID}").mock(
            return_value=fhir(FULL["patient"])
        )
        mock.route(method="GET", host=HOST, path__regex=r"^/fhir/[A-Za-z]+$").mock(
            return_value=fhir(bundle())
        )
        result = await run(make_request(None))
    assert mock.calls.call_count == len(PREFETCH_TEMPLATES)
    assert result.fetched == tuple(PREFETCH_TEMPLATES)


# ---------------------------------------------------- OperationOutcome in prefetch


@pytest.mark.parametrize(
    "failed",
    [
        outcome(),
        {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": outcome()}]},
        {"resourceType": "Bundle", "entry": [{"resource": outcome("fatal")}]},
        "garbage",
    ],
    ids=["operation-outcome", "bundle-of-error-outcomes", "bundle-of-fatal", "not-an-object"],
)
@pytest.mark.anyio
async def test_failed_prefetch_slots_are_refetched(failed: Any) -> None:
    prefetch = {**FULL, "conditions": failed}
    with mocked_fhir(all_called=True) as mock:
        conditions = route(mock, "Condition").mock(return_value=fhir(FULL["conditions"]))
        result = await run(make_request(prefetch))
    assert conditions.call_count == 1
    assert mock.calls.call_count == 1
    assert result.slots["conditions"] == FULL["conditions"]
    assert result.fetched == ("conditions",)
    assert any(n.startswith("conditions: the prefetched value was an error") for n in result.notes)


@pytest.mark.anyio
async def test_epic_informational_outcome_beside_results_is_used_as_is() -> None:
    epic = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [
            *FULL["conditions"].get("entry", []),
            {"resource": outcome("information"), "search": {"mode": "outcome"}},
        ],
    }
    with mocked_fhir() as mock:
        result = await run(make_request({**FULL, "conditions": epic}))
    assert mock.calls.call_count == 0
    assert result.slots["conditions"] == epic


@pytest.mark.anyio
async def test_server_answering_operation_outcome_is_a_failure() -> None:
    with mocked_fhir() as mock:
        route(mock, "Condition").mock(return_value=fhir(outcome()))
        with pytest.raises(PrefetchUnavailable) as caught:
            await run(make_request(without("conditions")))
    assert caught.value.missing == ("conditions",)
    assert "conditions: the FHIR server answered with an OperationOutcome" in caught.value.message


# ------------------------------------------------------------------------ paging


@pytest.mark.anyio
async def test_next_links_on_the_same_base_are_followed_and_merged() -> None:
    page2 = f"{BASE}/MedicationRequest?_getpages=abc&_offset=2"
    page3 = f"{BASE}/MedicationRequest?_getpages=abc&_offset=4"

    def pages(request: httpx.Request) -> httpx.Response:
        offset = request.url.params.get("_offset")
        if offset is None:
            return fhir(bundle("a", "b", next_url=page2))
        if offset == "2":
            return fhir(bundle("c", "d", next_url=page3))
        return fhir(bundle("e"))

    with mocked_fhir() as mock:
        meds = route(mock, "MedicationRequest").mock(side_effect=pages)
        result = await run(make_request(without("medicationRequests")))

    assert meds.call_count == 3
    for call in meds.calls:
        assert call.request.headers["Authorization"] == f"Bearer {TOKEN}"
    merged = result.slots["medicationRequests"]
    assert [e["resource"]["id"] for e in merged["entry"]] == ["a", "b", "c", "d", "e"]
    assert merged["link"] == [{"relation": "self", "url": "x"}]  # no next link left
    assert not any("pages" in n for n in result.notes)


@pytest.mark.parametrize(
    "foreign",
    [
        "https://evil.example.org/fhir/MedicationRequest?page=2",
        "https://ehr.example.org/fhir-evil/MedicationRequest?page=2",
        "http://ehr.example.org/fhir/MedicationRequest?page=2",
        "https://ehr.example.org:8443/fhir/MedicationRequest?page=2",
        "https://ehr.example.org/other/MedicationRequest?page=2",
    ],
)
@pytest.mark.anyio
async def test_next_link_off_the_base_is_not_followed(foreign: str) -> None:
    with mocked_fhir() as mock:
        meds = route(mock, "MedicationRequest").mock(
            return_value=fhir(bundle("a", next_url=foreign))
        )
        catch_all = mock.route().mock(return_value=fhir(bundle("stolen")))
        with pytest.raises(PrefetchUnavailable) as caught:
            await run(make_request(without("medicationRequests")))
    assert meds.call_count == 1
    assert catch_all.call_count == 0
    assert "next link points outside its base" in caught.value.message
    assert caught.value.missing == ("medicationRequests",)


@pytest.mark.anyio
async def test_paging_stops_at_the_page_limit_and_says_so() -> None:
    def endless(request: httpx.Request) -> httpx.Response:
        n = int(request.url.params.get("_offset", "0"))
        return fhir(bundle(f"m{n}", next_url=f"{BASE}/MedicationRequest?_offset={n + 1}"))

    with mocked_fhir() as mock:
        meds = route(mock, "MedicationRequest").mock(side_effect=endless)
        result = await run(
            make_request(without("medicationRequests")), make_settings(fhir_max_pages=3)
        )
    assert meds.call_count == 3
    merged = result.slots["medicationRequests"]
    assert [e["resource"]["id"] for e in merged["entry"]] == ["m0", "m1", "m2"]
    assert merged["link"][-1]["relation"] == "next"  # truncation stays visible downstream
    assert "medicationRequests: more than 3 pages; only the first ones were read" in result.notes


# ----------------------------------------------------------------- server errors


@pytest.mark.parametrize("status", [401, 403, 404, 500, 503, 302])
@pytest.mark.anyio
async def test_http_errors_become_412_naming_the_slot(status: int) -> None:
    headers = {"Location": "https://evil.example.org/"} if status == 302 else {}
    with mocked_fhir() as mock:
        route(mock, "MedicationRequest").mock(
            return_value=httpx.Response(status, headers=headers, json=outcome())
        )
        catch_all = mock.route()
        with pytest.raises(PrefetchUnavailable) as caught:
            await run(make_request(without("medicationRequests")))
    assert catch_all.call_count == 0  # a redirect is not followed
    error = caught.value
    assert error.status_code == 412
    assert error.missing == ("medicationRequests",)
    assert f"medicationRequests: the FHIR server answered {status}" in error.message
    assert error.locations == ("prefetch.medicationRequests",)


@pytest.mark.anyio
async def test_every_missing_required_slot_is_named_with_its_reason() -> None:
    with mocked_fhir() as mock:
        route(mock, "MedicationRequest").mock(return_value=httpx.Response(401))
        route(mock, "Condition").mock(return_value=httpx.Response(500))
        route(mock, "Encounter").mock(side_effect=httpx.ConnectError("refused"))
        with pytest.raises(PrefetchUnavailable) as caught:
            await run(make_request(without("medicationRequests", "conditions", "encounters")))
    assert caught.value.missing == ("medicationRequests", "conditions", "encounters")
    assert caught.value.message == (
        "Required prefetch data is unavailable: "
        "medicationRequests: the FHIR server answered 401; "
        "conditions: the FHIR server answered 500; "
        "encounters: the FHIR server could not be reached"
    )


@pytest.mark.parametrize(
    ("response", "reason"),
    [
        (httpx.Response(200, text="<html>login</html>"), "did not answer with a JSON object"),
        (httpx.Response(200, json=[1, 2]), "did not answer with a JSON object"),
        (httpx.Response(200, json={"id": "x"}), "has no resourceType"),
        (httpx.Response(200, content=b""), "did not answer with a JSON object"),
    ],
)
@pytest.mark.anyio
async def test_non_fhir_answers_become_412(response: httpx.Response, reason: str) -> None:
    with mocked_fhir() as mock:
        route(mock, "Condition").mock(return_value=response)
        with pytest.raises(PrefetchUnavailable, match=reason):
            await run(make_request(without("conditions")))


@pytest.mark.anyio
async def test_connection_refused_becomes_412() -> None:
    with mocked_fhir() as mock:
        route(mock, "Condition").mock(side_effect=httpx.ConnectError("[Errno 111] refused"))
        with pytest.raises(PrefetchUnavailable) as caught:
            await run(make_request(without("conditions")))
    assert caught.value.message.endswith("conditions: the FHIR server could not be reached")


async def _hang(request: httpx.Request) -> httpx.Response:
    await asyncio.sleep(30)
    return fhir(bundle())


@pytest.mark.anyio
async def test_slow_server_hits_the_per_request_timeout() -> None:
    settings = make_settings(fhir_request_timeout_seconds=0.1, hook_deadline_seconds=2.0)
    with mocked_fhir() as mock:
        route(mock, "Condition").mock(side_effect=_hang)
        started = time.perf_counter()
        with pytest.raises(PrefetchUnavailable) as caught:
            await run(make_request(without("conditions")), settings)
        elapsed = time.perf_counter() - started
    assert elapsed < 0.5
    assert "conditions: the FHIR server did not answer within 0.1 s" in caught.value.message


@pytest.mark.anyio
async def test_overall_deadline_bounds_the_whole_gather() -> None:
    """Each page is within the request timeout, but paging as a whole is not."""

    async def slow_pages(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0.08)
        n = int(request.url.params.get("_offset", "0"))
        return fhir(bundle(f"m{n}", next_url=f"{BASE}/MedicationRequest?_offset={n + 1}"))

    settings = make_settings(
        fhir_request_timeout_seconds=0.15, hook_deadline_seconds=0.2, fhir_max_pages=50
    )
    with mocked_fhir() as mock:
        route(mock, "MedicationRequest").mock(side_effect=slow_pages)
        route(mock, "Condition").mock(side_effect=_hang)
        started = time.perf_counter()
        with pytest.raises(PrefetchUnavailable) as caught:
            await run(make_request(without("medicationRequests", "conditions")), settings)
        elapsed = time.perf_counter() - started
    assert elapsed < 0.5
    assert caught.value.missing == ("medicationRequests", "conditions")
    assert "within the 0.2 s deadline" in caught.value.message


@pytest.mark.anyio
async def test_slow_optional_slot_becomes_a_note_not_a_412() -> None:
    settings = make_settings(fhir_request_timeout_seconds=0.1, hook_deadline_seconds=0.3)
    with mocked_fhir() as mock:
        route(mock, "Procedure").mock(side_effect=_hang)
        route(mock, "Condition").mock(return_value=fhir(FULL["conditions"]))
        result = await run(make_request(without("procedures", "conditions")), settings)
    assert "procedures" not in result.slots
    assert result.skipped == ("procedures",)
    assert result.fetched == ("conditions",)
    assert "procedures: not available (the FHIR server did not answer within 0.1 s)" in result.notes
    assert set(result.timings) == {"procedures", "conditions"}


# --------------------------------------------------------------- where we may go


@pytest.mark.parametrize(
    "server",
    [
        "https://evil.example.org/fhir",
        "https://ehr.example.org/fhir-evil",
        "https://ehr.example.org.evil/fhir",
    ],
)
@pytest.mark.anyio
async def test_server_not_on_allowlist_is_never_contacted(server: str) -> None:
    with mocked_fhir() as mock:
        anything = mock.route().mock(return_value=fhir(bundle()))
        with pytest.raises(PrefetchUnavailable) as caught:
            await run(make_request(without("medicationRequests", "conditions"), server=server))
    assert anything.call_count == 0
    assert mock.calls.call_count == 0
    assert caught.value.status_code == 412
    assert caught.value.missing == ("medicationRequests", "conditions")
    assert caught.value.message == (
        "Required prefetch data is unavailable: medicationRequests, conditions: "
        f"fhirServer {server} is not on the allow-list (OIH_FHIR_ALLOWLIST)"
    )


@pytest.mark.anyio
async def test_no_fhir_server_and_missing_data_is_412() -> None:
    with mocked_fhir() as mock, pytest.raises(PrefetchUnavailable) as caught:
        await run(make_request(without("patient"), server=None, token=None))
    assert mock.calls.call_count == 0
    assert caught.value.message.endswith("patient: no fhirServer was given")


@pytest.mark.anyio
async def test_tokenless_call_only_via_the_open_allowlist() -> None:
    request = make_request(without("conditions"), token=None)
    # Authenticated allow-list only: refused, nothing sent.
    with mocked_fhir() as mock:
        mock.route().mock(return_value=fhir(FULL["conditions"]))
        with pytest.raises(PrefetchUnavailable, match="OIH_FHIR_OPEN_ALLOWLIST"):
            await run(request)
    assert mock.calls.call_count == 0
    # Open allow-list: sent without any Authorization header.
    open_settings = make_settings(fhir_allowlist=[], fhir_open_allowlist=[BASE])
    with mocked_fhir() as mock:
        route(mock, "Condition").mock(return_value=fhir(FULL["conditions"]))
        result = await run(request, open_settings)
    assert "Authorization" not in mock.calls.last.request.headers
    assert result.slots["conditions"] == FULL["conditions"]


@pytest.mark.anyio
async def test_token_is_never_sent_to_an_open_only_server() -> None:
    open_settings = make_settings(fhir_allowlist=[], fhir_open_allowlist=[BASE])
    with mocked_fhir() as mock, pytest.raises(PrefetchUnavailable, match="OIH_FHIR_ALLOWLIST"):
        await run(make_request(without("conditions")), open_settings)
    assert mock.calls.call_count == 0


@pytest.mark.anyio
async def test_issuer_restriction_narrows_the_allowlist() -> None:
    refused = pytest.raises(PrefetchUnavailable, match="not allowed for this client's issuer")
    with mocked_fhir() as mock, refused:
        await run(
            make_request(without("conditions")),
            extra_allowed_servers={"https://other.example.org/fhir"},
        )
    assert mock.calls.call_count == 0


# ------------------------------------------------------------ unresolvable tokens


ENCOUNTER_TEMPLATES = {**PREFETCH_TEMPLATES, "encounter": "Encounter/{{context.encounterId}}"}


@pytest.mark.anyio
async def test_unresolvable_optional_slot_is_skipped_without_fetching() -> None:
    with mocked_fhir() as mock:
        result = await run(make_request(FULL), templates=ENCOUNTER_TEMPLATES)
    assert mock.calls.call_count == 0
    assert "encounter" not in result.slots
    assert result.skipped == ("encounter",)
    assert result.notes == (
        "encounter: not available (its query needs context.encounterId, "
        "which this request does not provide)",
    )


@pytest.mark.anyio
async def test_unresolvable_required_slot_is_412_before_any_fetch() -> None:
    with mocked_fhir() as mock, pytest.raises(PrefetchUnavailable) as caught:
        await run(
            make_request(without("conditions")),
            templates=ENCOUNTER_TEMPLATES,
            required=REQUIRED_SLOTS | {"encounter"},
        )
    assert mock.calls.call_count == 0  # conditions is not fetched: 412 is certain anyway
    assert caught.value.missing == ("conditions", "encounter")
    assert "encounter: its query needs context.encounterId" in caught.value.message


@pytest.mark.parametrize(
    "patient_id", ["1&_include=*", "..", "a/../../admin", "x?y", "a b", "%2e%2e", "p" * 65]
)
@pytest.mark.anyio
async def test_patient_ids_that_would_change_the_query_are_not_sent(patient_id: str) -> None:
    context = {"userId": "Practitioner/doc-1", "patientId": patient_id}
    refused = pytest.raises(PrefetchUnavailable, match=r"needs context\.patientId")
    with mocked_fhir() as mock, refused:
        await run(make_request(without("conditions"), context=context))
    assert mock.calls.call_count == 0


@pytest.mark.anyio
async def test_client_refuses_a_query_that_leaves_the_base() -> None:
    settings = make_settings()
    with mocked_fhir() as mock:
        async with create_http_client(settings) as http:
            client = HttpxFhirClient.from_settings(http, settings)
            for bad in ("Patient/../../admin", "https://evil.example.org/x", "//evil/x"):
                with pytest.raises(FhirRequestRefused):
                    await client.search(BASE, bad, TOKEN)
    assert mock.calls.call_count == 0


# ------------------------------------------------------------------ no leaks


@pytest.mark.anyio
async def test_token_and_patient_id_never_reach_logs_or_errors(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    settings = make_settings(fhir_request_timeout_seconds=0.1, hook_deadline_seconds=0.3)
    with mocked_fhir() as mock:
        route(mock, "MedicationRequest").mock(return_value=httpx.Response(401, json=outcome()))
        route(mock, "Condition").mock(side_effect=httpx.ConnectError(f"refused {TOKEN}"))
        route(mock, "Encounter").mock(side_effect=_hang)
        route(mock, "Procedure").mock(return_value=fhir(bundle()))
        with pytest.raises(PrefetchUnavailable) as caught:
            await run(
                make_request(
                    without("medicationRequests", "conditions", "encounters", "procedures")
                ),
                settings,
            )
    error = caught.value
    rendered = json.dumps(error.to_operation_outcome()) + str(error) + repr(error)
    assert TOKEN not in rendered
    assert PATIENT_ID not in rendered
    assert TOKEN not in caplog.text
    assert PATIENT_ID not in caplog.text  # no URLs: httpx's request lines are filtered
    assert "slot=procedures status=200" in caplog.text  # but the fetch itself is logged
    assert "slot=medicationRequests status=401" in caplog.text


@pytest.mark.anyio
async def test_client_errors_carry_no_chained_httpx_exception() -> None:
    settings = make_settings()
    with mocked_fhir() as mock:
        route(mock, "Condition").mock(side_effect=httpx.ConnectError(f"refused {TOKEN}"))
        route(mock, "Encounter").mock(return_value=httpx.Response(403))
        async with create_http_client(settings) as http:
            client = HttpxFhirClient.from_settings(http, settings)
            with pytest.raises(FhirUnreachable) as unreachable:
                await client.search(BASE, "Condition?patient=1", TOKEN)
            with pytest.raises(FhirHttpStatus) as forbidden:
                await client.search(BASE, "Encounter?patient=1", TOKEN)
    for caught in (unreachable, forbidden):
        assert caught.value.__cause__ is None
        assert caught.value.__context__ is None  # so no Request (with its header) is reachable
        assert TOKEN not in str(caught.value)
    assert forbidden.value.status_code == 403


def test_http_client_is_pooled_http11_without_redirects() -> None:
    settings = make_settings(fhir_request_timeout_seconds=0.7)
    http = create_http_client(settings)
    assert http.follow_redirects is False
    assert http.timeout == httpx.Timeout(0.7)
    assert http.headers["Accept"] == "application/fhir+json"
    assert "Authorization" not in http.headers


@pytest.mark.anyio
async def test_every_fetch_is_reported_to_the_observer_even_when_the_answer_is_412() -> None:
    seen: list[tuple[str, str | None]] = []
    settings = make_settings()
    with mocked_fhir() as mock:
        route(mock, "Condition").mock(return_value=httpx.Response(500))
        route(mock, "Encounter").mock(return_value=fhir(bundle("e1")))
        async with create_http_client(settings) as http:
            client = HttpxFhirClient.from_settings(http, settings)
            with pytest.raises(PrefetchUnavailable):
                await gather(
                    make_request(without("conditions", "encounters")),
                    PREFETCH_TEMPLATES,
                    REQUIRED_SLOTS,
                    client,
                    settings,
                    on_fetch=lambda slot, ms, error: seen.append((slot, error)),
                )
    assert sorted(seen) == [("conditions", "500"), ("encounters", None)]
