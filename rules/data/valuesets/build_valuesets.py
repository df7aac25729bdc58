"""Derive the compact value-set file the rules load at start-up.

Run from the repository root with the team's reference folder beside it:

    python rules/data/valuesets/build_valuesets.py ../shared/data/valuesets/opioid-cds-r4

It reads each CDC opioid IG value set's expansion and writes ``opioid-cds-valuesets.json``:
``{"source": ..., "valueSets": {id: {"url": ..., "codes": {system: [code, ...]}}}}``.
Nothing reads the reference folder at run time or in tests.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

#: The value sets the rules use (exclusions, risk modifiers, medication classes).
WANTED = {
    "sickle-cell-diseases": "sickle-cell-diseases.json",
    "cdc-malignant-cancer-conditions": "cdc-malignant-cancer-conditions.json",
    "conditions-likely-terminal-for-opioid-prescribing": (
        "conditions-likely-terminal-for-opioid-prescribing.json"
    ),
    "limited-life-expectancy-conditions": "limited-life-expectancy-conditions.json",
    "hospice-finding": "hospice-finding.json",
    "hospice-procedure": "hospice-procedure.json",
    "hospice-disposition": "valueset-hospice-disposition.json",
    "therapies-indicating-end-of-life-care": "therapies-indicating-end-of-life-care.json",
    "opioid-misuse-disorders": "opioid-misuse-disorders.json",
    "conditions-documenting-sleep-disordered-breathing": (
        "conditions-documenting-sleep-disordered-breathing.json"
    ),
    "benzodiazepine-medications": "benzodiazepine-medications.json",
    "cns-depressant-medications": "cns-depressant-medications.json",
    "naloxone-medications": "naloxone-medications.json",
    "buprenorphine-medications": "buprenorphine-medications.json",
    "methadone-medications": "methadone-medications.json",
    "buprenorphine-and-methadone-medications": "buprenorphine-and-methadone-medications.json",
    "opioid-analgesics-with-ambulatory-misuse-potential": (
        "opioid-analgesics-with-ambulatory-misuse-potential.json"
    ),
    "extended-release-opioid-with-ambulatory-misuse-potential": (
        "extended-release-opioid-with-ambulatory-misuse-potential.json"
    ),
}

SOURCE = (
    "cqframework/opioid-cds-r4 @ b29bdcbf6db6f3de26486dbc3820572ee9a78b89, "
    "input/vocabulary/valueset/*.json (expansions), CC0 1.0"
)


def main(source_dir: Path, out: Path) -> None:
    value_sets: dict[str, object] = {}
    for vs_id, filename in sorted(WANTED.items()):
        data = json.loads((source_dir / filename).read_text(encoding="utf-8"))
        codes: dict[str, list[str]] = {}
        for item in data.get("expansion", {}).get("contains", []):
            codes.setdefault(item["system"], []).append(item["code"])
        value_sets[vs_id] = {
            "url": data["url"],
            "codes": {system: sorted(set(c)) for system, c in sorted(codes.items())},
        }
    payload = {"source": SOURCE, "valueSets": value_sets}
    out.write_text(json.dumps(payload, indent=0, sort_keys=True) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(__file__).with_name("opioid-cds-valuesets.json"))
