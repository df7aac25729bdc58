"""One exception tree for everything a CDS client can get wrong.

Every error a request can cause is a :class:`CdsHooksError`. The service maps them
to HTTP in exactly one handler, always with a FHIR OperationOutcome body that says
what was wrong and where, never a stack trace::

    CdsHooksError
    ├── InvalidRequest            400  the body is not a valid hook request
    │   ├── MalformedJson         400  the body is not JSON at all
    │   └── UnsupportedFhirVersion 400 a DSTU2/STU3 resource where R4 is required
    ├── Unauthenticated           401  no or bad JWT (the reason is logged, not returned)
    ├── UnknownService            404  no CDS service with that id
    ├── PrefetchUnavailable       412  required data neither prefetched nor fetchable
    ├── PayloadTooLarge           413  body over the configured limit
    └── ServiceUnavailable        503  a dependency (the feedback store) is down: retry
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar


class CdsHooksError(Exception):
    """Base class: carries the HTTP status, the OperationOutcome issue code and a location."""

    status_code: ClassVar[int] = 400
    issue_code: ClassVar[str] = "invalid"

    def __init__(self, message: str, *, location: str | Sequence[str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        if location is None:
            self.locations: tuple[str, ...] = ()
        elif isinstance(location, str):
            self.locations = (location,)
        else:
            self.locations = tuple(location)

    def to_operation_outcome(self) -> dict[str, Any]:
        return operation_outcome(self.message, code=self.issue_code, locations=self.locations)


class InvalidRequest(CdsHooksError):
    status_code = 400
    issue_code = "invalid"


class MalformedJson(InvalidRequest):
    issue_code = "structure"


class UnsupportedFhirVersion(InvalidRequest):
    issue_code = "not-supported"


class Unauthenticated(CdsHooksError):
    """Authentication failed. ``reason`` is for logs and metrics only, never the response."""

    status_code = 401
    issue_code = "login"
    public_message: ClassVar[str] = "Authentication failed: a valid CDS Hooks JWT is required."

    def __init__(self, reason: str) -> None:
        super().__init__(self.public_message)
        self.reason = reason


class UnknownService(CdsHooksError):
    status_code = 404
    issue_code = "not-found"


class PrefetchUnavailable(CdsHooksError):
    """Required data could not be obtained (CDS Hooks 2.0 requires 412 here)."""

    status_code = 412
    issue_code = "incomplete"

    def __init__(
        self,
        message: str,
        *,
        missing: Sequence[str] = (),
        location: str | Sequence[str] | None = None,
    ) -> None:
        locs = location if location is not None else [f"prefetch.{key}" for key in missing]
        super().__init__(message, location=locs)
        self.missing = tuple(missing)


class PayloadTooLarge(CdsHooksError):
    status_code = 413
    issue_code = "too-long"


class ServiceUnavailable(CdsHooksError):
    status_code = 503
    issue_code = "transient"


def operation_outcome(
    message: str,
    *,
    code: str = "invalid",
    severity: str = "error",
    locations: Sequence[str] = (),
) -> dict[str, Any]:
    """A minimal FHIR R4 OperationOutcome with one issue.

    ``expression`` carries FHIRPath-like locations such as ``context.draftOrders.entry[0]``.
    """
    issue: dict[str, Any] = {"severity": severity, "code": code, "diagnostics": message}
    if locations:
        issue["expression"] = list(locations)
    return {"resourceType": "OperationOutcome", "issue": [issue]}
