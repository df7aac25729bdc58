"""Which FHIR servers a hook call may make us contact.

``fhirServer`` is chosen by the caller, so calling it blindly is an SSRF and PHI
exfiltration vector (docs/cds-hooks.md §2.4 item 19): a forged request could make the
service send an EHR's bearer token, or patient queries, anywhere. A server is therefore
called only when it lies under a configured base:

* with a bearer token: a base in ``OIH_FHIR_ALLOWLIST``;
* without one (the CDS Hooks Sandbox sends none): a base in ``OIH_FHIR_OPEN_ALLOWLIST``;
* and, when the caller's JWT issuer restricts FHIR servers, also one of those bases.

"Under" means same scheme, host and port, and a path equal to the base path or below it
on a ``/`` boundary: ``https://ehr/fhir`` allows ``https://ehr/fhir/R4`` but neither
``https://ehr/fhir-evil`` nor ``https://ehr.evil``. Anything ambiguous (credentials,
query, fragment, dot or encoded-slash segments) is refused rather than interpreted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from urllib.parse import SplitResult, unquote, urlsplit

from service.config import Settings

__all__ = [
    "FhirBase",
    "InvalidFhirBase",
    "ServerDecision",
    "check_fhir_server",
    "display_url",
    "parse_base",
    "url_is_under",
]

_DEFAULT_PORTS = {"http": 80, "https": 443}
_FORBIDDEN_CHARS = re.compile(r"[\s\\\x00-\x1f\x7f]")
_MAX_DISPLAY = 120


class InvalidFhirBase(ValueError):
    """A URL that cannot be compared safely with an allow-list entry."""


@dataclass(frozen=True, slots=True)
class FhirBase:
    """A FHIR base reduced to what the allow-list compares: scheme, host, port, path."""

    scheme: str
    host: str
    port: int
    path: str  # "" or "/fhir/R4": no trailing slash

    def contains(self, other: FhirBase) -> bool:
        """True when ``other`` is this base or lies below it on a path boundary."""
        if (self.scheme, self.host, self.port) != (other.scheme, other.host, other.port):
            return False
        return other.path == self.path or other.path.startswith(self.path + "/")

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        port = "" if _DEFAULT_PORTS[self.scheme] == self.port else f":{self.port}"
        return f"{self.scheme}://{host}{port}{self.path}"


def _split(url: str) -> SplitResult:
    if _FORBIDDEN_CHARS.search(url):
        raise InvalidFhirBase("it contains whitespace, control characters or backslashes")
    parts = urlsplit(url)
    if parts.scheme not in _DEFAULT_PORTS:
        raise InvalidFhirBase("it is not an http(s) URL")
    if parts.username is not None or parts.password is not None:
        raise InvalidFhirBase("it contains credentials")
    if not parts.hostname:
        raise InvalidFhirBase("it has no host")
    if parts.fragment:
        raise InvalidFhirBase("it has a fragment")
    return parts


def _base_of(parts: SplitResult) -> FhirBase:
    try:
        port = parts.port
    except ValueError:
        raise InvalidFhirBase("its port is invalid") from None
    path = parts.path.rstrip("/")
    for segment in path.split("/")[1:]:
        decoded = unquote(segment)
        if decoded in (".", "..") or "/" in decoded or "\\" in decoded:
            raise InvalidFhirBase("its path has dot or encoded-slash segments")
    assert parts.hostname is not None  # checked by _split
    return FhirBase(
        scheme=parts.scheme,
        host=parts.hostname,  # urlsplit lower-cases it
        port=port if port is not None else _DEFAULT_PORTS[parts.scheme],
        path=path,
    )


def parse_base(url: str) -> FhirBase:
    """Parse a FHIR base URL; raise :class:`InvalidFhirBase` saying why it is unusable."""
    parts = _split(url)
    if parts.query or url.endswith("?"):
        raise InvalidFhirBase("it has a query")
    return _base_of(parts)


def url_is_under(url: str, base: FhirBase) -> bool:
    """True when a full request URL (query allowed) stays under ``base``.

    Used for the URL the client is about to request and for ``next`` links, so neither
    a crafted id (``Patient/../..``) nor a server's paging link leaves the base.
    """
    try:
        return base.contains(_base_of(_split(url)))
    except InvalidFhirBase:
        return False


def display_url(url: str) -> str:
    """The caller's URL reduced to something safe to echo in a 412 or a log line."""
    try:
        shown = str(parse_base(url))
    except InvalidFhirBase:
        return "(an unusable URL)"
    return shown if len(shown) <= _MAX_DISPLAY else shown[: _MAX_DISPLAY - 1] + "…"


@dataclass(frozen=True, slots=True)
class ServerDecision:
    """Whether ``fhirServer`` may be called; ``reason`` is safe to show a CDS client."""

    allowed: bool
    reason: str = ""
    code: str = "allowed"  # stable, for logs and metrics: no URL in it


def _matches(candidate: FhirBase, entries: Iterable[str]) -> bool:
    for entry in entries:
        try:
            allowed = parse_base(entry)
        except InvalidFhirBase:
            continue  # a malformed entry allows nothing
        if allowed.contains(candidate):
            return True
    return False


def check_fhir_server(
    server: str | None,
    settings: Settings,
    *,
    with_token: bool,
    extra_allowed_servers: AbstractSet[str] | None = None,
) -> ServerDecision:
    """Decide whether ``server`` may be called, with or without a bearer token.

    ``extra_allowed_servers`` narrows, never widens: when given (e.g. the FHIR bases
    configured for the caller's JWT issuer), the server must match one of them too.
    """
    if not server:
        return ServerDecision(False, "no fhirServer was given", "no-server")
    try:
        candidate = parse_base(server)
    except InvalidFhirBase as exc:
        return ServerDecision(False, f"fhirServer cannot be used: {exc}", "invalid-server")
    shown = display_url(server)
    if with_token:
        if not _matches(candidate, settings.fhir_allowlist):
            return ServerDecision(
                False,
                f"fhirServer {shown} is not on the allow-list (OIH_FHIR_ALLOWLIST)",
                "not-allowlisted",
            )
    elif not _matches(candidate, settings.fhir_open_allowlist):
        return ServerDecision(
            False,
            f"no fhirAuthorization was given and fhirServer {shown} is not on the "
            "open allow-list (OIH_FHIR_OPEN_ALLOWLIST)",
            "not-open-allowlisted",
        )
    if extra_allowed_servers is not None and not _matches(candidate, extra_allowed_servers):
        return ServerDecision(
            False,
            f"fhirServer {shown} is not allowed for this client's issuer",
            "not-allowed-for-issuer",
        )
    return ServerDecision(True)
