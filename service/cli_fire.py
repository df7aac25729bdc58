"""``oih-cds scenarios`` and ``oih-cds fire``: call a CDS Hooks service like an EHR would.

Why a separate module: ``service.cli`` stays a thin typer layer, and this logic (build
a request, sign a JWT, find the service by discovery, print cards) is testable on its
own. Nothing here is specific to oih-cds except the scenario library: the service id
and its prefetch templates come from discovery, so ``fire`` works against any CDS
Hooks 2.0 service.
"""

from __future__ import annotations

import json
import re
import textwrap
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx

from cds_hooks.prefetch import UnresolvableToken, render_template
from service.catalog import PREFETCH_TEMPLATES

HOOKS = ("order-sign", "order-select", "patient-view")
DEFAULT_URL = "http://127.0.0.1:8080"
DEFAULT_USER_ID = "Practitioner/oih-sandbox-clinician"
JWT_LIFETIME_SECONDS = 300

#: Exit codes: an HTTP error from the service, bad input on our side, no connection.
EXIT_HTTP_ERROR = 1
EXIT_BAD_INPUT = 2
EXIT_UNREACHABLE = 3


class FireError(Exception):
    """Stops ``fire`` with a message and an exit code (the CLI prints it on stderr)."""

    def __init__(self, message: str, exit_code: int = EXIT_BAD_INPUT) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


# --------------------------------------------------------------------------- JWT


@dataclass(frozen=True)
class Signer:
    """Signs one short-lived CDS Hooks JWT per call (``aud`` = the exact URL called).

    The algorithm follows the key: an EC P-384 key signs ES384, an RSA key RS384,
    the two CDS Hooks 2.0 recommends.
    """

    key: Any
    kid: str
    iss: str
    algorithm: str
    jku: str | None = None
    tenant: str | None = None

    @classmethod
    def from_pem(
        cls, path: Path, kid: str, iss: str, *, jku: str | None = None, tenant: str | None = None
    ) -> Signer:
        from cryptography.hazmat.primitives.asymmetric import ec, rsa
        from cryptography.hazmat.primitives.serialization import load_pem_private_key

        try:
            key = load_pem_private_key(path.read_bytes(), password=None)
        except (OSError, ValueError, TypeError) as exc:
            raise FireError(f"cannot read the private key {path}: {exc}") from None
        if isinstance(key, ec.EllipticCurvePrivateKey):
            if key.curve.name != "secp384r1":
                raise FireError(f"{path}: EC keys must be P-384 (ES384); this is {key.curve.name}")
            algorithm = "ES384"
        elif isinstance(key, rsa.RSAPrivateKey):
            algorithm = "RS384"
        else:
            raise FireError(f"{path}: only EC P-384 (ES384) and RSA (RS384) keys are supported")
        return cls(key=key, kid=kid, iss=iss, algorithm=algorithm, jku=jku, tenant=tenant)

    def token(self, audience: str, now: float | None = None) -> str:
        import jwt

        issued = int(now if now is not None else time.time())
        claims: dict[str, Any] = {
            "iss": self.iss,
            "aud": audience,
            "exp": issued + JWT_LIFETIME_SECONDS,
            "iat": issued,
            "jti": str(uuid.uuid4()),
        }
        if self.tenant:
            claims["tenant"] = self.tenant
        headers: dict[str, Any] = {"kid": self.kid, "typ": "JWT"}
        if self.jku:
            headers["jku"] = self.jku
        return jwt.encode(claims, self.key, algorithm=self.algorithm, headers=headers)


# --------------------------------------------------------------------------- HTTP


@dataclass
class HttpResult:
    method: str
    url: str
    status: int
    body: Any
    text: str
    ms: float

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


