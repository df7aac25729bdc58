"""The sandbox page and its small JSON API (``/sandbox``, ``/sandbox/api/*``).

The API only *prepares* what an EHR would hold: the scenario list, an opioid picker,
a chart preview and complete CDS Hooks request bodies. The page then calls the real
``/cds-services`` endpoints from the browser exactly as an EHR would, so what the
integration engineer sees is the service's real behaviour, not a re-implementation.
Scenario dates are relative, so every body is built "as of" the service's own clock.
"""

from __future__ import annotations

from datetime import date, timedelta
from importlib import resources
from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.responses import Response

from cds_hooks.errors import InvalidRequest, UnknownService
from rules.assessment import patient_mme_for
from service.http.responses import JsonResponse
from service.normalize.timeline import build_timeline
from service.patient_key import namespace
from service.scenarios import (
    HOOKS,
    Scenario,
    build_prefetch,
    build_request,
    drugs,
    expand,
    list_scenarios,
    load_scenario,
)

router = APIRouter(include_in_schema=False)

#: Files the page may load from ``/sandbox/static``; anything else is a 404.
STATIC_FILES: dict[str, str] = {
    "sandbox.css": "text/css; charset=utf-8",
    "sandbox.js": "text/javascript; charset=utf-8",
    "markdown.js": "text/javascript; charset=utf-8",
    "chart.js": "text/javascript; charset=utf-8",
}

#: Nothing on the page comes from elsewhere: no CDN, fonts or frames (and no inline script).
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}

#: Dose units the draft editor offers, per dispensed unit of the product.
_DOSE_UNITS: dict[str, list[str]] = {
    "tablet": ["tab", "mg"],
    "capsule": ["cap", "mg"],
    "patch": ["patch"],
    "film": ["film"],
    "mL": ["mL", "mg"],
    "device": ["spray"],
}
#: Frequencies in the scenario language (``count/period unit``) with clinician labels.
FREQUENCIES: list[dict[str, str]] = [
    {"code": "1/d", "label": "once a day"},
    {"code": "2/d", "label": "twice a day (every 12 h)"},
    {"code": "3/d", "label": "3 times a day (every 8 h)"},
    {"code": "4/d", "label": "4 times a day (every 6 h)"},
    {"code": "6/d", "label": "6 times a day (every 4 h)"},
    {"code": "1/72h", "label": "every 72 hours (patch)"},
    {"code": "1/48h", "label": "every 48 hours"},
]


def _read_static(name: str) -> bytes:
    return resources.files("service.sandbox").joinpath("static", name).read_bytes()


def _as_of(request: Request) -> date:
    """Day 0 of every scenario: the service's own clock, so the pipeline agrees."""
    return request.app.state.runtime.clock().date()


def _scenario(name: str) -> Scenario:
    try:
        return load_scenario(name)
    except KeyError:
        raise UnknownService(f"no scenario called {name!r}; see /sandbox/api/scenarios") from None


# --------------------------------------------------------------------------- page


@router.get("/sandbox")
async def page() -> Response:
    return Response(_read_static("index.html"), media_type="text/html", headers=_PAGE_HEADERS)


@router.get("/sandbox/static/{name}")
async def static(name: str) -> Response:
    media_type = STATIC_FILES.get(name)
    if media_type is None:
        raise UnknownService(f"no sandbox file called {name!r}")
    headers = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"}
    return Response(_read_static(name), media_type=media_type, headers=headers)


# --------------------------------------------------------------------------- catalogue


def _compact_order(order: Any) -> dict[str, Any]:
    """An OrderSpec as the draft editor holds it (scenario-language fields only)."""
    out: dict[str, Any] = {"drug": order.drug, "days": order.days, "prn": order.prn}
    if order.dose is not None:
        out["dose"] = order.dose
        out["freq"] = order.freq
    return out


def _suggested_draft(scenario: Scenario) -> dict[str, Any] | None:
    """The scenario's draft, else a renewal of its latest structured opioid regimen."""
    if scenario.draft is not None:
        return _compact_order(scenario.draft)
    table = drugs()
    for order in reversed(scenario.orders):
        info = table.get(order.drug)
        if info is not None and info.kind == "opioid" and order.dose is not None:
            return _compact_order(order) | {"days": 30}
    return None


