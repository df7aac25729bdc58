"""The FHIR test server for the no-prefetch benchmark: the test suite's own, reused.

``tests/service/fhir_test_server.py`` serves one patient's resources over real HTTP on
127.0.0.1 with injected latency (``asyncio.sleep``, so concurrent queries overlap as on
a real server), and understands the searches of ``service.catalog.PREFETCH_TEMPLATES``.
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
    with _run_fhir_server(FhirTestData.from_resources(resources), latency=latency) as server:
        yield server
