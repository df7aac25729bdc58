"""The discovery document (``GET /cds-services``)."""

from __future__ import annotations

from pydantic import Field

from cds_hooks.models import _Wire


class ServiceDefinition(_Wire):
    hook: str = Field(min_length=1)
    id: str = Field(min_length=1, pattern=r"^[a-z0-9][a-z0-9\-]*$")
    title: str | None = None
    description: str = Field(min_length=1)
    prefetch: dict[str, str] | None = None
    usageRequirements: str | None = None


class DiscoveryResponse(_Wire):
    services: tuple[ServiceDefinition, ...]
