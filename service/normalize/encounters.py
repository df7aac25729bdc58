"""Encounter → :class:`rules.timeline.EncounterFact` (setting, hospice discharge, diagnoses).

``class`` is the v3 ActCode (AMB, EMER, IMP, ACUTE, OBSENC, VR...) that decides
whether a pain score or a hook call is ambulatory. Encounters are also indexed under
every key a reference may use (``Encounter/id``, the Bundle ``fullUrl`` such as
Synthea's ``urn:uuid:...``, an absolute URL) so Observations can find their class.
"""

from __future__ import annotations

from rules.timeline import EncounterFact
from service.fhir.resources import Encounter, ParsedResource
from service.normalize.common import codes_of, local_reference, resource_keys, to_day


def encounter_fact(parsed: ParsedResource) -> EncounterFact:
    enc = parsed.model
    assert isinstance(enc, Encounter)
    hospitalization = enc.hospitalization
    return EncounterFact(
        reference=local_reference("Encounter", enc.id, parsed.location),
        class_code=str(enc.class_fhir.code) if enc.class_fhir and enc.class_fhir.code else None,
        types=codes_of(enc.type),
        start=to_day(enc.period.start) if enc.period else None,
        end=to_day(enc.period.end) if enc.period else None,
        discharge_disposition=codes_of(
            hospitalization.dischargeDisposition if hospitalization else None
        ),
        diagnosis_condition_refs=tuple(
            d.condition.reference for d in enc.diagnosis or () if d.condition.reference
        ),
        status=enc.status,
    )


def encounter_keys(parsed: ParsedResource) -> tuple[str, ...]:
    """Every key under which an Observation's ``encounter`` reference may name this one."""
    return resource_keys("Encounter", parsed.model.id, parsed.full_url)
