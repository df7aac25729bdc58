"""JSON responses serialised once with orjson (fast, and never re-validated)."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response


class JsonResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def operation_outcome_response(status_code: int, body: dict[str, Any]) -> JsonResponse:
    return JsonResponse(body, status_code=status_code)
