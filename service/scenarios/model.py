"""The compact scenario language: what a ``data/*.yaml`` file may say.

Every day is an offset from ``as_of`` (day 0 is the day the hook fires; ``-30`` is a
month earlier), so that a scenario can be replayed on any date. The models forbid
unknown keys, so that a typo in a YAML file fails loudly instead of silently dropping
part of a clinical story.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

#: Card topics the rules can emit; ``expect`` keys must be one of these.
TOPICS: tuple[str, ...] = (
    "oih-evaluate",  # card A: evaluate for possible opioid-induced hyperalgesia
    "avoid-escalation",  # card B: avoid further opioid dose escalation
    "consider-rotation",  # card C: consider opioid rotation
    "reassess-pain",  # auxiliary A-gap: dose increased, no pain reassessment since
    "post-taper-pain",  # auxiliary: pain rising during a taper
    "offer-naloxone",  # auxiliary: naloxone
    "mme-incomplete",  # info: MME could not be computed
    "pregnancy-specialist",  # info: pregnancy recorded, cards A-C replaced by referral advice
)

Topic = Literal[
    "oih-evaluate",
    "avoid-escalation",
    "consider-rotation",
    "reassess-pain",
    "post-taper-pain",
    "offer-naloxone",
    "mme-incomplete",
    "pregnancy-specialist",
]
Outcome = Literal["fires", "silent"]
Indicator = Literal["info", "warning", "critical"]
Hook = Literal["patient-view", "order-select", "order-sign"]
HOOKS: tuple[str, ...] = ("patient-view", "order-select", "order-sign")

EncounterClass = Literal["AMB", "EMER", "IMP", "ACUTE", "OBSENC", "VR", "HH"]

_NAME = re.compile(r"^[a-z0-9]+(-[a-z0-9.]+)*$")
_DOSE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(mg|mcg|mcg/h|mL|tab|cap|patch|film|spray)\s*$")
_FREQ = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*(h|d|wk)\s*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DrugInfo(_Strict):
    """One row of ``data/drugs.yaml``."""

    rxcui: str
    display: str
    form: str
    form_rxcui: str
    ingredient: str
    ingredient_rxcui: str | None
    strength: str
    unit: Literal["tablet", "capsule", "patch", "film", "device", "mL"]
    route: Literal["oral", "transdermal", "sublingual", "nasal", "subcutaneous"]
    kind: Literal["opioid", "buprenorphine", "naloxone", "benzodiazepine", "non-opioid"]
    source: str

    @property
    def strength_value(self) -> float:
        return float(self.strength.split()[0])

    @property
    def strength_unit(self) -> str:
        return self.strength.split()[1]


def parse_dose(text: str) -> tuple[float, str]:
    """``"10 mg"`` → ``(10.0, "mg")``; units: mg, mcg, mcg/h, mL, tab, cap, patch, film, spray."""
    m = _DOSE.match(text)
    if not m:
        raise ValueError(
            f"dose {text!r} is not '<number> <mg|mcg|mcg/h|mL|tab|cap|patch|film|spray>'"
        )
    return float(m.group(1)), m.group(2)


def parse_freq(text: str) -> tuple[int, float, str]:
    """``"4/d"`` → ``(4, 1, "d")``; ``"1/72h"`` → ``(1, 72, "h")``; ``"1/3d"`` → ``(1, 3, "d")``."""
    m = _FREQ.match(text)
    if not m:
        raise ValueError(f"frequency {text!r} is not '<count>/<period><h|d|wk>' (e.g. 4/d, 1/72h)")
    return int(m.group(1)), float(m.group(2) or 1), m.group(3)


class OrderSpec(_Strict):
    """A MedicationRequest, or a chain of refills of the same directions.

    ``start`` is the day of the first order. With ``through`` the order is re-written
    every ``every`` days (default: ``days``) so that supply covers ``start`` to
    ``through`` exactly (the last supply is shortened to end on ``through``);
    ``through: ongoing`` keeps re-writing full supplies until one covers day 0.
    """

    drug: str
    dose: str | None = None
    freq: str | None = None
    freq_max: int | None = None
    prn: bool = False
    days: int = Field(30, ge=1)
    qty: float | None = None
    start: int = 0
    through: int | Literal["ongoing"] | None = None
    every: int | None = Field(None, ge=1)
    status: Literal["active", "completed", "stopped", "on-hold", "cancelled"] | None = None
    refills: int | None = Field(None, ge=0)
    sig_text: str | None = None
    category: Literal["community", "outpatient", "inpatient", "discharge"] = "community"
    medication_reference: bool = False  # Epic style: a Medication resource, referenced
    reason: CodingSpec | None = None  # MedicationRequest.reasonCode
    note: str | None = None  # for the human reader only

    @field_validator("dose")
    @classmethod
    def _dose(cls, v: str | None) -> str | None:
        if v is not None:
            parse_dose(v)
        return v

    @field_validator("freq")
    @classmethod
    def _freq(cls, v: str | None) -> str | None:
        if v is not None:
            parse_freq(v)
        return v

    @model_validator(mode="after")
    def _structured_or_text(self) -> OrderSpec:
        if (self.dose is None) != (self.freq is None):
            raise ValueError("give both dose and freq, or neither (sig_text only)")
        if self.dose is None and not self.sig_text:
            raise ValueError("an order needs dose + freq, or sig_text")
        if isinstance(self.through, int) and self.through < self.start:
            raise ValueError("through is before start")
        if self.start > 0:
            raise ValueError("start is in the future (day offsets are ≤ 0)")
        return self


class DispenseSpec(_Strict):
    """A MedicationDispense (or a chain of them every ``every`` days until ``through``)."""

    drug: str
    qty: float
    days: int = Field(ge=1)
    start: int
    through: int | Literal["ongoing"] | None = None
    every: int | None = Field(None, ge=1)
    dose: str | None = None
    freq: str | None = None
    prn: bool = False
    status: Literal["completed", "in-progress", "cancelled", "entered-in-error"] = "completed"

    @model_validator(mode="after")
    def _check(self) -> DispenseSpec:
        if self.dose is not None:
            parse_dose(self.dose)
        if self.freq is not None:
            parse_freq(self.freq)
        if self.start > 0:
            raise ValueError("start is in the future (day offsets are ≤ 0)")
        return self


PainPoint = Annotated[list[Any], Field(min_length=2, max_length=3)]


class PainSeries(_Strict):
    """Pain scores of one instrument: ``[day, value]`` or ``[day, value, encounter class]``."""

    instrument: Literal["nrs", "peg", "peg-item1"] = "nrs"
    setting: EncounterClass = "AMB"
    value_as: Literal["quantity", "integer"] = "quantity"
    scores: list[PainPoint]

    @field_validator("scores")
    @classmethod
    def _scores(cls, v: list[list[Any]]) -> list[list[Any]]:
        for point in v:
            day, value = point[0], point[1]
            if not isinstance(day, int) or day > 0:
                raise ValueError(f"pain day {day!r} must be an integer offset ≤ 0")
            if not isinstance(value, int | float) or not 0 <= value <= 10:
                raise ValueError(f"pain value {value!r} must be a number 0–10")
            if len(point) == 3 and point[2] not in ("AMB", "EMER", "IMP", "ACUTE", "OBSENC", "VR"):
                raise ValueError(f"encounter class {point[2]!r} is not known")
        return v


class CodingSpec(_Strict):
    system: Literal["icd10", "snomed"]
    code: str
    display: str


class ConditionSpec(_Strict):
    """A Condition; ``encounter_days`` makes one encounter-diagnosis per AMB visit."""

    code: str
    system: Literal["icd10", "snomed"] = "icd10"
    display: str
    also: list[CodingSpec] = []
    onset: int
    recorded: int | None = None
    abatement: int | None = None
    status: Literal["active", "recurrence", "relapse", "inactive", "remission", "resolved"] = (
        "active"
    )
    verification: Literal["confirmed", "provisional", "unconfirmed", "refuted"] = "confirmed"
    category: Literal["problem-list-item", "encounter-diagnosis", "health-concern"] = (
        "problem-list-item"
    )
    encounter_days: list[int] = []
    encounter_class: EncounterClass = "AMB"


class EncounterSpec(_Strict):
    cls: EncounterClass = Field(alias="class")
    start: int
    end: int | None = None
    status: Literal["planned", "in-progress", "finished", "cancelled"] = "finished"
    type: str | None = None
    disposition: Literal["hospice", "home"] | None = None

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class ProcedureSpec(_Strict):
    code: str
    system: Literal["snomed"] = "snomed"
    display: str
    day: int
    status: Literal["completed", "in-progress", "not-done"] = "completed"


class LabSpec(_Strict):
    kind: Literal["egfr", "qtc"]
    day: int
    value: float


class ContextSpec(_Strict):
    """Where the clinician is when the hook fires (becomes ``context.encounterId``)."""

    encounter: EncounterSpec


class Scenario(_Strict):
    """One named synthetic patient with a one-line clinical story."""

    name: str = Field(max_length=50)
    title: str
    story: str = Field(max_length=100)
    age: int = Field(ge=0, le=110)
    sex: Literal["female", "male", "other", "unknown"]
    hook: Hook | None = None
    tags: list[str] = []
    notes: str | None = None
    orders: list[OrderSpec] = []
    dispenses: list[DispenseSpec] = []
    pain: list[PainSeries] = []
    conditions: list[ConditionSpec] = []
    encounters: list[EncounterSpec] = []
    procedures: list[ProcedureSpec] = []
    labs: list[LabSpec] = []
    draft: OrderSpec | None = None
    context: ContextSpec | None = None
    expect: dict[Topic, Outcome]
    indicators: dict[Topic, Indicator] = {}
    source_file: str = ""

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError(f"scenario name {v!r} must be lower-case words joined by '-'")
        return v

    @field_validator("story", "title")
    @classmethod
    def _one_line(cls, v: str) -> str:
        if "\n" in v or not v.strip():
            raise ValueError("must be one non-empty line")
        return v

    @model_validator(mode="after")
    def _check(self) -> Scenario:
        if self.draft is not None and self.draft.start != 0:
            raise ValueError("the draft order is written today: leave its start at 0")
        for topic in self.indicators:
            if self.expect.get(topic) != "fires":
                raise ValueError(f"indicator given for {topic!r}, which is not expected to fire")
        return self

    @property
    def primary_hook(self) -> str:
        """The hook ``expect`` is for: ``hook``, else order-sign with a draft, else patient-view."""
        if self.hook is not None:
            return self.hook
        return "order-sign" if self.draft is not None else "patient-view"

    @property
    def hooks(self) -> tuple[str, ...]:
        """Hooks a request can be built for (order-select needs a draft to select)."""
        return HOOKS if self.draft is not None else ("patient-view", "order-sign")


class ScenarioInfo(_Strict):
    """What :func:`service.scenarios.list_scenarios` tells about one scenario."""

    name: str
    title: str
    story: str
    tags: tuple[str, ...]
    hook: str
    expect: dict[str, str]
    indicators: dict[str, str]
    source_file: str

    @property
    def fires(self) -> tuple[str, ...]:
        return tuple(t for t in TOPICS if self.expect.get(t) == "fires")

    @property
    def silent(self) -> tuple[str, ...]:
        return tuple(t for t in TOPICS if self.expect.get(t) == "silent")
