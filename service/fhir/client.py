"""Read-only FHIR access for one hook call: a protocol and its httpx implementation.

One pooled ``httpx.AsyncClient`` serves the whole process (the app's lifespan creates
it with :func:`create_http_client` and closes it), so concurrent slot fetches reuse
connections instead of paying a TLS handshake each. The client never retries (a hook
has a hard deadline, and a retry inside it only makes the 412 later), never follows
redirects (a 3xx could point anywhere, token attached), and follows ``next`` links only
under the base it was asked to query.

Errors are typed and carry a short, fixed ``reason`` safe for a 412 body: never the URL
(it contains patient ids) nor the token. They are raised outside the ``except`` block
that caught the httpx error, so no ``__context__`` drags a request with its
``Authorization`` header into a traceback::

    FhirError
    ├── FhirRequestRefused      the URL would leave the base (bad id, foreign next link)
    ├── FhirHttpStatus          any answer other than 200 (401, 403, 404, 3xx, 5xx)
    ├── FhirTimeout             no full answer within the per-request timeout
    ├── FhirUnreachable         connection refused, DNS, TLS or protocol failure
    └── FhirInvalidResponse     not JSON, not a FHIR resource, too large, bad page
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Final, Protocol
from urllib.parse import urlsplit

import httpx
import orjson

from service.config import Settings
from service.fhir.allowlist import InvalidFhirBase, parse_base, url_is_under

__all__ = [
    "FHIR_JSON",
    "FhirClient",
    "FhirError",
    "FhirHttpStatus",
    "FhirInvalidResponse",
    "FhirRequestRefused",
    "FhirTimeout",
    "FhirUnreachable",
    "HttpxFhirClient",
    "create_http_client",
]

FHIR_JSON: Final = "application/fhir+json"
DEFAULT_MAX_RESPONSE_BYTES: Final = 32 * 1024 * 1024
_USER_AGENT: Final = "oih-cds"


# --------------------------------------------------------------------------- errors


class FhirError(Exception):
    """A FHIR call failed. ``reason`` completes "the slot could not be fetched: …"."""

    code: str = "error"  # short and stable: for logs and metrics

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class FhirRequestRefused(FhirError):
    code = "refused"


class FhirHttpStatus(FhirError):
    def __init__(self, status_code: int) -> None:
        hint = " (redirects are not followed)" if 300 <= status_code < 400 else ""
        super().__init__(f"the FHIR server answered {status_code}{hint}")
        self.status_code = status_code
        self.code = str(status_code)


class FhirTimeout(FhirError):
    code = "timeout"


class FhirUnreachable(FhirError):
    code = "unreachable"


class FhirInvalidResponse(FhirError):
    code = "invalid-response"


# ------------------------------------------------------------------------- protocol


class FhirClient(Protocol):
    """What :mod:`service.fhir.gather` needs: one read or search, pages merged."""

    async def search(self, base: str, relative_url: str, token: str | None) -> Any:
        """GET ``base/relative_url`` and return the decoded resource or merged Bundle.

        Raises :class:`FhirError` (only) when the data cannot be obtained.
        """
        ...


# ------------------------------------------------------------------ implementation


class _DropRequestLines(logging.Filter):
    """httpx logs every request URL at INFO; ours contain patient ids, so drop them."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("HTTP Request:")


_REQUEST_LINE_FILTER: Final = _DropRequestLines()


def create_http_client(settings: Settings) -> httpx.AsyncClient:
    """The one pooled client per process; the owner must ``await client.aclose()``.

    HTTP/1.1 (no h2 dependency; a few parallel connections per hook are cheap), no
    redirects, and every phase bounded by the per-request timeout, including the wait
    for a pooled connection, so a saturated pool fails fast instead of eating the
    hook deadline.
    """
    logging.getLogger("httpx").addFilter(_REQUEST_LINE_FILTER)  # idempotent: same object
    timeout = settings.fhir_request_timeout_seconds
    return httpx.AsyncClient(
        http1=True,
        http2=False,
        follow_redirects=False,
        timeout=httpx.Timeout(timeout, pool=timeout),
        limits=httpx.Limits(
            max_connections=100, max_keepalive_connections=20, keepalive_expiry=30.0
        ),
        headers={"Accept": FHIR_JSON, "User-Agent": _USER_AGENT},
    )


