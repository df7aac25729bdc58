"""The date/dateTime/instant shortcut of the fast path gives exactly fhir_core's result.

``_temporal_shortcut`` skips fhir_core's partial-date and leap-second detours for the
complete forms. Pinned here: whenever it answers, the field's full R4B validator gives
the same value (type, instant and UTC offset included); whenever the full validator
rejects a string, the shortcut declines; and it answers for the forms real records use.
"""

from __future__ import annotations

from typing import Any

import pytest
from fhir.resources.R4B.medicationrequest import MedicationRequest
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.patient import Patient
from fhir_core.fhirabstractmodel import FHIRAbstractModel
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from service.fhir import resources

FIELDS: dict[str, tuple[type[FHIRAbstractModel], str]] = {
    "dateTime": (Observation, "effectiveDateTime"),
    "instant": (Observation, "issued"),
    "date": (Patient, "birthDate"),
    "authoredOn": (MedicationRequest, "authoredOn"),
}


def field(kind: str) -> Any:
    model, name = FIELDS[kind]
    plan = resources._plan(model)
    assert plan is not None
    f = plan.fields[name]
    assert f.shortcut is not None, f"{model.__name__}.{name} has no shortcut"
    return f


def full(f: Any, value: str) -> Any:
    try:
        return f.validator.validate_python(value)
    except (ValidationError, ValueError, TypeError):
        return resources._INVALID


def assert_agrees(f: Any, value: str) -> bool:
    """True when the shortcut answered (and agreed), False when it declined."""
    fast = f.shortcut(value)
    if fast is resources._MISSING:
        return False
    expected = full(f, value)
    assert expected is not resources._INVALID, value
    assert type(fast) is type(expected), value
    assert fast == expected, value
    if hasattr(expected, "utcoffset"):
        assert fast.utcoffset() == expected.utcoffset(), value
        assert type(fast.tzinfo) is type(expected.tzinfo), value
    return True


COMMON = [
    "2024-01-02",
    "2024-02-29",
    "2024-01-02T09:00:00Z",
    "2024-01-02T09:00:00+01:00",
    "2024-01-02T23:59:59.123456-05:00",
    "2024-01-02T09:00:00.1234567Z",  # more digits than a datetime keeps: truncated
    "1999-12-31T00:00:00+14:00",
]
DECLINED_OR_INVALID = [
    "2024",
    "2024-01",
    "2024-02-30",
    "2023-02-29",
    "2024-13-01",
    "0000-01-01",
    "2024-01-02T09:00:00",
    "2024-01-02T09:00Z",
    "2024-01-02T24:00:00Z",
    "2016-12-31T23:59:60Z",
    "2024-01-02T09:00:00+15:00",
    "2024-01-02 09:00:00Z",
    "2024-01-02T09:00:00z",
    "20240102",
    "",
    " 2024-01-02",
    "2024-01-02\n",
]


@pytest.mark.parametrize("kind", sorted(FIELDS))
@pytest.mark.parametrize("value", COMMON + DECLINED_OR_INVALID)
def test_shortcut_agrees_with_the_full_validator(kind: str, value: str) -> None:
    assert_agrees(field(kind), value)


@pytest.mark.parametrize("kind", ["dateTime", "instant", "authoredOn"])
@pytest.mark.parametrize("value", [v for v in COMMON if "T" in v])
def test_complete_date_times_take_the_shortcut(kind: str, value: str) -> None:
    assert assert_agrees(field(kind), value)


@pytest.mark.parametrize("kind", ["dateTime", "date", "authoredOn"])
def test_complete_dates_take_the_shortcut(kind: str) -> None:
    assert assert_agrees(field(kind), "2024-02-29")


@pytest.mark.parametrize("value", ["2016-12-31T23:59:60Z", "2024", "2024-01", "2023-02-29"])
def test_leap_seconds_partial_and_impossible_dates_go_the_full_way(value: str) -> None:
    assert field("dateTime").shortcut(value) is resources._MISSING


DIGITS = st.text(alphabet="0123456789", min_size=1, max_size=4)
date_like = st.builds(
    lambda y, m, d, h, mi, s, frac, zone, sep: (
        f"{y}-{m}-{d}" + (f"{sep}{h}:{mi}:{s}{frac}{zone}" if h is not None else "")
    ),
    st.text(alphabet="0123456789", min_size=4, max_size=4),
    st.sampled_from(["00", "01", "02", "09", "10", "12", "13", "1"]),
    st.sampled_from(["00", "01", "15", "28", "29", "30", "31", "32", "1"]),
    st.none() | st.sampled_from(["00", "09", "23", "24", "9"]),
    st.sampled_from(["00", "30", "59", "60"]),
    st.sampled_from(["00", "07", "59", "60", "61"]),
    st.sampled_from(["", ".0", ".123", ".1234567", "."]),
    st.sampled_from(["Z", "+00:00", "-05:00", "+13:59", "+14:00", "+14:01", "", "z", "+0500"]),
    st.sampled_from(["T", "t", " "]),
)


@settings(max_examples=3000, deadline=None)
@given(value=date_like, kind=st.sampled_from(sorted(FIELDS)))
def test_generated_date_strings_agree(value: str, kind: str) -> None:
    assert_agrees(field(kind), value)


@settings(max_examples=1000, deadline=None)
@given(value=st.text(max_size=40), kind=st.sampled_from(sorted(FIELDS)))
def test_arbitrary_strings_agree(value: str, kind: str) -> None:
    assert_agrees(field(kind), value)
