"""Generate the committed ``openapi/openapi.json`` from the app itself."""

from __future__ import annotations

from typing import Any

from service.config import AuthMode, Settings
from service.main import create_app


def generate_openapi() -> dict[str, Any]:
    # The document must not depend on the machine's environment: pin what shapes it.
    settings = Settings(auth_mode=AuthMode.DISABLED, sandbox_enabled=True, _env_file=None)
    return create_app(settings).openapi()
