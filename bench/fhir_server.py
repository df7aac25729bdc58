"""The FHIR test server for the no-prefetch benchmark: the test suite's own, reused.

``tests/service/fhir_test_server.py`` serves one patient's resources over real HTTP on
127.0.0.1 with injected latency (``asyncio.sleep``, so concurrent queries overlap as on
a real server), and understands the searches of ``service.catalog.PREFETCH_TEMPLATES``.

The benchmark turns on ``cache_responses``: the data never change, so each query is
answered from the body encoded the first time. Otherwise the server's own linear search
and JSON encoding (1-2.5 ms a query for the typical record, one query after another in
its single thread) would be added to the 50 ms it is meant to cost, and measured as if it
were the service's. In practice this changed the FHIR-path figure little.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from tests.service.fhir_test_server import FhirTestData, FhirTestServer
from tests.service.fhir_test_server import run_fhir_server as _run_fhir_server


@contextlib.contextmanager
def run_fhir_server(
    resources: Sequence[Mapping[str, Any]], *, latency: float = 0.05
) -> Iterator[FhirTestServer]:
    data = FhirTestData.from_resources(resources)
    with _run_fhir_server(data, latency=latency, cache_responses=True) as server:
        yield server
