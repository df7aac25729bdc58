"""Concept membership: ICD-10 prefix ranges, exact codes, CPT ranges, value sets, exclusions."""

from __future__ import annotations

from types import MappingProxyType

import pytest

from rules.derived.codematch import concept_matcher
from rules.timeline import ICD10CM, SNOMED, Code
from rules.valuesets import load_value_sets

ICD10_WHO = "http://hl7.org/fhir/sid/icd-10"
CPT = "http://www.ama-assn.org/go/cpt"


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("C00.0", True),
        ("C96.9", True),
        ("C97", False),
        ("D37.0", True),
        ("D49.9", True),
        ("D36.9", False),
        ("G89.3", True),
        ("G89.29", False),
        ("c50.911", True),
        (" C50.9 ", True),
    ],
)
def test_cancer_range_boundaries(code: str, expected: bool) -> None:
    assert concept_matcher("malignant_cancer").matches(Code(ICD10CM, code)) is expected


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("T40.0X1A", True),
        ("T40.411A", True),
        ("T40.4X4S", True),
        ("T40.5X1A", False),
        ("T40.601A", True),
        ("T40.2X5A", False),
        ("T40.416A", False),
        ("T39.1X1A", False),
    ],
)
def test_overdose_range_and_adverse_effect_exclusion(code: str, expected: bool) -> None:
    assert concept_matcher("opioid_overdose").matches(Code(ICD10CM, code)) is expected


def test_prefix_needs_the_right_system() -> None:
    matcher = concept_matcher("sickle_cell")
    assert matcher.matches(Code(ICD10CM, "D57.1"))
    assert matcher.matches(Code(ICD10_WHO, "D57.1"))
    assert not matcher.matches(Code(SNOMED, "D57.1"))


def test_cpt_numeric_range_rejects_category_ii_codes() -> None:
    matcher = concept_matcher("surgical_procedure")
    assert matcher.matches(Code(CPT, "10004"))
    assert matcher.matches(Code(CPT, "69990"))
    assert not matcher.matches(Code(CPT, "69991"))
    assert not matcher.matches(Code(CPT, "4000F"))


def test_value_set_by_id_or_canonical_url_and_missing_reported() -> None:
    member = Code(SNOMED, "999")
    by_id = concept_matcher(
        "opioid_use_disorder", {"opioid-misuse-disorders": frozenset({(SNOMED, "999")})}
    )
    url = "http://fhir.org/guides/cdc/opioid-cds/ValueSet/opioid-misuse-disorders"
    by_url = concept_matcher("opioid_use_disorder", {url: frozenset({(SNOMED, "999")})})
    none = concept_matcher("opioid_use_disorder")
    assert by_id.matches(member)
    assert by_url.matches(member)
    assert not none.matches(member)
    assert none.missing_value_sets == ("opioid-misuse-disorders",)
    assert none.matches(Code(ICD10CM, "F11.20"))  # fallback code list still works


def test_first_match_and_empty_code() -> None:
    matcher = concept_matcher("neuroexcitation")
    codes = (Code(ICD10CM, "I10"), Code(ICD10CM, "F05"))
    assert matcher.first_match(codes) == Code(ICD10CM, "F05")
    assert not matcher.matches(Code(ICD10CM, "  "))


def test_matchers_are_built_once_for_read_only_value_sets() -> None:
    shipped = load_value_sets()
    assert concept_matcher("opioid_use_disorder", shipped) is concept_matcher(
        "opioid_use_disorder", shipped
    )
    assert concept_matcher("sickle_cell") is concept_matcher("sickle_cell")
    assert concept_matcher("sickle_cell") is not concept_matcher("sickle_cell", shipped)
    other = MappingProxyType({"opioid-misuse-disorders": frozenset({(SNOMED, "999")})})
    assert concept_matcher("opioid_use_disorder", other).matches(Code(SNOMED, "999"))
    assert not concept_matcher("opioid_use_disorder", shipped).matches(Code(SNOMED, "999"))


def test_a_plain_dict_of_value_sets_is_read_on_every_call() -> None:
    value_sets = {"opioid-misuse-disorders": frozenset({(SNOMED, "999")})}
    assert concept_matcher("opioid_use_disorder", value_sets).matches(Code(SNOMED, "999"))
    value_sets["opioid-misuse-disorders"] = frozenset({(SNOMED, "888")})
    changed = concept_matcher("opioid_use_disorder", value_sets)
    assert changed.matches(Code(SNOMED, "888"))
    assert not changed.matches(Code(SNOMED, "999"))


def test_repeated_lookups_give_the_same_answer() -> None:
    matcher = concept_matcher("opioid_overdose")
    codes = [Code(ICD10CM, c) for c in ("T40.0X1A", "T40.2X5A", " t40.601a ", "", "T40.0X1A")]
    first = [matcher.matches(c) for c in codes]
    assert first == [True, False, True, False, True]
    assert [matcher.matches(c) for c in codes] == first
    assert matcher.matches(Code(SNOMED, "T40.0X1A")) is False  # the system is in the key
