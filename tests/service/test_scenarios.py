"""The scenario library: shapes, validity (FHIR R4B), relative dates, requests, catalogue."""

from __future__ import annotations

import re
import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class

from service.catalog import PREFETCH_TEMPLATES
from service.scenarios import (
    HOOKS,
    TOPICS,
    build_draft_orders,
    build_prefetch,
    build_request,
    drugs,
    expand,
    list_scenarios,
    load_scenario,
    patient_bundle,
    render_catalogue,
)
from service.scenarios.__main__ import main as cli_main

AS_OF = date(2025, 6, 30)
OTHER_AS_OF = date(2027, 2, 11)  # crosses a leap day and a year end
CATALOGUE = Path(__file__).parents[2] / "service" / "scenarios" / "CATALOGUE.md"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"

INFOS = list_scenarios()
NAMES = [i.name for i in INFOS]


def _validate(resource: dict[str, Any]) -> None:
    get_fhir_model_class(resource["resourceType"]).model_validate(resource)


def _all_resources(name: str, as_of: date) -> list[dict[str, Any]]:
    out = [e["resource"] for e in patient_bundle(name, as_of)["entry"]]
    drafts = build_draft_orders(name, as_of)
    if drafts is not None:
        out += [e["resource"] for e in drafts["entry"]]
    return out


# ---------------------------------------------------------------------- the catalogue


def test_at_least_45_scenarios_with_unique_names() -> None:
    assert len(NAMES) >= 45
    assert len(set(NAMES)) == len(NAMES)


@pytest.mark.parametrize("info", INFOS, ids=NAMES)
def test_story_title_and_expectations(info: Any) -> None:
    assert "\n" not in info.story
    assert 0 < len(info.story) <= 100
    assert info.title.strip()
    assert info.hook in HOOKS
    assert info.expect, "every scenario documents what the rules should do"
    assert set(info.expect) <= set(TOPICS)
    assert set(info.expect.values()) <= {"fires", "silent"}
    assert set(info.indicators) <= set(info.fires)
    assert set(info.indicators.values()) <= {"info", "warning", "critical"}
    assert len(info.expect) >= 5, "leave a topic out only where the spec is open"


def test_required_stories_are_present() -> None:
    required = {
        "classic-oih", "tolerance-responder", "escalation-without-benefit", "post-taper-pain",
        "no-pain-since-increase", "postop-short-course", "fentanyl-patch-escalation",
        "methadone-escalation", "buprenorphine-oud", "draft-dose-reduction", "draft-non-opioid",
        "exclusion-age-17", "exclusion-sickle-cell", "exclusion-active-cancer",
        "exclusion-cancer-pain-g893", "exclusion-palliative-z515",
        "exclusion-hospice-disposition", "exclusion-hospice-procedure",
        "exclusion-limited-life-expectancy", "exclusion-inpatient-context",
        "exclusion-ed-context", "neuroexcitation-myoclonus", "renal-egfr-25-morphine",
        "benzodiazepine-coprescription", "oud-diagnosis-f1120", "overdose-history-t402",
        "sleep-apnoea-g4733", "methadone-qtc-510", "naloxone-on-file", "unknown-opioid-product",
        "injectable-opioid", "unreadable-sig", "peg-preferred-over-nrs", "ed-pain-scores-ignored",
        "acute-fracture-confounder", "escalation-ratio-119", "escalation-ratio-120",
        "escalation-floor-9", "escalation-floor-10", "ltot-20-days", "ltot-21-days",
        "pain-delta-19", "pain-delta-20", "pain-one-score-per-window",
        "pain-two-scores-per-window", "pain-rel-30pct-delta-below-1",
        "pain-rel-30pct-delta-1-or-more", "dispense-only-history", "epic-medication-reference",
        "patch-72h-period", "prn-frequency-max", "hydrocodone-apap-combination",
        "tramadol-factor-02", "tapentadol-factor-04", "hydromorphone-factor-5",
    }  # fmt: skip
    assert required <= set(NAMES)


def test_exclusions_silence_every_card() -> None:
    for info in INFOS:
        if "exclusion" in info.tags:
            assert info.expect == dict.fromkeys(TOPICS, "silent"), info.name


