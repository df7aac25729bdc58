#!/usr/bin/env bash
# Create (once) an isolated virtualenv for checkov and print the path of its checkov executable.
#
# checkov pins old versions of packaging, networkx and boto3, so it must not share the project venv.
# The venv lives under .cache/ (git-ignored) and is reused while the pinned version matches.
#
# Usage: scripts/checkov-venv.sh [VENV_DIR]     (default: <repo>/.cache/checkov-venv)
# Env:   CHECKOV_VERSION (default 3.3.30), PYTHON (default python3)
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${1:-${repo_root}/.cache/checkov-venv}"
version="${CHECKOV_VERSION:-3.3.30}"
python="${PYTHON:-python3}"
stamp="${venv}/.checkov-version"

if [[ -x "${venv}/bin/checkov" && -f "${stamp}" && "$(cat "${stamp}")" == "${version}" ]]; then
    echo "${venv}/bin/checkov"
    exit 0
fi

rm -rf "${venv}"
mkdir -p "$(dirname "${venv}")"
"${python}" -m venv "${venv}" >&2
"${venv}/bin/python" -m pip install --quiet --disable-pip-version-check "checkov==${version}" >&2
echo "${version}" > "${stamp}"
echo "${venv}/bin/checkov"
