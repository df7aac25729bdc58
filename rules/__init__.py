"""Pure clinical logic of oih-cds.

Nothing in this package knows about FHIR models, HTTP, the web framework, the
environment or the wall clock: it receives a :class:`rules.timeline.PatientTimeline`
(plain typed values, with ``as_of`` passed in) and returns findings. The import
direction is enforced by import-linter (see ``pyproject.toml``).
"""