def test_boundary_pairs_differ() -> None:
    pairs = [
        ("escalation-ratio-119", "escalation-ratio-120"),
        ("escalation-floor-9", "escalation-floor-10"),
        ("ltot-20-days", "ltot-21-days"),
        ("pain-delta-19", "pain-delta-20"),
        ("pain-one-score-per-window", "pain-two-scores-per-window"),
        ("pain-rel-30pct-delta-below-1", "pain-rel-30pct-delta-1-or-more"),
    ]
    by_name = {i.name: i for i in INFOS}
    for below, meets in pairs:
        assert by_name[below].expect["oih-evaluate"] == "silent"
        assert by_name[meets].expect["oih-evaluate"] == "fires"


def test_catalogue_is_fresh() -> None:
    assert CATALOGUE.read_text(encoding="utf-8") == render_catalogue(), (
        "CATALOGUE.md is stale: python -m service.scenarios --catalogue "
        "> service/scenarios/CATALOGUE.md"
    )


def test_catalogue_lists_every_scenario() -> None:
    text = render_catalogue()
    assert "python -m service.scenarios --catalogue" in text.splitlines()[3]
    for name in NAMES:
        assert f"| `{name}` |" in text


def test_drug_table_uses_rxnorm_codes() -> None:
    table = drugs()
    assert table["oxycodone-10mg-tab"].rxcui == "1049683"
    assert all(d.rxcui.isdigit() for d in table.values())
    assert len({d.rxcui for d in table.values()}) == len(table)


# ---------------------------------------------------------------------- FHIR validity


@pytest.mark.parametrize("as_of", [AS_OF, OTHER_AS_OF], ids=str)
@pytest.mark.parametrize("name", NAMES)
def test_every_resource_validates_against_r4b(name: str, as_of: date) -> None:
    resources = _all_resources(name, as_of)
    assert resources[0]["resourceType"] == "Patient"
    for resource in resources:
        _validate(resource)
    _validate(patient_bundle(name, as_of))
    for key, value in build_prefetch(name, as_of).items():
        _validate(value)
        if key != "patient":
            assert value["type"] == "searchset"


@pytest.mark.parametrize("name", NAMES)
def test_ids_are_deterministic_and_unique(name: str) -> None:
    first, second = patient_bundle(name, AS_OF), patient_bundle(name, AS_OF)
    assert first == second
    idents = [(e["resource"]["resourceType"], e["resource"]["id"]) for e in first["entry"]]
    assert len(idents) == len(set(idents))
    for _, rid in idents:
        assert rid == name or rid.startswith(f"{name}-")
        assert re.fullmatch(r"[A-Za-z0-9\-.]{1,64}", rid)


