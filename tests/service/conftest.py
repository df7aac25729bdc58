"""Fixtures for service tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.service.fhir_test_server import FhirServerFactory, fhir_server_starter


@pytest.fixture
def fhir_server_factory() -> Iterator[FhirServerFactory]:
    """``start(data, **options) -> FhirTestServer``; every server is stopped at teardown."""
    with fhir_server_starter() as start:
        yield start
