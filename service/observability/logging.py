"""Structured JSON logs: one line per request, keyed by hookInstance.

Only allow-listed fields reach the log line of a request, so a patient identifier or a
token cannot slip in by accident; the formatter also scrubs anything that looks like a
bearer token or JWT from free-text messages as a second line of defence.
"""

from __future__ import annotations

import logging
import re
import sys
import time
from typing import Any

from pythonjsonlogger.json import JsonFormatter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.observability.metrics import Metrics

access_log = logging.getLogger("oih_cds.access")

_JWT = re.compile(r"eyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*")
_BEARER = re.compile(r"(?i)bearer\s+[A-Za-z0-9_\-.~+/=]+")

#: Fields a handler may attach to its request's log line (``request.state.log_fields``).
LOG_FIELDS = frozenset(
    {
        "hookInstance",
        "service",
        "hook",
        "cards",
        "topics",
        "gaps",
        "fetched",
        "iss",
        "tenant",
        "jti",
        "feedbackItems",
        "feedbackStored",
        "error",
    }
)


class ScrubbingJsonFormatter(JsonFormatter):
    """JSON lines whose message text never carries a JWT or bearer token."""

    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        log_data.pop("color_message", None)  # uvicorn's ANSI-coloured duplicate of message
        for key, value in list(log_data.items()):
            if isinstance(value, str):
                log_data[key] = scrub(value)
        return log_data


def scrub(text: str) -> str:
    return _BEARER.sub("Bearer [redacted]", _JWT.sub("[redacted-jwt]", text))


def configure_logging(level: str) -> None:
    """Send every logger (uvicorn's too) through one JSON handler on stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        ScrubbingJsonFormatter(
            "{asctime}{levelname}{name}{message}",
            style="{",
            datefmt="%Y-%m-%dT%H:%M:%S%z",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    logging.getLogger("httpx").setLevel(logging.WARNING)  # its INFO lines carry full URLs


class AccessLog:
    """One log line and the request metrics per HTTP request."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            self._record(scope, status, time.perf_counter() - started)

    def _record(self, scope: Scope, status: int, seconds: float) -> None:
        route = _route_template(scope)
        method = str(scope.get("method", ""))
        self.metrics.requests.labels(route, method, str(status)).inc()
        state = scope.get("state") or {}
        fields = state.get("log_fields") or {}
        extra: dict[str, Any] = {k: v for k, v in fields.items() if k in LOG_FIELDS}
        service = fields.get("service")
        if service and route.startswith("/cds-services/{service_id}") and method == "POST":
            self.metrics.hook_latency.labels(service, str(status)).observe(seconds)
        extra.update(method=method, route=route, status=status, durationMs=round(seconds * 1000, 2))
        level = logging.WARNING if status >= 500 else logging.INFO
        access_log.log(level, "request", extra=extra)


def _route_template(scope: Scope) -> str:
    """The route pattern (``/cds-services/{service_id}``), never the raw path."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path
    return "unmatched"