@pytest.mark.parametrize("name", NAMES)
def test_references_resolve_within_the_record(name: str) -> None:
    bundle = patient_bundle(name, AS_OF)
    known = {f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in bundle["entry"]}
    refs: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("reference"), str):
                refs.append(node["reference"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(bundle)
    for ref in refs:
        assert ref.startswith("Practitioner/") or ref in known, ref


def test_medication_request_shape() -> None:
    exp = expand("classic-oih", AS_OF)
    orders = exp.resources["medicationRequests"]
    assert [o["id"] for o in orders[:2]] == ["classic-oih-mr-1", "classic-oih-mr-2"]
    current = [o for o in orders if o["status"] == "active"]
    assert len(current) == 1
    mr = current[0]
    assert mr["intent"] == "order"
    assert mr["category"][0]["coding"][0]["code"] == "community"
    assert mr["medicationCodeableConcept"]["coding"][0] == {
        "system": RXNORM,
        "code": "1049686",
        "display": "Oxycodone Hydrochloride 20 MG Oral Tablet",
    }
    dosage = mr["dosageInstruction"][0]
    assert dosage["timing"]["repeat"] == {"frequency": 4, "period": 1, "periodUnit": "d"}
    assert dosage["asNeededBoolean"] is False
    assert dosage["doseAndRate"][0]["doseQuantity"]["code"] == "{tbl}"
    supply = mr["dispenseRequest"]["expectedSupplyDuration"]
    assert supply == {
        "value": 30,
        "unit": "days",
        "system": "http://unitsofmeasure.org",
        "code": "d",
    }
    assert mr["dispenseRequest"]["quantity"]["value"] == 120


def test_supply_chains_cover_each_regimen_exactly() -> None:
    orders = expand("classic-oih", AS_OF).resources["medicationRequests"]
    covered: dict[date, int] = {}
    for order in orders:
        start = date.fromisoformat(order["authoredOn"])
        days = order["dispenseRequest"]["expectedSupplyDuration"]["value"]
        for i in range(days):
            day = start + timedelta(days=i)
            covered[day] = covered.get(day, 0) + 1
    span = [AS_OF - timedelta(days=n) for n in range(331)]
    assert all(covered.get(day) == 1 for day in span), "no gaps, no overlaps"


def test_prn_order_carries_frequency_max() -> None:
    orders = expand("prn-frequency-max", AS_OF).resources["medicationRequests"]
    prn = orders[-1]["dosageInstruction"][0]
    assert prn["asNeededBoolean"] is True
    assert prn["timing"]["repeat"]["frequencyMax"] == 6


def test_patch_with_72_hour_period() -> None:
    exp = expand("patch-72h-period", AS_OF)
    repeat = exp.resources["medicationRequests"][0]["dosageInstruction"][0]["timing"]["repeat"]
    assert repeat == {"frequency": 1, "period": 72, "periodUnit": "h"}
    assert exp.resources["medicationRequests"][0]["dispenseRequest"]["quantity"]["value"] == 10


def test_unreadable_sig_has_text_only() -> None:
    orders = expand("unreadable-sig", AS_OF).resources["medicationRequests"]
    last = orders[-1]
    assert last["dosageInstruction"] == [{"text": "Use as directed by pain clinic"}]
    assert "quantity" not in last["dispenseRequest"]


def test_pain_observations_and_settings() -> None:
    exp = expand("ed-pain-scores-ignored", AS_OF)
    encounters = {e["id"]: e for e in exp.resources["encounters"]}
    classes = []
    for obs in exp.resources["painObservations"]:
        assert obs["status"] == "final"
        assert obs["code"]["coding"][0] == {
            "system": "http://loinc.org",
            "code": "72514-3",
            "display": "Pain severity - 0-10 verbal numeric rating [Score] - Reported",
        }
        enc = encounters[obs["encounter"]["reference"].split("/")[1]]
        classes.append((obs["valueQuantity"]["value"], enc["class"]["code"]))
    assert sorted(c for v, c in classes if v >= 9) == ["EMER", "EMER", "EMER"]
    peg = expand("peg-preferred-over-nrs", AS_OF).resources["painObservations"]
    assert {o["code"]["coding"][0]["code"] for o in peg} == {"91147-9", "72514-3"}
    ints = expand("stable-ltot-control", AS_OF).resources["painObservations"]
    assert all(isinstance(o["valueInteger"], int) for o in ints)


def test_exclusion_codes() -> None:
    def codes(name: str) -> set[str]:
        conditions = expand(name, AS_OF).resources["conditions"]
        return {c["code"] for cond in conditions for c in cond["code"]["coding"]}

    assert {"D57.1", "417357006"} <= codes("exclusion-sickle-cell")
    assert "C50.9" in codes("exclusion-active-cancer")
    assert "300936002" in codes("exclusion-limited-life-expectancy")
    g893 = expand("exclusion-cancer-pain-g893", AS_OF).resources["conditions"]
    assert len(g893) == 2
    assert all(c["category"][0]["coding"][0]["code"] == "encounter-diagnosis" for c in g893)
    hospice = expand("exclusion-hospice-disposition", AS_OF).resources["encounters"]
    dispositions = [
        c["code"]
        for e in hospice
        for c in e.get("hospitalization", {}).get("dischargeDisposition", {}).get("coding", [])
    ]
    assert "385763009" in dispositions
    procs = expand("exclusion-hospice-procedure", AS_OF).resources["procedures"]
    assert procs[0]["code"]["coding"][0]["code"] == "385763009"


def test_patient_age_and_synthetic_identity() -> None:
    for name, age in [("exclusion-age-17", 17), ("classic-oih", 54)]:
        for as_of in (AS_OF, OTHER_AS_OF, date(2028, 2, 29)):
            patient = expand(name, as_of).patient
            born = date.fromisoformat(patient["birthDate"])
            years = as_of.year - born.year - ((as_of.month, as_of.day) < (born.month, born.day))
            assert years == age
            assert patient["name"][0]["family"] == "Syntheticpatient"
            assert patient["identifier"][0]["system"] == "urn:oid:2.16.840.1.113883.19.5"


# ---------------------------------------------------------------------- relative dates

_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2})(.*)$", re.DOTALL)


