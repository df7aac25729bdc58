"""The CDC opioid IG value sets the rules need, loaded once from package data.

Expansions are shipped pre-computed (``rules/data/valuesets/``), so membership is a
set lookup and nothing is fetched from a terminology server at run time.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from importlib import resources
from types import MappingProxyType

VALUE_SET_BASE = "http://fhir.org/guides/cdc/opioid-cds/ValueSet/"
_FILE = "opioid-cds-valuesets.json"


@cache
def load_value_sets() -> Mapping[str, frozenset[tuple[str, str]]]:
    """Value-set id → frozenset of (system, code), read-only."""
    raw = json.loads(
        resources.files("rules.data.valuesets").joinpath(_FILE).read_text(encoding="utf-8")
    )
    out: dict[str, frozenset[tuple[str, str]]] = {}
    for vs_id, body in raw["valueSets"].items():
        out[vs_id] = frozenset(
            (system, code) for system, codes in body["codes"].items() for code in codes
        )
    return MappingProxyType(out)


def source() -> str:
    raw = json.loads(
        resources.files("rules.data.valuesets").joinpath(_FILE).read_text(encoding="utf-8")
    )
    return str(raw["source"])