@dataclass
class Client:
    """A thin httpx wrapper: JSON in/out, a fresh JWT per call when a signer is set."""

    base_url: str
    signer: Signer | None = None
    timeout: float = 30.0
    transport: httpx.BaseTransport | None = None
    _http: httpx.Client | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.base_url = self.base_url.rstrip("/")

    def _client(self) -> httpx.Client:
        if self._http is None:
            self._http = httpx.Client(timeout=self.timeout, transport=self.transport)
        return self._http

    def close(self) -> None:
        if self._http is not None:
            self._http.close()

    def call(self, method: str, path: str, body: Any = None) -> HttpResult:
        url = f"{self.base_url}{path}"
        headers = {"Accept": "application/json"}
        if self.signer is not None:
            headers["Authorization"] = f"Bearer {self.signer.token(url)}"
        started = time.perf_counter()
        try:
            response = self._client().request(
                method, url, headers=headers, json=body if body is not None else None
            )
        except httpx.HTTPError as exc:
            raise FireError(f"cannot reach {url}: {exc}", EXIT_UNREACHABLE) from None
        ms = (time.perf_counter() - started) * 1000
        try:
            parsed: Any = response.json()
        except ValueError:
            parsed = None
        return HttpResult(method, url, response.status_code, parsed, response.text, ms)


def describe_error(result: HttpResult) -> str:
    """``HTTP 400 from POST url`` and the OperationOutcome's issues, one per line."""
    lines = [f"HTTP {result.status} from {result.method} {result.url}"]
    body = result.body
    if isinstance(body, dict) and body.get("resourceType") == "OperationOutcome":
        for issue in body.get("issue") or []:
            where = issue.get("expression") or issue.get("location") or []
            suffix = f" (at {', '.join(where)})" if where else ""
            text = issue.get("diagnostics") or (issue.get("details") or {}).get("text") or ""
            lines.append(
                f"  {issue.get('severity', 'error')} {issue.get('code', '?')}: {text}{suffix}"
            )
    elif result.text:
        lines.append("  " + result.text.strip()[:500])
    return "\n".join(lines)


def _require_ok(result: HttpResult) -> HttpResult:
    if not result.ok:
        raise FireError(describe_error(result), EXIT_HTTP_ERROR)
    return result


# --------------------------------------------------------------------------- discovery


@dataclass(frozen=True)
class DiscoveredService:
    id: str
    hook: str
    title: str | None
    prefetch: Mapping[str, str]


def discover(client: Client, hook: str, service_id: str | None = None) -> DiscoveredService:
    """The service for ``hook`` (or the one called ``service_id``) from ``GET /cds-services``."""
    result = _require_ok(client.call("GET", "/cds-services"))
    services = (result.body or {}).get("services") if isinstance(result.body, dict) else None
    if not isinstance(services, list):
        raise FireError(f"{result.url} is not a CDS Hooks discovery endpoint", EXIT_HTTP_ERROR)
    candidates = [s for s in services if isinstance(s, dict) and s.get("hook") == hook]
    if service_id is not None:
        candidates = [s for s in services if isinstance(s, dict) and s.get("id") == service_id]
    if not candidates:
        offered = ", ".join(f"{s.get('id')} ({s.get('hook')})" for s in services) or "none"
        wanted = f"id {service_id!r}" if service_id else f"hook {hook!r}"
        raise FireError(f"discovery at {result.url} lists no service for {wanted}; it offers: "
                        f"{offered}", EXIT_HTTP_ERROR)  # fmt: skip
    chosen = candidates[0]
    return DiscoveredService(
        id=str(chosen["id"]),
        hook=str(chosen.get("hook", hook)),
        title=chosen.get("title"),
        prefetch=dict(chosen.get("prefetch") or {}),
    )


# --------------------------------------------------------------------------- prefetch


def _resolve_tokens(template: str, context: Mapping[str, Any]) -> str | None:
    """Fill the template's prefetch tokens; None when one has no usable value here."""
    try:
        return render_template(template, context)
    except UnresolvableToken:
        return None


def _codes_of(resource: Mapping[str, Any], element: str) -> set[tuple[str | None, str]]:
    concepts = resource.get(element)
    if isinstance(concepts, dict):
        concepts = [concepts]
    found: set[tuple[str | None, str]] = set()
    for concept in concepts or []:
        for coding in (concept or {}).get("coding") or []:
            if coding.get("code"):
                found.add((coding.get("system"), str(coding["code"])))
    return found


def _matches_token(resource: Mapping[str, Any], element: str, wanted: str) -> bool:
    have = _codes_of(resource, element)
    for item in wanted.split(","):
        system, _, code = item.rpartition("|")
        for got_system, got_code in have:
            if got_code == code and (not system or got_system == system):
                return True
    return False


