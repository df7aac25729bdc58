"""A small real-HTTP FHIR server for tests: one patient's data, configurable latency.

Mocks prove the logic; this proves the wiring (pooling, real concurrency, timeouts,
paging over sockets). It serves a :class:`FhirTestData` (Bundles keyed by resource
type) with Starlette under uvicorn in a background thread on ``127.0.0.1`` and a free
port. It understands the searches in ``service.catalog.PREFETCH_TEMPLATES``: instance
read, ``patient=``, ``code=`` (token, ``system|code``), ``status=``,
``_include=<Type>:medication`` and ``_count`` paging; other parameters are ignored.

:func:`build_prefetch` answers the same templates from the same data without HTTP, so a
test can compare "gathered from the server" with "prefetched by the EHR" exactly.

Use :func:`run_fhir_server` as a context manager, or the ``fhir_server_factory`` fixture
of ``tests/service/conftest.py``. ``bench`` reuses this server for its FHIR-path run.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cds_hooks.prefetch import render_template
from service.catalog import PREFETCH_TEMPLATES

FHIR_JSON = "application/fhir+json"
_PATIENT_PARAMS = ("patient", "subject")


@dataclass(frozen=True)
class FhirTestData:
    """One patient's resources, as Bundles keyed by resource type."""

    bundles: Mapping[str, Mapping[str, Any]]

    @classmethod
    def from_resources(cls, resources: Sequence[Mapping[str, Any]]) -> FhirTestData:
        grouped: dict[str, list[dict[str, Any]]] = {}
        for resource in resources:
            grouped.setdefault(resource["resourceType"], []).append({"resource": resource})
        return cls(
            {
                kind: {"resourceType": "Bundle", "type": "collection", "entry": entries}
                for kind, entries in grouped.items()
            }
        )

    def resources(self, resource_type: str) -> list[dict[str, Any]]:
        bundle = self.bundles.get(resource_type) or {}
        return [e["resource"] for e in bundle.get("entry", []) if "resource" in e]

    def read(self, resource_type: str, resource_id: str) -> dict[str, Any] | None:
        for resource in self.resources(resource_type):
            if resource.get("id") == resource_id:
                return resource
        return None

    def search(
        self, resource_type: str, params: Mapping[str, Sequence[str]]
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """(matches, included resources) for a type-level search; unknown params ignored."""
        matches = [r for r in self.resources(resource_type) if _matches(r, params)]
        included: list[dict[str, Any]] = []
        for spec in _values(params, "_include"):
            if spec.endswith(":medication"):
                included.extend(self._medications(matches, already=included))
        return matches, included

    def _medications(
        self, matches: list[dict[str, Any]], *, already: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for resource in matches:
            ref = (resource.get("medicationReference") or {}).get("reference", "")
            kind, _, ident = ref.rpartition("/")
            medication = self.read("Medication", ident) if kind.endswith("Medication") else None
            if medication is not None and medication not in already and medication not in found:
                found.append(medication)
        return found


def _values(params: Mapping[str, Sequence[str]], name: str) -> list[str]:
    return [v for raw in params.get(name, ()) for v in raw.split(",") if v]


def _matches(resource: Mapping[str, Any], params: Mapping[str, Sequence[str]]) -> bool:
    for name in _PATIENT_PARAMS:
        wanted = params.get(name)
        if wanted:
            ref = (resource.get("subject") or resource.get("patient") or {}).get("reference")
            if ref not in {f"Patient/{w.removeprefix('Patient/')}" for w in wanted}:
                return False
    statuses = _values(params, "status")
    if statuses and resource.get("status") not in statuses:
        return False
    codes = _values(params, "code")
    if codes:
        codings = (resource.get("code") or {}).get("coding") or []
        have = {(c.get("system"), c.get("code")) for c in codings}
        if not any(_token_match(token, have) for token in codes):
            return False
    return True


def _token_match(token: str, have: set[tuple[Any, Any]]) -> bool:
    if "|" in token:
        system, _, code = token.partition("|")
        return (system, code) in have if system else any(c == code for _, c in have)
    return any(c == token for _, c in have)


def _entry(resource: dict[str, Any], mode: str, base: str | None) -> dict[str, Any]:
    entry: dict[str, Any] = {}
    if base is not None:
        entry["fullUrl"] = f"{base}/{resource['resourceType']}/{resource['id']}"
    entry["resource"] = resource
    entry["search"] = {"mode": mode}
    return entry


def _searchset(
    matches: list[dict[str, Any]], included: list[dict[str, Any]], base: str | None
) -> dict[str, Any]:
    entries = [_entry(r, "match", base) for r in matches]
    entries += [_entry(r, "include", base) for r in included]
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset", "total": len(matches)}
    if entries:
        bundle["entry"] = entries
    return bundle


def build_prefetch(
    data: FhirTestData,
    context: Mapping[str, Any],
    templates: Mapping[str, str] = PREFETCH_TEMPLATES,
    *,
    base: str | None = None,
) -> dict[str, Any]:
    """The ``prefetch`` dict an EHR would send for ``templates``, computed without HTTP.

    Pass the server's ``base_url`` as ``base`` to get the same ``fullUrl`` values the
    server writes. Slots whose token cannot be resolved are left out (as the Sandbox
    does); a read of an unknown id gives ``None`` (CDS Hooks' "no data").
    """
    prefetch: dict[str, Any] = {}
    for name, template in templates.items():
        try:
            query = render_template(template, context)
        except ValueError:
            continue
        path, _, raw_query = query.partition("?")
        kind, _, ident = path.partition("/")
        if ident:
            prefetch[name] = data.read(kind, ident)
        else:
            matches, included = data.search(kind, parse_qs(raw_query))
            prefetch[name] = _searchset(matches, included, base)
    return prefetch


@dataclass(frozen=True)
class RecordedRequest:
    path: str
    query: str
    authorization: str | None


def _outcome(status: int, text: str) -> Response:
    body = (
        '{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"processing",'
        f'"diagnostics":"{text}"}}]}}'
    )
    return Response(body, status_code=status, media_type=FHIR_JSON)


@dataclass
class FhirTestServer:
    """A running server. Attributes can be changed between requests from the test."""

    data: FhirTestData
    latency: float = 0.0  # seconds slept before every answer
    page_size: int | None = None  # cap on _count; None = one page
    required_token: str | None = None  # when set, other or no bearer token → 401
    status_by_type: dict[str, int] = field(default_factory=dict)  # e.g. {"Condition": 500}
    #: Answer a repeated read or search from the body encoded the first time. For the
    #: benchmark, whose data never change: the server then costs the injected latency
    #: plus transport, not its own linear search, so what is measured is the client.
    cache_responses: bool = False
    requests: list[RecordedRequest] = field(default_factory=list)
    base_url: str = ""
    _server: uvicorn.Server | None = field(default=None, init=False, repr=False)
    _thread: threading.Thread | None = field(default=None, init=False, repr=False)
    _socket: socket.socket | None = field(default=None, init=False, repr=False)
    _cache: dict[tuple[str, str], bytes] = field(default_factory=dict, init=False, repr=False)

    # ------------------------------------------------------------------ app
    async def _handle(self, request: Request) -> Response:
        path = request.path_params["path"].strip("/")
        self.requests.append(
            RecordedRequest(path, request.url.query, request.headers.get("authorization"))
        )
        if self.latency:
            await asyncio.sleep(self.latency)
        if self.required_token is not None and (
            request.headers.get("authorization") != f"Bearer {self.required_token}"
        ):
            return _outcome(401, "unauthorized")
        kind, _, ident = path.partition("/")
        if kind in self.status_by_type:
            return _outcome(self.status_by_type[kind], "injected failure")
        key = (path, request.url.query)
        cached = self._cache.get(key) if self.cache_responses else None
        if cached is not None:
            return Response(cached, media_type=FHIR_JSON)
        if ident:
            resource = self.data.read(kind, ident)
            if resource is None:
                return _outcome(404, "not found")
            body = orjson.dumps(resource)
        else:
            params = parse_qs(request.url.query)
            matches, included = self.data.search(kind, params)
            body = orjson.dumps(self._page(kind, params, matches, included))
        if self.cache_responses:
            self._cache[key] = body
        return Response(body, media_type=FHIR_JSON)

    def _page(
        self,
        kind: str,
        params: dict[str, list[str]],
        matches: list[dict[str, Any]],
        included: list[dict[str, Any]],
    ) -> dict[str, Any]:
        count = int(params.get("_count", ["0"])[0] or 0) or None
        size = min(x for x in (count, self.page_size, len(matches) or 1) if x)
        offset = int(params.get("_offset", ["0"])[0])
        page = matches[offset : offset + size]
        last = offset + size >= len(matches)
        bundle = _searchset(page, included if last else [], self.base_url)
        bundle["total"] = len(matches)
        if not last:
            query = {k: v for k, v in params.items() if k != "_offset"}
            query["_offset"] = [str(offset + size)]
            bundle["link"] = [
                {
                    "relation": "next",
                    "url": f"{self.base_url}/{kind}?{urlencode(query, doseq=True)}",
                }
            ]
        return bundle

    # ------------------------------------------------------------- lifecycle
    def start(self) -> FhirTestServer:
        app = Starlette(routes=[Route("/fhir/{path:path}", self._handle)])
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        config = uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,  # access lines would carry patient ids
            lifespan="off",
            timeout_graceful_shutdown=1,
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the FHIR test server did not start")
            time.sleep(0.01)
        self._server, self._thread, self._socket = server, thread, sock
        self.base_url = f"http://127.0.0.1:{port}/fhir"
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._socket is not None:
            self._socket.close()
        self._server = self._thread = self._socket = None

    def __enter__(self) -> FhirTestServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def run_fhir_server(data: FhirTestData, **options: Any) -> Iterator[FhirTestServer]:
    """Start a server for ``data`` (options: latency, page_size, required_token, ...)."""
    server = FhirTestServer(data, **options).start()
    try:
        yield server
    finally:
        server.stop()


FhirServerFactory = Callable[..., FhirTestServer]


@contextlib.contextmanager
def fhir_server_starter() -> Iterator[FhirServerFactory]:
    """``start(data, **options) -> FhirTestServer``; every server is stopped on exit.

    The pytest fixture ``fhir_server_factory`` (tests/service/conftest.py) wraps this;
    the module itself does not import pytest, so ``bench`` can reuse the server.
    """
    with contextlib.ExitStack() as stack:

        def start(data: FhirTestData, **options: Any) -> FhirTestServer:
            return stack.enter_context(run_fhir_server(data, **options))

        yield start


# --------------------------------------------------------------------- sample data

PATIENT_ID = "pat-1"


def sample_data(patient_id: str = PATIENT_ID) -> FhirTestData:
    """A small, plausible chart touching every slot of PREFETCH_TEMPLATES."""
    subject = {"reference": f"Patient/{patient_id}"}
    loinc = "http://loinc.org"

    def obs(ident: str, code: str, value: float, when: str) -> dict[str, Any]:
        return {
            "resourceType": "Observation",
            "id": ident,
            "status": "final",
            "code": {"coding": [{"system": loinc, "code": code}]},
            "subject": subject,
            "effectiveDateTime": when,
            "valueQuantity": {"value": value},
        }

    resources: list[dict[str, Any]] = [
        {"resourceType": "Patient", "id": patient_id, "birthDate": "1970-01-01"},
        {"resourceType": "Medication", "id": "med-oxy", "code": {"text": "oxycodone 5 mg"}},
        {
            "resourceType": "MedicationRequest",
            "id": "mr-1",
            "status": "active",
            "intent": "order",
            "subject": subject,
            "medicationReference": {"reference": "Medication/med-oxy"},
        },
        {
            "resourceType": "MedicationRequest",
            "id": "mr-2",
            "status": "entered-in-error",  # filtered out by the template's status=
            "intent": "order",
            "subject": subject,
        },
        {
            "resourceType": "MedicationRequest",
            "id": "mr-other",
            "status": "active",
            "intent": "order",
            "subject": {"reference": "Patient/someone-else"},
        },
        {
            "resourceType": "MedicationDispense",
            "id": "md-1",
            "status": "completed",
            "subject": subject,
            "medicationReference": {"reference": "Medication/med-oxy"},
        },
        obs("pain-1", "72514-3", 5, "2024-01-01"),
        obs("pain-2", "72514-3", 7, "2024-02-01"),
        obs("pain-3", "72514-3", 8, "2024-03-01"),
        obs("egfr-1", "98979-8", 55, "2024-02-15"),
        obs("bp-1", "85354-9", 120, "2024-02-15"),  # in neither code list
        {"resourceType": "Condition", "id": "cond-1", "subject": subject},
        {"resourceType": "Encounter", "id": "enc-1", "status": "finished", "subject": subject},
        {"resourceType": "Procedure", "id": "proc-1", "status": "completed", "subject": subject},
    ]
    return FhirTestData.from_resources(resources)


def hook_context(patient_id: str = PATIENT_ID) -> dict[str, Any]:
    return {"userId": "Practitioner/doc-1", "patientId": patient_id}


__all__ = [
    "PATIENT_ID",
    "FhirServerFactory",
    "FhirTestData",
    "FhirTestServer",
    "RecordedRequest",
    "build_prefetch",
    "fhir_server_starter",
    "hook_context",
    "run_fhir_server",
    "sample_data",
]
