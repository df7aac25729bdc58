"""The feedback report (``oih-cds feedback-report [--json] [--since]``) as text or JSON.

Only aggregates and coded override reasons appear here: never user comments (which may
contain PHI), never card or hook identifiers.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from service.storage.store import ReasonCount, TopicReport

UNKNOWN_TOPIC = "(unknown card)"
HEADERS = ("topic", "shown", "accepted", "overridden", "top override reasons")
_NUMERIC = (False, True, True, True, False)


def _reason_label(reason: ReasonCount) -> str:
    if reason.code is None:
        return f"(no coded reason) x{reason.count}"
    label = reason.code if not reason.display else f"{reason.code} {reason.display!r}"
    return f"{label} x{reason.count}"


def _rows(reports: Sequence[TopicReport]) -> list[tuple[str, ...]]:
    return [
        (
            r.topic if r.topic is not None else UNKNOWN_TOPIC,
            str(r.shown),
            str(r.accepted),
            str(r.overridden),
            ", ".join(_reason_label(reason) for reason in r.top_override_reasons) or "-",
        )
        for r in reports
    ]


def render_table(reports: Sequence[TopicReport]) -> str:
    """Plain-text table with aligned columns (numbers right-aligned), one topic per line."""
    if not reports:
        return "No cards or feedback recorded in this period.\n"
    rows = [HEADERS, *_rows(reports)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADERS))]

    def line(row: Sequence[str]) -> str:
        cells = [
            cell.rjust(width) if numeric else cell.ljust(width)
            for cell, width, numeric in zip(row, widths, _NUMERIC, strict=True)
        ]
        return "  ".join(cells).rstrip()

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([line(HEADERS), rule, *(line(row) for row in rows[1:])]) + "\n"


def render_json(reports: Sequence[TopicReport]) -> str:
    """``{"topics": [TopicReport, ...]}``: an object, so fields can be added later."""
    return json.dumps({"topics": [r.to_dict() for r in reports]}, indent=2) + "\n"


def render_report(rows: Sequence[TopicReport], as_json: bool) -> str:
    return render_json(rows) if as_json else render_table(rows)
