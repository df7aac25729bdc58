"""Concept membership for codings: value sets, exact codes and ICD-10-style prefix ranges.

Value-set *loading* is elsewhere; expansions arrive as
``Mapping[str, frozenset[tuple[str, str]]]`` of (system, code), keyed by value-set id
or canonical URL. Prefix ranges (C00–C96, T40.0–T40.4) are not enumerable, so they come
from ``rules/data/codes.yaml``. When a value set is missing the matcher still uses the
listed codes and ranges, and says which value sets were missing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from rules.settings import CodeLists, ConceptCodes, default_code_lists
from rules.timeline import Code

__all__ = ["ConceptMatcher", "ValueSets", "concept_matcher", "normalise_prefix_code"]

ValueSets = Mapping[str, frozenset[tuple[str, str]]]


_MEMO_SIZE = 2048


def normalise_prefix_code(code: str) -> str:
    """ICD-style comparison form: trimmed, upper case, dots removed ("t40.2x1a" → "T402X1A")."""
    return code.strip().upper().replace(".", "")


def _parse_range(text: str) -> tuple[str, str]:
    low, _, high = text.partition("-")
    return normalise_prefix_code(low), normalise_prefix_code(high or low)


def _in_ranges(code: str, ranges: Iterable[tuple[str, str]]) -> bool:
    for low, high in ranges:
        width = len(low)
        if len(code) >= width and low <= code[:width] <= high:
            return True
    return False


@dataclass(frozen=True, slots=True)
class ConceptMatcher:
    """Tells whether a coding belongs to one concept of ``codes.yaml``."""

    name: str
    description: str
    members: frozenset[tuple[str, str]]
    exact: frozenset[tuple[str, str]]
    prefixes: tuple[tuple[str, tuple[tuple[str, str], ...]], ...]
    numeric: tuple[tuple[str, tuple[tuple[int, int, int], ...]], ...]
    excluded: tuple[tuple[str, tuple[tuple[str, str], ...]], ...]
    missing_value_sets: tuple[str, ...]
    # (system, code) → matches: a matcher lives for the process (concept_matcher caches
    # it), and a chart repeats a few codes many times. Bounded: cleared when full.
    _memo: dict[tuple[str, str], bool] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def matches(self, coding: Code) -> bool:
        key = (coding.system, coding.code)
        hit = self._memo.get(key)
        if hit is None:
            hit = self._matches(coding.system, coding.code)
            if len(self._memo) >= _MEMO_SIZE:
                self._memo.clear()
            self._memo[key] = hit
        return hit

    def _matches(self, system: str, code: str) -> bool:
        code = code.strip()
        if not code:
            return False
        hit = (system, code) in self.members or (system, code) in self.exact
        if not hit:
            norm = normalise_prefix_code(code)
            hit = any(system == s and _in_ranges(norm, r) for s, r in self.prefixes) or any(
                system == s
                and code.isdigit()
                and any(len(code) == w and lo <= int(code) <= hi for lo, hi, w in r)
                for s, r in self.numeric
            )
        if hit and self.excluded:
            norm = normalise_prefix_code(code)
            hit = not any(system == s and _in_ranges(norm, r) for s, r in self.excluded)
        return hit

    def first_match(self, codings: Iterable[Code]) -> Code | None:
        """The first coding that belongs to the concept, if any."""
        for coding in codings:
            if self.matches(coding):
                return coding
        return None


def _expand(
    table: Mapping[str, tuple[str, ...]], systems: Mapping[str, tuple[str, ...]]
) -> Iterable[tuple[str, str]]:
    for alias, values in table.items():
        for uri in systems[alias]:
            for value in values:
                yield uri, value


# Built matchers, keyed by concept name and the identities of the value sets and code
# lists they were built from. Each entry holds those two objects, so their ids cannot be
# reused by other objects while the entry exists. Bounded: cleared when full.
_MatcherKey = tuple[str, int, int]
_MATCHERS: dict[_MatcherKey, tuple[ValueSets | None, CodeLists, ConceptMatcher]] = {}
_MAX_MATCHERS = 256


def _constant(value_sets: ValueSets | None) -> bool:
    """Whether matchers built from ``value_sets`` may be reused: no value sets, or a
    read-only view (``rules.valuesets.load_value_sets`` gives one, loaded once per
    process). A plain dict may still be changed by its owner, so it is not cached."""
    return value_sets is None or isinstance(value_sets, MappingProxyType)


def concept_matcher(
    name: str, value_sets: ValueSets | None = None, codes: CodeLists | None = None
) -> ConceptMatcher:
    """A matcher for concept ``name`` using the supplied value sets and code lists.

    Built once per process for read-only value sets (see :func:`_constant`) and the
    same (frozen) code lists, so a hook call does not re-expand ranges or re-union
    value sets.
    """
    lists = codes or default_code_lists()
    if not _constant(value_sets):
        return _build_matcher(name, value_sets, lists)
    key = (name, id(value_sets), id(lists))
    cached = _MATCHERS.get(key)
    if cached is not None and cached[0] is value_sets and cached[1] is lists:
        return cached[2]
    matcher = _build_matcher(name, value_sets, lists)
    if len(_MATCHERS) >= _MAX_MATCHERS:
        _MATCHERS.clear()
    _MATCHERS[key] = (value_sets, lists, matcher)
    return matcher


def _build_matcher(name: str, value_sets: ValueSets | None, lists: CodeLists) -> ConceptMatcher:
    concept: ConceptCodes = lists.concept(name)
    supplied = value_sets or {}
    members: set[tuple[str, str]] = set()
    missing: list[str] = []
    for vs_id in concept.value_sets:
        expansion = supplied.get(vs_id, supplied.get(lists.value_set_base + vs_id))
        if expansion is None:
            missing.append(vs_id)
        else:
            members |= expansion
    prefixes: dict[str, list[tuple[str, str]]] = {}
    for uri, rng in _expand(concept.prefixes, lists.systems):
        prefixes.setdefault(uri, []).append(_parse_range(rng))
    excluded: dict[str, list[tuple[str, str]]] = {}
    for uri, rng in _expand(concept.exclude_prefixes, lists.systems):
        excluded.setdefault(uri, []).append(_parse_range(rng))
    numeric: dict[str, list[tuple[int, int, int]]] = {}
    for uri, rng in _expand(concept.numeric_ranges, lists.systems):
        low, _, high = rng.partition("-")
        numeric.setdefault(uri, []).append((int(low), int(high), len(low)))
    return ConceptMatcher(
        name=name,
        description=concept.description,
        members=frozenset(members),
        exact=frozenset((uri, c.strip()) for uri, c in _expand(concept.codes, lists.systems)),
        prefixes=tuple((u, tuple(r)) for u, r in prefixes.items()),
        numeric=tuple((u, tuple(r)) for u, r in numeric.items()),
        excluded=tuple((u, tuple(r)) for u, r in excluded.items()),
        missing_value_sets=tuple(missing),
    )