def _search(
    resource_type: str, query: str, resources: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """A searchset Bundle answering ``query`` from an in-memory record (a useful subset).

    Understood: ``patient``/``subject``, ``code`` and ``status`` tokens, ``_include`` of
    ``:medication``. Other parameters (``_sort``, ``_count``, dates) do not filter.
    """
    params = parse_qsl(query, keep_blank_values=True)
    matches = [r for r in resources if r.get("resourceType") == resource_type]
    includes_medication = False
    for name, value in params:
        base = name.split(":")[0]
        if base in ("patient", "subject"):
            wanted_id = value.split("/")[-1]
            matches = [
                r
                for r in matches
                if str((r.get("subject") or r.get("patient") or {}).get("reference") or "").split(
                    "/"
                )[-1]
                in (wanted_id, "")
            ]
        elif base == "code":
            matches = [r for r in matches if _matches_token(r, "code", value)]
        elif base == "status":
            allowed = set(value.split(","))
            matches = [r for r in matches if r.get("status") in allowed]
        elif base == "_include" and value.endswith(":medication"):
            includes_medication = True
    entries = [{"resource": r, "search": {"mode": "match"}} for r in matches]
    if includes_medication:
        wanted = {
            str((r.get("medicationReference") or {}).get("reference") or "").split("/")[-1]
            for r in matches
        }
        entries += [
            {"resource": r, "search": {"mode": "include"}}
            for r in resources
            if r.get("resourceType") == "Medication" and r.get("id") in wanted
        ]
    return {"resourceType": "Bundle", "type": "searchset", "total": len(matches), "entry": entries}


def prefetch_from_record(
    templates: Mapping[str, str],
    resources: Sequence[Mapping[str, Any]],
    context: Mapping[str, Any],
) -> dict[str, Any]:
    """Fill a service's prefetch templates from a patient's resources, as an EHR would.

    Keys whose tokens cannot be resolved are left out, like the CDS Hooks Sandbox does.
    """
    out: dict[str, Any] = {}
    for key, template in templates.items():
        filled = _resolve_tokens(template, context)
        if filled is None:
            continue
        path, _, query = filled.partition("?")
        parts = path.strip("/").split("/")
        if len(parts) == 2 and not query:  # an instance read: Patient/123
            kind, rid = parts
            found = next(
                (r for r in resources if r.get("resourceType") == kind and r.get("id") == rid), None
            )
            if found is not None:
                out[key] = found
            continue
        if len(parts) == 1:
            out[key] = _search(parts[0], query, resources)
    return out


def read_record(path: Path) -> list[dict[str, Any]]:
    """The resources of an R4 collection/searchset Bundle (or a bare list of resources)."""
    data = _read_json(path)
    if isinstance(data, list):
        items = data
    elif isinstance(data, dict) and data.get("resourceType") == "Bundle":
        items = [e.get("resource") for e in data.get("entry") or [] if isinstance(e, dict)]
    else:
        raise FireError(f"{path}: expected a FHIR Bundle of the patient's resources")
    resources = [r for r in items if isinstance(r, dict) and r.get("resourceType")]
    if not any(r["resourceType"] == "Patient" for r in resources):
        raise FireError(f"{path}: the Bundle has no Patient resource")
    return resources


def read_draft(path: Path) -> dict[str, Any]:
    """A draft order file: a MedicationRequest (or any order resource), or a Bundle of them."""
    data = _read_json(path)
    if not isinstance(data, dict) or "resourceType" not in data:
        raise FireError(f"{path}: expected a FHIR resource (MedicationRequest) or a Bundle")
    if data["resourceType"] == "Bundle":
        return data
    resource = dict(data)
    resource.setdefault("id", "draft-1")
    resource.setdefault("status", "draft")
    return {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": resource}]}


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise FireError(f"cannot read {path}: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise FireError(f"{path} is not JSON: {exc}") from None


# --------------------------------------------------------------------------- request


@dataclass
class FireOptions:
    hook: str = "order-sign"
    url: str = DEFAULT_URL
    scenario: str | None = None
    bundle: Path | None = None
    draft: Path | None = None
    service_id: str | None = None
    prefetch: bool = True
    fhir_server: str | None = None
    user_id: str = DEFAULT_USER_ID
    as_of: date | None = None
    as_json: bool = False
    explain: bool = False
    show_request: bool = False
    signer: Signer | None = None
    width: int = 88
    color: bool = False


def build_body(options: FireOptions, service: DiscoveredService, as_of: date) -> dict[str, Any]:
    """The hook request: context from the scenario or files, prefetch from the templates."""
    from service.scenarios import build_request, load_scenario, patient_bundle

    hook = options.hook
    draft_bundle = read_draft(options.draft) if options.draft else None
    if options.scenario is not None:
        try:
            scenario = load_scenario(options.scenario)
        except KeyError:
            raise FireError(
                f"no scenario called {options.scenario!r}; `oih-cds scenarios` lists them"
            ) from None
        try:
            body = build_request(
                scenario,
                hook,
                as_of,
                draft_override=draft_bundle,
                prefetch=False,
                user_id=options.user_id,
                fhir_server=options.fhir_server,
            )
        except ValueError as exc:
            raise FireError(str(exc)) from None
        record = [e["resource"] for e in patient_bundle(scenario, as_of)["entry"]]
        our_templates = dict(service.prefetch) == dict(PREFETCH_TEMPLATES)
        if options.prefetch and our_templates:
            body["prefetch"] = build_request(scenario, hook, as_of, prefetch=True)["prefetch"]
        elif options.prefetch:
            body["prefetch"] = prefetch_from_record(service.prefetch, record, body["context"])
        return _drop_empty_prefetch(body)

    if options.bundle is None:
        raise FireError("give --scenario NAME, or --bundle PATIENT.json (with --draft ORDER.json)")
    record = read_record(options.bundle)
    patient = next(r for r in record if r["resourceType"] == "Patient")
    context: dict[str, Any] = {"userId": options.user_id, "patientId": str(patient.get("id"))}
    if hook in ("order-sign", "order-select"):
        if draft_bundle is None:
            raise FireError(f"{hook} needs --draft ORDER.json (the unsigned order)")
        if hook == "order-select":
            selected = [
                f"{e['resource']['resourceType']}/{e['resource']['id']}"
                for e in draft_bundle.get("entry") or []
                if isinstance(e.get("resource"), dict) and e["resource"].get("id")
            ]
            if not selected:
                raise FireError("order-select needs a draft order with an id to select")
            context["selections"] = selected[:1]
        context["draftOrders"] = draft_bundle
    body = {"hook": hook, "hookInstance": str(uuid.uuid4()), "context": context}
    if options.fhir_server:
        body["fhirServer"] = options.fhir_server
    if options.prefetch:
        body["prefetch"] = prefetch_from_record(service.prefetch, record, context)
    return _drop_empty_prefetch(body)


def _drop_empty_prefetch(body: dict[str, Any]) -> dict[str, Any]:
    if "prefetch" in body and not body["prefetch"]:
        del body["prefetch"]
    return body


# --------------------------------------------------------------------------- printing


_STYLES = {"critical": "\033[1;31m", "warning": "\033[1;33m", "info": "\033[1;34m"}
_BOLD, _DIM, _RESET = "\033[1m", "\033[2m", "\033[0m"
_ORDER = {"critical": 0, "warning": 1, "info": 2}


def _markdown_to_text(markdown: str) -> list[str]:
    """Card detail as plain lines: emphasis and link syntax removed, tables kept."""
    lines = []
    for raw in markdown.splitlines():
        line = re.sub(r"\[([^\]]+)\]\(([^)\s]+)[^)]*\)", r"\1 <\2>", raw)
        line = re.sub(r"(\*\*|__)(.+?)\1", r"\2", line)
        line = re.sub(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?!\w)", r"\1", line)
        line = re.sub(r"(?<![\w_])_(?!\s)(.+?)(?<!\s)_(?!\w)", r"\1", line)
        line = re.sub(r"`([^`]+)`", r"\1", line)
        line = re.sub(r"^\s{0,3}#{1,6}\s+", "", line)
        lines.append(line.rstrip())
    return lines


def render_cards(response: Mapping[str, Any], *, width: int = 88, color: bool = False) -> str:
    """Cards as an EHR sidebar would list them, most urgent first, in plain text."""

    def style(text: str, code: str) -> str:
        return f"{code}{text}{_RESET}" if color else text

    cards = sorted(
        (c for c in response.get("cards") or [] if isinstance(c, dict)),
        key=lambda c: _ORDER.get(str(c.get("indicator")), 3),
    )
    out: list[str] = []
    if not cards:
        out.append("No cards.")
    for index, card in enumerate(cards, 1):
        indicator = str(card.get("indicator", "info"))
        tag = f"[{indicator.upper()}]"
        summary_lines = textwrap.wrap(
            f"{index}. {tag} {card.get('summary', '')}",
            width=width,
            subsequent_indent="   ",
            break_on_hyphens=False,
        )
        first = summary_lines[0].replace(tag, style(tag, _STYLES.get(indicator, _BOLD)), 1)
        out.append(first)
        out.extend(summary_lines[1:])
        source = card.get("source") or {}
        topic = source.get("topic") or {}
        meta = [f"source: {source.get('label', '-')}"]
        ids = []
        if topic.get("code"):
            ids.append(f"topic: {topic['code']}")
        if card.get("uuid"):
            ids.append(f"uuid: {card['uuid']}")
        if ids:
            meta.append(" | ".join(ids))
        out.extend("   " + style(line, _DIM) for line in meta)
        if card.get("detail"):
            out.append("")
            for line in _markdown_to_text(str(card["detail"])):
                if not line.strip():
                    out.append("")
                elif line.lstrip().startswith("|"):
                    out.append("   " + line.strip())  # tables are not re-wrapped
                else:
                    indent = len(line) - len(line.lstrip())
                    bullet = re.match(r"([-*+]|\d+[.)])\s+", line.lstrip())
                    hang = len(bullet.group(0)) if bullet else 0
                    out.extend(
                        textwrap.wrap(
                            line.strip(),
                            width=width,
                            initial_indent="   " + " " * indent,
                            subsequent_indent="   " + " " * (indent + hang),
                            break_on_hyphens=False,
                        )
                    )
        suggestions = card.get("suggestions") or []
        if suggestions:
            behaviour = card.get("selectionBehavior")
            out.append("")
            out.append(f"   Suggestions{f' ({behaviour})' if behaviour else ''}:")
            for s in suggestions:
                mark = " [recommended]" if s.get("isRecommended") else ""
                out.append(f"   - {s.get('label', '')}{mark}")
                for action in s.get("actions") or []:
                    out.append(f"       {action.get('type', '?')}: {action.get('description', '')}")
        links = card.get("links") or []
        if links:
            out.append("")
            out.append("   Links:")
            for link in links:
                kind = " (SMART app)" if link.get("type") == "smart" else ""
                out.append(f"   - {link.get('label', '')}{kind}")
                out.append(f"     {link.get('url', '')}")
        reasons = [r.get("display") or r.get("code") for r in card.get("overrideReasons") or []]
        if reasons:
            out.append("")
            out.append("   Override reasons:")
            out.extend(f"   - {reason}" for reason in reasons)
        out.append("")
    for action in response.get("systemActions") or []:
        out.append(f"System action: {action.get('type', '?')}: {action.get('description', '')}")
    return "\n".join(out).rstrip() + "\n"


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], numeric: set[int]) -> list[str]:
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        cells = [
            str(c).rjust(w) if i in numeric else str(c).ljust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        return "  ".join(cells).rstrip()

    return [line(headers), "  ".join("-" * w for w in widths), *(line(r) for r in rows)]


def _num(value: Any, digits: int = 1) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"{round(float(value), digits):g}"
    return "-"


def render_explain(evaluation: Mapping[str, Any], *, width: int = 88) -> str:
    """The MME table, the pain trend and every rule's decision (missing keys tolerated)."""
    out: list[str] = []
    mme = evaluation.get("mme") or {}
    if mme:
        summary = f"MME/day now: {_num(mme.get('current'))}"
        if mme.get("withoutDrafts") is not None and mme.get("withoutDrafts") != mme.get("current"):
            summary += f" (without the draft: {_num(mme.get('withoutDrafts'))})"
        if mme.get("complete") is False:
            summary += "  [INCOMPLETE: some orders could not be computed]"
        out += [summary, ""]
        rows = []
        for o in mme.get("orders") or []:
            dose = o.get("dailyDose") or {}
            dates = " to ".join(d for d in (o.get("start"), o.get("end")) if d) or "-"
            status = str(o.get("status") or "-")
            if o.get("problem"):
                status += f": {o['problem']}"
            rows.append(
                [
                    str(o.get("reference") or "-"),
                    str(o.get("source") or "-"),
                    str(o.get("ingredient") or o.get("rxnorm") or "-"),
                    f"{_num(dose.get('value'))} {dose.get('unit', '')}".strip() if dose else "-",
                    _num(o.get("factor"), 2),
                    _num(o.get("mmePerDay")),
                    status,
                    dates,
                ]
            )
        if rows:
            headers = [
                "order",
                "source",
                "drug",
                "daily dose",
                "factor",
                "MME/d",
                "status",
                "dates",
            ]
            out += _table(headers, rows, {3, 4, 5})
            out.append("")
    pain = evaluation.get("pain") or {}
    if pain:
        trend = f"Pain ({pain.get('instrument', '?')}): median {_num(pain.get('preMedian'))}"
        trend += f" before -> {_num(pain.get('postMedian'))} after"
        if pain.get("delta") is not None:
            trend += f" (change {_num(pain.get('delta'))})"
        out.append(trend)
        out.append("")
    rules = evaluation.get("rules") or []
    if rules:
        out.append("Rules:")
        for rule in rules:
            verdict = "FIRED " if rule.get("fired") else "silent"
            prefix = f"  {verdict} {rule.get('id', '?'):<18} "
            out.extend(
                textwrap.wrap(
                    str(rule.get("reason") or ""),
                    width=max(width, 60),
                    initial_indent=prefix,
                    subsequent_indent=" " * len(prefix),
                )
                or [prefix.rstrip()]
            )
        out.append("")
    quality = evaluation.get("dataQuality") or []
    if quality:
        out.append("Data quality:")
        for item in quality:
            ref = f" ({item['reference']})" if item.get("reference") else ""
            out.append(f"  - {item.get('code', '?')}: {item.get('message', '')}{ref}")
        out.append("")
    slots = (evaluation.get("data") or {}).get("slots") or {}
    if slots:
        text = "Data: " + ", ".join(f"{k} {v}" for k, v in slots.items())
        out.extend(textwrap.wrap(text, width=width, subsequent_indent="      "))
    if not out:
        out.append("The explain output has no MME or rule details.")
    return "\n".join(out).rstrip() + "\n"


# --------------------------------------------------------------------------- fire


def fire(
    options: FireOptions,
    echo: Callable[[str], None],
    *,
    today: date,
    transport: httpx.BaseTransport | None = None,
) -> int:
    """Discover, build, call (and explain); returns the exit code. Raises FireError."""
    if options.hook not in HOOKS:
        raise FireError(f"--hook must be one of {', '.join(HOOKS)}")
    if (options.scenario is None) == (options.bundle is None):
        raise FireError("give exactly one of --scenario NAME or --bundle PATIENT.json")
    client = Client(options.url, signer=options.signer, transport=transport)
    try:
        service = discover(client, options.hook, options.service_id)
        body = build_body(options, service, options.as_of or today)
        path = f"/cds-services/{service.id}"
        if options.show_request:
            echo(json.dumps(body, indent=2))
        result = _require_ok(client.call("POST", path, body))
        explained = None
        if options.explain:
            explained = _require_ok(client.call("POST", f"{path}/explain", body))
    finally:
        client.close()

    if options.as_json:
        payload: Any = result.body if explained is None else explained.body
        echo(json.dumps(payload, indent=2))
        return 0
    cards = (result.body or {}).get("cards") or []
    head = f"{options.hook} -> {service.id} at {client.base_url}: HTTP {result.status}"
    echo(f"{head} in {result.ms:.0f} ms, {len(cards)} card{'s' if len(cards) != 1 else ''}")
    echo("")
    echo(render_cards(result.body or {}, width=options.width, color=options.color).rstrip("\n"))
    if explained is not None:
        echo("")
        echo("--- explain " + "-" * max(options.width - 12, 10))
        evaluation = (explained.body or {}).get("evaluation") or {}
        echo(render_explain(evaluation, width=options.width).rstrip("\n"))
    return 0


def scenarios_table() -> str:
    """``name  hook  story`` for every scenario, aligned."""
    from service.scenarios import list_scenarios

    infos = list_scenarios()
    width = max(len(i.name) for i in infos)
    lines = [f"{'name':<{width}}  {'hook':<12}  story", f"{'-' * width}  {'-' * 12}  {'-' * 5}"]
    lines += [f"{i.name:<{width}}  {i.hook:<12}  {i.story}" for i in infos]
    return "\n".join(lines) + "\n"
