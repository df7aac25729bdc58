"""The Markdown catalogue of scenarios (``CATALOGUE.md``), generated from the YAML."""

from __future__ import annotations

from service.scenarios.builder import list_scenarios
from service.scenarios.model import TOPICS

REGENERATE = "python -m service.scenarios --catalogue > service/scenarios/CATALOGUE.md"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render_catalogue() -> str:
    """The whole ``CATALOGUE.md`` text."""
    infos = list_scenarios()
    lines = [
        "# Scenario catalogue",
        "",
        "<!-- Generated from service/scenarios/data/*.yaml: do not edit by hand. -->",
        f"<!-- Regenerate with: {REGENERATE} -->",
        "",
        f"{len(infos)} synthetic patients. Dates are relative to the `as_of` day the hook "
        "fires. *Fires* and *silent* are what clinical-rules.md §6 says the rules should do "
        "for the scenario's hook; topics in neither column are not asserted. A topic "
        "marked with an indicator (e.g. `oih-evaluate` (critical)) also states the urgency.",
        "",
        "Topics: " + ", ".join(f"`{t}`" for t in TOPICS) + ".",
        "",
    ]
    current_file = None
    for info in infos:
        if info.source_file != current_file:
            current_file = info.source_file
            lines += [
                f"## {current_file}",
                "",
                "| Scenario | Story | Hook | Fires | Silent |",
                "|---|---|---|---|---|",
            ]
        fires = ", ".join(
            f"`{t}`" + (f" ({info.indicators[t]})" if t in info.indicators else "")
            for t in info.fires
        )
        silent = ", ".join(f"`{t}`" for t in info.silent)
        lines.append(
            f"| `{info.name}` | {_cell(info.story)} | {info.hook} | {fires or '—'} | "
            f"{silent or '—'} |"
        )
        nxt = infos.index(info) + 1
        if nxt == len(infos) or infos[nxt].source_file != current_file:
            lines.append("")
    return "\n".join(lines)
