"""checkov policy scan of the rendered chart (every ci/ value set) and of the Dockerfile.

checkov pins old dependencies, so it runs from its own venv (scripts/checkov-venv.sh, cached under
.cache/checkov-venv; the first run needs PyPI and takes about 40 s). Always --skip-download.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from .helpers import CACHE_DIR, CI_VALUES, DOCKERFILE, REPO_ROOT, render


@pytest.fixture(scope="session")
def checkov() -> str:
    result = subprocess.run(
        [str(REPO_ROOT / "scripts" / "checkov-venv.sh"), str(CACHE_DIR / "checkov-venv")],
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    if result.returncode != 0:
        tail = result.stderr[-3000:]
        pytest.fail(f"could not create the checkov venv (needs PyPI once):\n{tail}")
    return result.stdout.strip().splitlines()[-1]


def _scan(checkov: str, *args: str) -> dict[str, Any]:
    result = subprocess.run(
        [checkov, *args, "--skip-download", "--output", "json"],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"},
    )
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError:
        tail = result.stderr[-3000:]
        pytest.fail(f"checkov produced no JSON report (exit {result.returncode}):\n{tail}")
    reports = report if isinstance(report, list) else [report]
    assert reports, "checkov scanned nothing"
    merged: dict[str, Any] = {"passed": [], "failed": [], "skipped": [], "parsing_errors": []}
    for one in reports:
        results = one["results"]
        merged["passed"] += results.get("passed_checks", [])
        merged["failed"] += results.get("failed_checks", [])
        merged["skipped"] += results.get("skipped_checks", [])
        merged["parsing_errors"] += results.get("parsing_errors", [])
        assert one["summary"]["failed"] == len(results.get("failed_checks", []))
    return merged


def _describe(checks: list[dict[str, Any]]) -> str:
    return "\n".join(
        f"{c['check_id']} {c['check_name']} - {c['resource']} ({c['file_path']})" for c in checks
    )


@pytest.fixture(scope="module")
def rendered_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from .helpers import load_values

    root = tmp_path_factory.mktemp("rendered")
    for values_file in CI_VALUES:
        target = root / values_file.stem
        target.mkdir()
        for name, text in render(load_values(values_file)).items():
            if name.endswith(".yaml") and text.strip():
                (target / Path(name).name).write_text(text)
    return root


def test_checkov_rendered_manifests(checkov: str, rendered_dir: Path) -> None:
    report = _scan(checkov, "--directory", str(rendered_dir), "--framework", "kubernetes")
    assert report["parsing_errors"] == []
    assert report["failed"] == [], _describe(report["failed"])
    scanned = {c["resource"].split(".")[0] for c in report["passed"]}
    assert {"Deployment", "Service", "ServiceAccount", "ConfigMap", "Ingress"} <= scanned
    # Every skip is one of ours, annotated on the resource with its reason.
    for skipped in report["skipped"]:
        assert skipped["check_id"] in {"CKV_K8S_43", "CKV_K8S_35"}, _describe([skipped])
        assert len(skipped["check_result"].get("suppress_comment", "")) > 20


def test_checkov_dockerfile(checkov: str) -> None:
    report = _scan(checkov, "--file", str(DOCKERFILE), "--framework", "dockerfile")
    assert report["failed"] == [], _describe(report["failed"])
    assert report["skipped"] == []
    ids = {c["check_id"] for c in report["passed"]}
    # USER set, HEALTHCHECK present, no `latest` base: the checks that matter most here.
    assert {"CKV_DOCKER_2", "CKV_DOCKER_3", "CKV_DOCKER_7"} <= ids
