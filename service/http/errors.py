"""Map every error to an HTTP answer with a FHIR OperationOutcome, in one place.

Input problems are :class:`cds_hooks.errors.CdsHooksError` subclasses and keep their
status; framework errors (unknown route, wrong method, FastAPI validation) are mapped
to the same body shape; anything unexpected is a 500 whose body says nothing about
the internals (the log has the traceback, keyed by request, without PHI).
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from cds_hooks.errors import CdsHooksError, Unauthenticated, operation_outcome
from service.http.responses import operation_outcome_response

log = logging.getLogger("oih_cds.errors")

_HTTP_ISSUE_CODES = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    406: "not-supported",
    413: "too-long",
    415: "not-supported",
}


async def cds_hooks_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, CdsHooksError)
    if not isinstance(exc, Unauthenticated):  # service.auth logs why a JWT was rejected
        log.info(
            "request rejected",
            extra={"status": exc.status_code, "issue": exc.issue_code, "path": request.url.path},
        )
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthenticated) else None
    response = operation_outcome_response(exc.status_code, exc.to_operation_outcome())
    if headers:
        response.headers.update(headers)
    return response


async def http_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_ISSUE_CODES.get(exc.status_code, "processing")
    message = str(exc.detail) if exc.detail else "request failed"
    if exc.status_code == 404:
        message = f"no such endpoint: {request.method} {request.url.path}"
    response = operation_outcome_response(exc.status_code, operation_outcome(message, code=code))
    if exc.headers:
        response.headers.update(exc.headers)
    return response


async def validation_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    parts = []
    locations = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err.get("loc", ()))
        locations.append(loc)
        parts.append(f"{loc}: {err.get('msg')}")
    body = operation_outcome("; ".join(parts) or "invalid request", locations=locations)
    return operation_outcome_response(400, body)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(CdsHooksError, cds_hooks_error_handler)
    app.add_exception_handler(StarletteHTTPException, http_error_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)


__all__ = ["install_error_handlers"]
