"""Collect the FHIR data one hook call needs: prefetch first, the FHIR server second, 412 last.

Per prefetch slot (docs/cds-hooks.md §2.4): a resource or Bundle is used as sent;
``null`` means "no data" and is never fetched; an OperationOutcome (or a Bundle of
error outcomes) or a missing key is fetched from ``fhirServer``. All fetches run
concurrently under one deadline, so a slow server costs at most the deadline, never a
hung request. A required slot that is still missing raises :class:`PrefetchUnavailable`
(412) naming every missing slot and why; an optional one becomes a note.

The server is contacted only if :func:`check_fhir_server` allows it, and only after
every required slot is known to be fetchable, so a request that will end in 412 anyway
sends nothing. Logs carry slot names, status codes and durations: never URLs (they hold
patient ids) or tokens.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any

from cds_hooks.errors import PrefetchUnavailable
from cds_hooks.models import CDSRequest
from cds_hooks.prefetch import SlotState, UnresolvableToken, classify_slot, render_template
from service.config import Settings
from service.fhir.allowlist import check_fhir_server
from service.fhir.client import FhirClient, FhirError

__all__ = ["GatherResult", "gather"]

logger = logging.getLogger(__name__)


#: Told about every FHIR query once it ends: slot, milliseconds, and an error code
#: (``"500"``, ``"timeout"``, ``"deadline"``...) or None on success. For metrics.
FetchObserver = Callable[[str, float, str | None], None]


@dataclass(frozen=True, slots=True)
class GatherResult:
    """The data for one hook call, with what it cost and what is missing.

    ``slots`` holds every slot that has an answer: the decoded resource or Bundle, or
    ``None`` where the client said there is no data. An optional slot that could not be
    obtained is absent from ``slots``, listed in ``skipped`` and explained in ``notes``.
    """

    slots: dict[str, Any]
    fetched: tuple[str, ...] = ()  # slots obtained over HTTP, in template order
    notes: tuple[str, ...] = ()  # human-readable, slot names and reasons only
    timings: dict[str, float] = field(default_factory=dict)  # ms per attempted fetch
    skipped: tuple[str, ...] = ()  # optional slots without data (reason in notes)


@dataclass(frozen=True, slots=True)
class _Failed:
    reason: str
    code: str


async def gather(
    request: CDSRequest,
    templates: Mapping[str, str],
    required: AbstractSet[str],
    client: FhirClient,
    settings: Settings,
    *,
    extra_allowed_servers: AbstractSet[str] | None = None,
    on_fetch: FetchObserver | None = None,
) -> GatherResult:
    """Resolve every slot of ``templates`` for ``request``; raise 412 if a required one fails.

    ``extra_allowed_servers`` (e.g. the FHIR bases of the caller's JWT issuer) can only
    narrow the configured allow-lists.
    """
    slots: dict[str, Any] = {}
    notes: list[str] = []
    failures: dict[str, str] = {}
    to_fetch: dict[str, str] = {}
    context = request.context

    for name in [k for k in required if k not in templates]:
        failures[name] = "no prefetch template is defined for it"
    for name, template in templates.items():
        state = classify_slot(request.prefetch, name)
        if state is SlotState.PRESENT:
            slots[name] = request.prefetch[name] if request.prefetch else None
            continue
        if state is SlotState.NULL:
            slots[name] = None
            continue
        try:
            to_fetch[name] = render_template(template, context)
        except UnresolvableToken as exc:
            failures[name] = f"its query needs {exc}, which this request does not provide"
            continue
        if state is SlotState.FAILED:
            notes.append(f"{name}: the prefetched value was an error, so the FHIR server was asked")

    token = request.fhirAuthorization.access_token if request.fhirAuthorization else None
    if to_fetch and not (required & failures.keys()):
        decision = check_fhir_server(
            request.fhirServer,
            settings,
            with_token=token is not None,
            extra_allowed_servers=extra_allowed_servers,
        )
        if not decision.allowed:
            logger.warning("fhir server refused code=%s slots=%d", decision.code, len(to_fetch))
            failures.update(dict.fromkeys(to_fetch, decision.reason))
            to_fetch = {}
    elif to_fetch:
        # A required slot is already unobtainable: the answer is 412 whatever we fetch.
        failures.update(
            dict.fromkeys(to_fetch, "not fetched, as other required data is unavailable")
        )
        to_fetch = {}

    timings: dict[str, float] = {}
    if to_fetch:
        assert request.fhirServer is not None  # check_fhir_server refused otherwise
        results = await _fetch_all(
            request.fhirServer, to_fetch, token, client, settings, timings, on_fetch
        )
        for name in to_fetch:
            outcome = results[name]
            if isinstance(outcome, _Failed):
                failures[name] = outcome.reason
            else:
                slots[name] = outcome
                if _is_truncated(outcome):
                    notes.append(
                        f"{name}: more than {settings.fhir_max_pages} pages; "
                        "only the first ones were read"
                    )

    missing = [
        name for name in _ordered(templates, required) if name in failures and name in required
    ]
    if missing:
        raise PrefetchUnavailable(_missing_message(missing, failures), missing=missing)
    skipped = tuple(name for name in templates if name in failures)
    notes.extend(f"{name}: not available ({failures[name]})" for name in skipped)
    return GatherResult(
        slots=slots,
        fetched=tuple(name for name in templates if name in to_fetch and name in slots),
        notes=tuple(notes),
        timings=timings,
        skipped=skipped,
    )


async def _fetch_all(
    base: str,
    queries: Mapping[str, str],
    token: str | None,
    client: FhirClient,
    settings: Settings,
    timings: dict[str, float],
    on_fetch: FetchObserver | None,
) -> dict[str, Any]:
    """Fetch every slot concurrently; a slot unanswered at the deadline becomes a failure."""
    results: dict[str, Any] = {}

    async def fetch(name: str, relative_url: str) -> None:
        started = time.perf_counter()
        code = "cancelled"
        try:
            body = await client.search(base, relative_url, token)
        except FhirError as exc:
            code = exc.code
            results[name] = _Failed(exc.reason, exc.code)
        except Exception as exc:  # a FhirClient bug must not become a 500 with a URL in it
            code = "client-bug"
            logger.error("fhir client failed slot=%s error=%s", name, type(exc).__name__)
            results[name] = _Failed("the FHIR request failed unexpectedly", code)
        else:
            if classify_slot({name: body}, name) is SlotState.FAILED:
                code = "operation-outcome"
                results[name] = _Failed("the FHIR server answered with an OperationOutcome", code)
            else:
                code = "200"
                results[name] = body
        finally:
            elapsed = (time.perf_counter() - started) * 1000
            timings[name] = round(elapsed, 1)
            if code != "cancelled":
                logger.info("fhir fetch slot=%s status=%s ms=%.0f", name, code, elapsed)
                if on_fetch is not None:
                    on_fetch(name, elapsed, None if code == "200" else code)

    deadline = settings.hook_deadline_seconds
    try:
        async with asyncio.timeout(deadline), asyncio.TaskGroup() as group:
            for name, relative_url in queries.items():
                group.create_task(fetch(name, relative_url))
    except TimeoutError:
        late = [name for name in queries if name not in results]
        logger.warning("fhir fetch deadline passed slots=%s", ",".join(late))
        for name in late:
            results[name] = _Failed(
                f"the FHIR server did not answer within the {deadline:g} s deadline", "deadline"
            )
            if on_fetch is not None:
                on_fetch(name, deadline * 1000, "deadline")
    return results


def _is_truncated(body: Any) -> bool:
    links = body.get("link") if isinstance(body, dict) else None
    return isinstance(links, list) and any(
        isinstance(link, dict) and link.get("relation") == "next" for link in links
    )


def _ordered(templates: Mapping[str, str], required: AbstractSet[str]) -> list[str]:
    return [*templates, *sorted(required - templates.keys())]


def _missing_message(missing: list[str], failures: Mapping[str, str]) -> str:
    """ "Required data is unavailable: a, b: <reason>; c: <reason>", grouped by reason."""
    by_reason: dict[str, list[str]] = {}
    for name in missing:
        by_reason.setdefault(failures[name], []).append(name)
    parts = [f"{', '.join(names)}: {reason}" for reason, names in by_reason.items()]
    return "Required prefetch data is unavailable: " + "; ".join(parts)
