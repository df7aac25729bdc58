"""Procedure / ServiceRequest → :class:`rules.timeline.ProcedureFact`.

Used for end-of-life exclusions (hospice referral, palliative care) and the acute
event filter (recent surgery). A ServiceRequest is dated by its occurrence, else by
when it was authored.
"""

from __future__ import annotations

from rules.timeline import ProcedureFact
from service.fhir.resources import ParsedResource, Procedure, ServiceRequest
from service.normalize.common import codes_of, local_reference, to_day


def procedure_fact(parsed: ParsedResource) -> ProcedureFact:
    model = parsed.model
    if isinstance(model, Procedure):
        day = to_day(model.performedDateTime)
        if day is None and model.performedPeriod is not None:
            day = to_day(model.performedPeriod.start) or to_day(model.performedPeriod.end)
        return ProcedureFact(
            codes=codes_of(model.code),
            day=day,
            status=model.status,
            reference=local_reference("Procedure", model.id, parsed.location),
        )
    assert isinstance(model, ServiceRequest)
    day = to_day(model.occurrenceDateTime)
    if day is None and model.occurrencePeriod is not None:
        day = to_day(model.occurrencePeriod.start)
    return ProcedureFact(
        codes=codes_of(model.code),
        day=day or to_day(model.authoredOn),
        status=model.status,
        reference=local_reference("ServiceRequest", model.id, parsed.location),
    )
