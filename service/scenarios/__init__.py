"""Named synthetic patients for the sandbox, demos and the rules' scenario tests.

Each scenario is a compact, clinician-readable YAML story (``data/*.yaml``) with dates
relative to an ``as_of`` day, expanded into FHIR R4 resources, prefetch Bundles, a
draftOrders Bundle and complete CDS Hooks request bodies. ``expect`` documents what the
rules should do (per clinical-rules.md §6); ``CATALOGUE.md`` lists them all.
"""

from service.scenarios.builder import (
    DEFAULT_BASE_URL,
    DEFAULT_USER_ID,
    ExpandedScenario,
    build_draft_orders,
    build_prefetch,
    build_request,
    drugs,
    expand,
    list_scenarios,
    load_scenario,
    patient_bundle,
)
from service.scenarios.catalogue import render_catalogue
from service.scenarios.model import HOOKS, TOPICS, Scenario, ScenarioInfo

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_USER_ID",
    "HOOKS",
    "TOPICS",
    "ExpandedScenario",
    "Scenario",
    "ScenarioInfo",
    "build_draft_orders",
    "build_prefetch",
    "build_request",
    "drugs",
    "expand",
    "list_scenarios",
    "load_scenario",
    "patient_bundle",
    "render_catalogue",
]