@router.get("/sandbox/api/scenarios")
async def scenarios() -> Response:
    items = []
    for info in list_scenarios():
        scenario = load_scenario(info.name)
        items.append(
            {
                "name": info.name,
                "title": info.title,
                "story": info.story,
                "tags": list(info.tags),
                "hook": info.hook,
                "hooks": list(scenario.hooks),
                "expect": info.expect,
                "hasDraft": scenario.draft is not None,
                "age": scenario.age,
                "sex": scenario.sex,
            }
        )
    return JsonResponse({"scenarios": items})


@router.get("/sandbox/api/drugs")
async def opioid_drugs() -> Response:
    """Opioid products of the scenario library's drug table (RxNorm clinical drugs)."""
    items = [
        {
            "key": key,
            "rxcui": info.rxcui,
            "display": info.display,
            "ingredient": info.ingredient,
            "strength": info.strength,
            "unit": info.unit,
            "route": info.route,
            "doseUnits": _DOSE_UNITS[info.unit],
        }
        for key, info in drugs().items()
        if info.kind == "opioid"
    ]
    items.sort(key=lambda d: (d["ingredient"], d["display"]))
    return JsonResponse({"drugs": items, "frequencies": FREQUENCIES})


# --------------------------------------------------------------------------- builders


class DraftOrder(BaseModel):
    """A draft written in the scenario language (``{drug, dose, freq, days}``)."""

    model_config = ConfigDict(extra="forbid")

    drug: str = Field(min_length=1, max_length=80)
    dose: str = Field(min_length=1, max_length=40)
    freq: str = Field(min_length=1, max_length=20)
    days: int = Field(30, ge=1, le=365)
    prn: bool = False


class PreviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scenario: str = Field(min_length=1, max_length=80)
    draft: DraftOrder | None = None  # null: the chart shows no draft


class RequestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scenario: str = Field(min_length=1, max_length=80)
    hook: Literal["order-sign", "order-select", "patient-view"] = "order-sign"
    draft: DraftOrder | None = None  # null: the scenario's own draft
    withoutDraft: bool = False  # order-sign with an empty draftOrders Bundle
    prefetch: bool = True
    fhirServer: str | None = Field(None, max_length=500)


def _draft_override(draft: DraftOrder | None) -> dict[str, Any] | None:
    if draft is None:
        return None
    if draft.drug not in drugs():
        raise InvalidRequest(f"unknown drug {draft.drug!r}; see /sandbox/api/drugs")
    return draft.model_dump()


