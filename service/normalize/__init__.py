"""FHIR R4 (validated R4B models) → the plain :class:`rules.timeline.PatientTimeline`.

Entry point: :func:`service.normalize.timeline.build_timeline`. Pure functions: the
day is passed in (``as_of``), nothing is logged, problems become ``DataGap``s.
"""