def _assert_shifted(a: Any, b: Any, days: int, path: str = "") -> int:
    """Every date in ``b`` is the matching date of ``a`` plus ``days``; all else equal."""
    if isinstance(a, dict):
        assert isinstance(b, dict), path
        assert a.keys() == b.keys(), path
        return sum(_assert_shifted(a[k], b[k], days, f"{path}.{k}") for k in a)
    if isinstance(a, list):
        assert isinstance(b, list), path
        pairs = enumerate(zip(a, b, strict=True))
        return sum(_assert_shifted(x, y, days, f"{path}[{i}]") for i, (x, y) in pairs)
    if isinstance(a, str) and (m := _DATE.match(a)):
        n = _DATE.match(b)
        assert n is not None, path
        shifted = date.fromisoformat(m.group(1)) + timedelta(days=days)
        assert date.fromisoformat(n.group(1)) == shifted, path
        assert m.group(2) == n.group(2), path
        return 1
    assert a == b, path
    return 0


@pytest.mark.parametrize("name", NAMES)
def test_dates_move_with_as_of(name: str) -> None:
    days = (OTHER_AS_OF - AS_OF).days
    hook = load_scenario(name).primary_hook
    a = build_request(name, hook, AS_OF, hook_instance="fixed")
    b = build_request(name, hook, OTHER_AS_OF, hook_instance="fixed")
    assert _assert_shifted(a, b, days) > 0
    assert _assert_shifted(patient_bundle(name, AS_OF), patient_bundle(name, OTHER_AS_OF), days)


def test_dates_are_relative_to_as_of() -> None:
    exp = expand("classic-oih", AS_OF)
    latest = max(o["authoredOn"] for o in exp.resources["medicationRequests"])
    assert latest == (AS_OF - timedelta(days=15)).isoformat()
    first = min(o["authoredOn"] for o in exp.resources["medicationRequests"])
    assert first == (AS_OF - timedelta(days=330)).isoformat()


# ---------------------------------------------------------------------- hook requests


@pytest.mark.parametrize("name", NAMES)
def test_requests_are_well_formed_for_each_hook(name: str) -> None:
    scenario = load_scenario(name)
    for hook in scenario.hooks:
        body = build_request(name, hook, AS_OF)
        assert body["hook"] == hook
        uuid.UUID(body["hookInstance"])
        ctx = body["context"]
        assert ctx["userId"].startswith("Practitioner/")
        assert ctx["patientId"] == name
        assert set(body["prefetch"]) == set(PREFETCH_TEMPLATES)
        assert body["prefetch"]["patient"]["id"] == name
        if hook == "patient-view":
            assert "draftOrders" not in ctx
            assert "selections" not in ctx
        else:
            drafts = ctx["draftOrders"]
            assert drafts["resourceType"] == "Bundle"
            assert "type" not in drafts
            meds = [e["resource"] for e in drafts["entry"]]
            for resource in meds:
                _validate(resource)
            requests = [r for r in meds if r["resourceType"] == "MedicationRequest"]
            if scenario.draft is not None:
                assert requests
                assert requests[0]["status"] == "draft"
                assert requests[0]["intent"] == "order"
                assert requests[0]["authoredOn"] == AS_OF.isoformat()
        if hook == "order-select":
            assert ctx["selections"] == [f"MedicationRequest/{name}-draft-1"]
            ids = {e["resource"]["id"] for e in ctx["draftOrders"]["entry"]}
            assert f"{name}-draft-1" in ids
        else:
            assert "selections" not in ctx
        if scenario.context is not None:
            enc_ids = {e["resource"]["id"] for e in body["prefetch"]["encounters"]["entry"]}
            assert ctx["encounterId"] in enc_ids


def test_order_select_needs_a_draft() -> None:
    with pytest.raises(ValueError, match="no draft"):
        build_request("classic-oih", "order-select", AS_OF)
    with pytest.raises(ValueError, match="unsupported hook"):
        build_request("classic-oih", "encounter-start", AS_OF)