def _build(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Call a scenario builder, turning its input errors into a 400 OperationOutcome."""
    try:
        return fn(*args, **kwargs)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'draft'}: "
            f"{str(err['msg']).removeprefix('Value error, ')}"
            for err in exc.errors()
        )
        raise InvalidRequest(f"invalid draft order: {problems}", location="draft") from None
    except (KeyError, ValueError) as exc:
        message = exc.args[0] if exc.args else str(exc)
        raise InvalidRequest(str(message)) from None


@router.post("/sandbox/api/request")
async def hook_request(body: RequestIn, request: Request) -> Response:
    """A complete CDS Hooks request for the scenario, as an EHR would send it."""
    scenario = _scenario(body.scenario)
    if body.hook not in HOOKS:  # pragma: no cover - guarded by the Literal
        raise InvalidRequest(f"unsupported hook {body.hook!r}")
    override: dict[str, Any] | None = _draft_override(body.draft)
    if body.withoutDraft:
        if body.hook == "order-select":
            raise InvalidRequest("order-select needs a draft order to select")
        override = {"resourceType": "Bundle", "entry": []}
    built = _build(
        build_request,
        scenario,
        body.hook,
        _as_of(request),
        draft_override=override,
        prefetch=body.prefetch,
        fhir_server=body.fhirServer,
    )
    return JsonResponse(built)


def _steps(daily: dict[date, float]) -> list[dict[str, Any]]:
    """A dense per-day series reduced to the days its value changes (a step line)."""
    out: list[dict[str, Any]] = []
    last: float | None = None
    days = sorted(daily)
    for day in days:
        value = round(daily[day], 1)
        if value != last:
            out.append({"date": day.isoformat(), "mmePerDay": value})
            last = value
    if days and (not out or out[-1]["date"] != days[-1].isoformat()):
        out.append({"date": days[-1].isoformat(), "mmePerDay": round(daily[days[-1]], 1)})
    return out


def _patient_banner(prefetch: dict[str, Any], scenario: Scenario) -> dict[str, Any]:
    patient = prefetch.get("patient") or {}
    name = (patient.get("name") or [{}])[0]
    identifier = (patient.get("identifier") or [{}])[0]
    return {
        "id": patient.get("id"),
        "name": " ".join([*name.get("given", []), name.get("family", "")]).strip(),
        "birthDate": patient.get("birthDate"),
        "age": scenario.age,
        "sex": patient.get("gender", scenario.sex),
        "mrn": identifier.get("value"),
    }


@router.post("/sandbox/api/preview")
async def preview(body: PreviewIn, request: Request) -> Response:
    """Banner and chart data: the MME step line, pain scores and the draft's projection.

    Computed with the service's own normaliser and MME engine, so the chart matches
    what the rules see.
    """
    scenario = _scenario(body.scenario)
    as_of = _as_of(request)
    prefetch = _build(build_prefetch, scenario, as_of)
    override = _draft_override(body.draft)
    drafts = None
    if override is not None:
        drafts = _build(
            build_request, scenario, "order-sign", as_of, draft_override=override, prefetch=False
        )["context"]["draftOrders"]
    timeline = build_timeline(prefetch, drafts, as_of)
    runtime = request.app.state.runtime
    mme = patient_mme_for(timeline, runtime.rule_settings, runtime.pipeline.value_sets)
    daily = {day: value.value for day, value in mme.timeline.items()}
    first = next((d for d in sorted(daily) if daily[d] > 0), as_of - timedelta(days=180))
    pain_from = min(
        [first, *[s.day for s in timeline.pain_scores if s.day >= mme.start]], default=first
    )
    chart_start = max(mme.start, min(first, pain_from) - timedelta(days=14))
    shown = {d: v for d, v in daily.items() if d >= chart_start}
    draft_info = None
    if drafts is not None and timeline.drafts:
        draft_info = {
            "projected": round(mme.projected.value, 1),
            "text": timeline.drafts[0].text,
            "days": body.draft.days if body.draft else None,
        }
    return JsonResponse(
        {
            "asOf": as_of.isoformat(),
            "scenario": {
                "name": scenario.name,
                "title": scenario.title,
                "story": scenario.story,
                "notes": scenario.notes,
                "hook": scenario.primary_hook,
                "hooks": list(scenario.hooks),
                "expect": dict(scenario.expect),
                "tags": list(scenario.tags),
                "hasDraft": scenario.draft is not None,
                "scenarioDraft": _compact_order(scenario.draft) if scenario.draft else None,
                "suggestedDraft": _suggested_draft(scenario),
            },
            "patient": _patient_banner(prefetch, scenario),
            "mme": {
                "unit": "{MME}/d",
                "start": chart_start.isoformat(),
                "current": round(mme.current.value, 1),
                "complete": mme.history_complete,
                "steps": _steps(shown),
            },
            "pain": [
                {"date": s.day.isoformat(), "value": s.value, "instrument": str(s.instrument)}
                for s in sorted(timeline.pain_scores, key=lambda s: s.day)
                if s.day >= chart_start
            ],
            "draft": draft_info,
        }
    )


# --------------------------------------------------------------------------- snoozes


class ClearSnoozesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scenario: str = Field(min_length=1, max_length=80)


@router.post("/sandbox/api/snoozes/clear")
async def clear_snoozes(body: ClearSnoozesIn, request: Request) -> Response:
    """Forget the snoozes of one scenario patient, so its OIH card shows again.

    Accepting "Document: OIH evaluated, not suspected" on the page snoozes the card as
    in production; without this, trying the scenario again would need a fresh data
    directory. Only the page's own synthetic patients can be named: a scenario's
    patient, in the namespace of the page's calls (no ``fhirServer``, no JWT), so no
    patient of a real FHIR server can be reached; the sandbox is refused in production.
    """
    scenario = _scenario(body.scenario)
    runtime = request.app.state.runtime
    keyer, store, cache = runtime.pipeline.keyer, runtime.store, runtime.snoozes
    if keyer is None or store is None or cache is None:
        return JsonResponse({"cleared": 0, "snoozing": False})
    patient_id = expand(scenario, _as_of(request)).patient_id
    key = keyer.key(namespace(None, None, None), patient_id)
    cleared = await store.clear_snoozes(key)
    await cache.refresh()
    return JsonResponse({"cleared": cleared, "snoozing": True})
