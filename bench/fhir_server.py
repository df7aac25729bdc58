"""A FHIR test server for the no-prefetch benchmark, with injected latency.

A trimmed copy of ``tests/service/fhir_test_server.py`` (which imports pytest, and bench
must not): Starlette under uvicorn in a background thread on ``127.0.0.1`` and a free
port, serving one patient's resources. It understands the searches in
``service.catalog.PREFETCH_TEMPLATES``: instance read, ``patient=``, ``code=``
(``system|code``), ``status=``, ``_include=<Type>:medication`` and ``_count`` paging.
Every answer is delayed by ``latency`` seconds (``asyncio.sleep``, so concurrent
queries overlap, as they would on a real server).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

FHIR_JSON = "application/fhir+json"


def _values(params: Mapping[str, Sequence[str]], name: str) -> list[str]:
    return [v for raw in params.get(name, ()) for v in raw.split(",") if v]


def _matches(resource: Mapping[str, Any], params: Mapping[str, Sequence[str]]) -> bool:
    for name in ("patient", "subject"):
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
        have = {
            (c.get("system"), c.get("code"))
            for c in (resource.get("code") or {}).get("coding") or []
        }
        for token in codes:
            system, _, code = token.rpartition("|")
            if (system, code) in have or (not system and any(c == code for _, c in have)):
                break
        else:
            return False
    return True


@dataclass
class BenchFhirServer:
    """One patient's resources behind a real HTTP server; use as a context manager."""

    resources: Sequence[Mapping[str, Any]]
    latency: float = 0.05
    requests: int = 0
    base_url: str = ""
    _by_type: dict[str, list[Mapping[str, Any]]] = field(default_factory=dict, repr=False)
    _server: uvicorn.Server | None = field(default=None, init=False, repr=False)
    _thread: threading.Thread | None = field(default=None, init=False, repr=False)
    _socket: socket.socket | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        for resource in self.resources:
            self._by_type.setdefault(str(resource["resourceType"]), []).append(resource)

    def _read(self, kind: str, ident: str) -> Mapping[str, Any] | None:
        return next((r for r in self._by_type.get(kind, []) if r.get("id") == ident), None)

    async def _handle(self, request: Request) -> Response:
        self.requests += 1
        if self.latency:
            await asyncio.sleep(self.latency)
        kind, _, ident = request.path_params["path"].strip("/").partition("/")
        if ident:
            resource = self._read(kind, ident)
            if resource is None:
                return Response(b'{"resourceType":"OperationOutcome"}', 404, media_type=FHIR_JSON)
            return Response(orjson.dumps(resource), media_type=FHIR_JSON)
        params = parse_qs(request.url.query)
        matches = [r for r in self._by_type.get(kind, []) if _matches(r, params)]
        included: list[Mapping[str, Any]] = []
        if any(v.endswith(":medication") for v in _values(params, "_include")):
            for r in matches:
                ref = (r.get("medicationReference") or {}).get("reference", "")
                med = self._read("Medication", ref.rpartition("/")[2]) if ref else None
                if med is not None and med not in included:
                    included.append(med)
        count = int(params.get("_count", ["0"])[0] or 0) or len(matches) or 1
        offset = int(params.get("_offset", ["0"])[0])
        page = matches[offset : offset + count]
        last = offset + count >= len(matches)
        entries = [self._entry(r, "match") for r in page]
        entries += [self._entry(r, "include") for r in (included if last else [])]
        bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset"}
        bundle["total"] = len(matches)
        if not last:
            query = {k: v for k, v in params.items() if k != "_offset"}
            query["_offset"] = [str(offset + count)]
            url = f"{self.base_url}/{kind}?{urlencode(query, doseq=True)}"
            bundle["link"] = [{"relation": "next", "url": url}]
        if entries:
            bundle["entry"] = entries
        return Response(orjson.dumps(bundle), media_type=FHIR_JSON)

    def _entry(self, resource: Mapping[str, Any], mode: str) -> dict[str, Any]:
        return {
            "fullUrl": f"{self.base_url}/{resource['resourceType']}/{resource['id']}",
            "resource": resource,
            "search": {"mode": mode},
        }

    def start(self) -> BenchFhirServer:
        app = Starlette(routes=[Route("/fhir/{path:path}", self._handle)])
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        config = uvicorn.Config(
            app, log_level="warning", access_log=False, lifespan="off", timeout_graceful_shutdown=1
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                sock.close()
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


@contextlib.contextmanager
def run_fhir_server(
    resources: Sequence[Mapping[str, Any]], *, latency: float = 0.05
) -> Iterator[BenchFhirServer]:
    server = BenchFhirServer(resources, latency=latency).start()
    try:
        yield server
    finally:
        server.stop()