class HttpxFhirClient:
    """:class:`FhirClient` over a shared ``httpx.AsyncClient`` (which it does not own)."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        request_timeout_seconds: float = 1.0,
        max_pages: int = 5,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> None:
        self._http = http
        self._timeout = request_timeout_seconds
        self._max_pages = max_pages
        self._max_bytes = max_response_bytes

    @classmethod
    def from_settings(cls, http: httpx.AsyncClient, settings: Settings) -> HttpxFhirClient:
        return cls(
            http,
            request_timeout_seconds=settings.fhir_request_timeout_seconds,
            max_pages=settings.fhir_max_pages,
        )

    async def search(self, base: str, relative_url: str, token: str | None) -> Any:
        """Read or search; for a Bundle, follow same-base ``next`` links up to the limit.

        The merged Bundle keeps the first page's fields and every page's entries. If the
        page limit stopped paging, it keeps the unfollowed ``next`` link, so the caller
        can tell that the result is truncated.
        """
        try:
            allowed = parse_base(base)
        except InvalidFhirBase as exc:
            raise FhirRequestRefused(f"the FHIR base cannot be used: {exc}") from None
        parts = urlsplit(relative_url)
        if parts.scheme or parts.netloc or relative_url.startswith("/"):
            raise FhirRequestRefused("the query is not relative to the FHIR base")
        url = str(httpx.URL(f"{allowed}/{relative_url}"))
        if not url_is_under(url, allowed):
            raise FhirRequestRefused("the query would leave the FHIR base")
        headers = {"Accept": FHIR_JSON}
        if token:
            headers["Authorization"] = f"Bearer {token}"

        first = await self._get(url, headers)
        if first.get("resourceType") != "Bundle":
            return first
        entries = list(_entries(first))
        next_url = _next_link(first, url)
        pages = 1
        while next_url is not None and pages < self._max_pages:
            if not url_is_under(next_url, allowed):
                raise FhirRequestRefused(
                    "the FHIR server's next link points outside its base; not followed"
                )
            page = await self._get(next_url, headers)
            if page.get("resourceType") != "Bundle":
                raise FhirInvalidResponse("a next page of the search was not a Bundle")
            entries.extend(_entries(page))
            next_url = _next_link(page, next_url)
            pages += 1
        return _merge(first, entries, truncated_at=next_url)

    async def _get(self, url: str, headers: dict[str, str]) -> dict[str, Any]:
        """One GET: 200 and a JSON object with a resourceType, or a typed error."""
        failure: FhirError | None = None
        status = 0
        body = b""
        try:
            # httpx's timeouts bound each phase; this bounds the whole exchange, so a
            # server that drips bytes cannot stretch one request past its budget.
            async with asyncio.timeout(self._timeout):
                async with self._http.stream("GET", url, headers=headers) as response:
                    status = response.status_code
                    if status == 200:
                        body = await self._read_capped(response)
        except _TooLarge:
            failure = FhirInvalidResponse("the FHIR server's answer was too large")
        except (TimeoutError, httpx.TimeoutException):
            failure = FhirTimeout(f"the FHIR server did not answer within {self._timeout:g} s")
        except httpx.TransportError:
            failure = FhirUnreachable("the FHIR server could not be reached")
        except httpx.HTTPError:
            failure = FhirUnreachable("the FHIR request failed")
        if failure is not None:
            raise failure  # outside the except block: no chained httpx request/headers
        if status != 200:
            raise FhirHttpStatus(status)
        return _decode(body)

    async def _read_capped(self, response: httpx.Response) -> bytes:
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > self._max_bytes:
                raise _TooLarge
            chunks.append(chunk)
        return b"".join(chunks)


class _TooLarge(Exception):
    pass


def _decode(body: bytes) -> dict[str, Any]:
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        value = None
    if not isinstance(value, dict):
        raise FhirInvalidResponse("the FHIR server did not answer with a JSON object")
    if not isinstance(value.get("resourceType"), str):
        raise FhirInvalidResponse("the FHIR server's answer has no resourceType")
    return value


def _entries(bundle: dict[str, Any]) -> list[Any]:
    entries = bundle.get("entry")
    return entries if isinstance(entries, list) else []


def _next_link(bundle: dict[str, Any], current_url: str) -> str | None:
    """The absolute ``next`` URL, resolving a (non-conformant) relative one."""
    links = bundle.get("link")
    if not isinstance(links, list):
        return None
    for link in links:
        if isinstance(link, dict) and link.get("relation") == "next":
            href = link.get("url")
            if isinstance(href, str) and href:
                return str(httpx.URL(current_url).join(href))
    return None


def _merge(first: dict[str, Any], entries: list[Any], *, truncated_at: str | None) -> Any:
    merged = {k: v for k, v in first.items() if k not in ("entry", "link")}
    links = [
        link
        for link in first.get("link") or []
        if not (isinstance(link, dict) and link.get("relation") == "next")
    ]
    if truncated_at is not None:
        links.append({"relation": "next", "url": truncated_at})
    if links:
        merged["link"] = links
    if entries:
        merged["entry"] = entries
    return merged