def test_request_options() -> None:
    body = build_request(
        "classic-oih",
        "patient-view",
        AS_OF,
        prefetch=False,
        hook_instance="d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        fhir_server="https://ehr.example.org/fhir",
    )
    assert "prefetch" not in body
    assert body["hookInstance"] == "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea"
    assert body["fhirServer"] == "https://ehr.example.org/fhir"
    empty = build_request("classic-oih", "order-sign", AS_OF)
    assert empty["context"]["draftOrders"] == {"resourceType": "Bundle", "entry": []}


def test_hook_instance_is_new_each_time() -> None:
    one = build_request("classic-oih", "patient-view", AS_OF)
    two = build_request("classic-oih", "patient-view", AS_OF)
    assert one["hookInstance"] != two["hookInstance"]
    one.pop("hookInstance"), two.pop("hookInstance")
    assert one == two


def test_draft_override_forms() -> None:
    compact = build_request(
        "draft-non-opioid",
        "order-sign",
        AS_OF,
        draft_override={"drug": "oxycodone-15mg-tab", "dose": "1 tab", "freq": "4/d"},
    )
    mr = compact["context"]["draftOrders"]["entry"][0]["resource"]
    assert mr["medicationCodeableConcept"]["coding"][0]["code"] == "1049611"
    assert mr["status"] == "draft"
    _validate(mr)

    resource = {"resourceType": "MedicationRequest", "id": "x1", "status": "draft",
                "intent": "order", "subject": {"reference": "Patient/draft-non-opioid"},
                "medicationCodeableConcept": {"text": "something"}}  # fmt: skip
    sel = build_request("draft-non-opioid", "order-select", AS_OF, draft_override=resource)
    assert sel["context"]["selections"] == ["MedicationRequest/x1"]

    bundle = {"resourceType": "Bundle", "entry": [{"resource": resource}]}
    signed = build_request("classic-oih", "order-sign", AS_OF, draft_override=bundle)
    assert signed["context"]["draftOrders"] == bundle


def test_epic_style_medication_reference() -> None:
    body = build_request("epic-medication-reference", "order-sign", AS_OF)
    entries = body["context"]["draftOrders"]["entry"]
    mr, med = entries[0]["resource"], entries[1]["resource"]
    assert med["resourceType"] == "Medication"
    assert mr["medicationReference"]["reference"] == f"Medication/{med['id']}"
    assert "medicationCodeableConcept" not in mr
    assert med["code"]["coding"][0] == {
        "system": RXNORM,
        "code": "1049618",
        "display": "Oxycodone Hydrochloride 30 MG Oral Tablet",
    }
    searchset = body["prefetch"]["medicationRequests"]
    modes = [e["search"]["mode"] for e in searchset["entry"]]
    assert modes.count("include") == 2
    assert searchset["total"] == modes.count("match")


def test_dispense_only_history() -> None:
    prefetch = build_prefetch("dispense-only-history", AS_OF)
    assert prefetch["medicationRequests"]["entry"] == []
    dispenses = [e["resource"] for e in prefetch["medicationDispenses"]["entry"]]
    assert dispenses
    assert all(d["status"] == "completed" for d in dispenses)
    assert dispenses[0]["quantity"]["value"] == 120
    assert dispenses[0]["daysSupply"]["code"] == "d"


def test_prefetch_searchsets_carry_their_query() -> None:
    prefetch = build_prefetch("classic-oih", AS_OF)
    link = prefetch["painObservations"]["link"][0]["url"]
    assert "Observation?patient=classic-oih&code=" in link
    dates = [e["resource"]["effectiveDateTime"] for e in prefetch["painObservations"]["entry"]]
    assert dates == sorted(dates, reverse=True)  # _sort=-date


def test_unknown_names_fail_loudly() -> None:
    with pytest.raises(KeyError, match="no scenario"):
        load_scenario("does-not-exist")


# ---------------------------------------------------------------------- command line


def test_cli_catalogue_list_request_and_bundle(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["--catalogue"]) == 0
    assert capsys.readouterr().out == render_catalogue()
    assert cli_main(["--list"]) == 0
    assert "classic-oih" in capsys.readouterr().out
    assert cli_main(["--request", "classic-oih", "--as-of", "2025-06-30"]) == 0
    assert '"hook": "patient-view"' in capsys.readouterr().out
    assert cli_main(["--bundle", "classic-oih", "--as-of", "2025-06-30"]) == 0
    assert '"type": "collection"' in capsys.readouterr().out
