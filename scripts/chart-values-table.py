#!/usr/bin/env python3
"""Print the Markdown values table of helm/oih-cds/values.yaml (for the chart README).

Each row is a leaf key path, its default and the `# --` comment written above it (or above the
closest documented parent). Usage: scripts/chart-values-table.py [values.yaml]
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import yaml

KEY = re.compile(r"^(?P<indent>\s*)(?P<name>[A-Za-z][A-Za-z0-9]*):")


def comments(lines: list[str]) -> dict[str, str]:
    """Key path -> its `# --` description (continuation comment lines joined)."""
    found: dict[str, str] = {}
    stack: list[tuple[int, str]] = []
    pending: list[str] = []
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("# --"):
            pending = [stripped[4:].strip()]
            continue
        if stripped.startswith("#") and pending:
            pending.append(stripped[1:].strip())
            continue
        match = KEY.match(line)
        if not match or stripped.startswith("-"):
            pending = []
            continue
        indent = len(match["indent"])
        while stack and stack[-1][0] >= indent:
            stack.pop()
        stack.append((indent, match["name"]))
        if pending:
            found[".".join(name for _, name in stack)] = " ".join(pending)
        pending = []
    return found


def leaves(value: object, path: str = "") -> list[tuple[str, object]]:
    if isinstance(value, dict) and value:
        return [
            row
            for key, child in value.items()
            for row in leaves(child, f"{path}.{key}" if path else key)
        ]
    return [(path, value)]


def main() -> None:
    path = Path(sys.argv[1] if len(sys.argv) > 1 else "helm/oih-cds/values.yaml")
    text = path.read_text()
    docs = comments(text.splitlines())
    print("| Key | Default | Description |")
    print("|---|---|---|")
    for key, default in leaves(yaml.safe_load(text)):
        parts = key.split(".")
        doc = next(
            (
                docs[".".join(parts[:n])]
                for n in range(len(parts), 0, -1)
                if ".".join(parts[:n]) in docs
            ),
            "",
        )
        shown = json.dumps(default).replace("|", "\\|")
        print(f"| `{key}` | `{shown}` | {doc.replace('|', '/')} |")


if __name__ == "__main__":
    main()
