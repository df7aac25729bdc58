"""Pure ASGI middleware: a request-body size limit and a last-resort error boundary.

Both sit inside the CORS middleware, so even a 413 or an unexpected 500 carries the
CORS headers a browser client (the CDS Hooks Sandbox) needs to show the error.
"""

from __future__ import annotations

import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cds_hooks.errors import PayloadTooLarge, operation_outcome
from service.http.responses import operation_outcome_response

log = logging.getLogger("oih_cds.errors")


class BodySizeLimit:
    """Refuse bodies over ``max_bytes`` with 413, by header or while streaming."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > self.max_bytes:
                    await self._reject(scope, receive, send)
                    return
        received = 0
        limit = self.max_bytes

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise PayloadTooLarge(self._message())
            return message

        await self.app(scope, limited_receive, send)

    def _message(self) -> str:
        return (
            f"request body is larger than the limit of {self.max_bytes} bytes (OIH_MAX_BODY_BYTES)"
        )

    async def _reject(self, scope: Scope, receive: Receive, send: Send) -> None:
        error = PayloadTooLarge(self._message())
        response = operation_outcome_response(413, error.to_operation_outcome())
        await response(scope, receive, send)


class ErrorBoundary:
    """Turn anything unexpected into a 500 OperationOutcome without internals."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            log.exception("unhandled error", extra={"path": scope.get("path")})
            if started:
                raise
            body = operation_outcome(
                "internal error: the request could not be processed; it has been logged",
                code="exception",
                severity="fatal",
            )
            await operation_outcome_response(500, body)(scope, receive, send)
