"""Condition → :class:`rules.timeline.ConditionFact` (exclusions and risk modifiers).

All codings are kept (SNOMED, ICD-10-CM, local): the value sets the rules match are
mixed. Status, verification and category are reduced to their codes; the rules
decide what "active" means. Onset/abatement take the first day of a period or of a
partial date; age/range/string onsets are not dated.
"""

from __future__ import annotations

from rules.timeline import ConditionFact
from service.fhir.resources import Condition, ParsedResource
from service.normalize.common import codes_of, concept_codes, first_code, local_reference, to_day


def condition_fact(parsed: ParsedResource) -> ConditionFact:
    cond = parsed.model
    assert isinstance(cond, Condition)
    onset = to_day(cond.onsetDateTime)
    if onset is None and cond.onsetPeriod is not None:
        onset = to_day(cond.onsetPeriod.start)
    abatement = to_day(cond.abatementDateTime)
    if abatement is None and cond.abatementPeriod is not None:
        abatement = to_day(cond.abatementPeriod.end) or to_day(cond.abatementPeriod.start)
    return ConditionFact(
        codes=codes_of(cond.code),
        clinical_status=first_code(cond.clinicalStatus),
        verification_status=first_code(cond.verificationStatus),
        categories=concept_codes(cond.category),
        onset=onset,
        recorded=to_day(cond.recordedDate),
        abatement=abatement,
        encounter_reference=cond.encounter.reference if cond.encounter else None,
        reference=local_reference("Condition", cond.id, parsed.location),
    )
