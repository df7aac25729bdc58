"""Shared paths and helpers for the deployment tests (chart, Dockerfile, image)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import helm_python as helm
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
CHART_DIR = REPO_ROOT / "helm" / "oih-cds"
CI_VALUES = sorted((CHART_DIR / "ci").glob("*-values.yaml"))
DOCKERFILE = REPO_ROOT / "Dockerfile"
CACHE_DIR = REPO_ROOT / ".cache"
RELEASE = "demo"
NAMESPACE = "oih-cds"
# Oldest supported (Chart.yaml kubeVersion) and a current release.
KUBE_VERSIONS = ("1.29.0", "1.33.0")

helm.disable_logging()


def load_values(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text()) or {}
    assert isinstance(data, dict), f"{path} is not a mapping"
    return data


def render(values: dict[str, Any] | None = None) -> dict[str, str]:
    """Render the chart like `helm template demo helm/oih-cds -n oih-cds -f values`."""
    with helm.Chart.load(CHART_DIR) as chart:
        return chart.render(values=values or {}, name=RELEASE, namespace=NAMESPACE)


@functools.cache
def _render_file(path: Path) -> dict[str, str]:
    return render(load_values(path))


def manifests(rendered: dict[str, str]) -> list[dict[str, Any]]:
    """All Kubernetes objects of a render (NOTES.txt and empty templates dropped)."""
    docs: list[dict[str, Any]] = []
    for name, text in sorted(rendered.items()):
        if not name.endswith((".yaml", ".yml")):
            continue
        docs.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return docs


def manifests_for(values_file: Path) -> list[dict[str, Any]]:
    return manifests(_render_file(values_file))


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [doc for doc in docs if doc["kind"] == kind]


def one(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = by_kind(docs, kind)
    assert len(found) == 1, f"expected one {kind}, got {len(found)}"
    return found[0]


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    """Container env as {name: value or valueFrom}."""
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}
