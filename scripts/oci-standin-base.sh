#!/usr/bin/env bash
# Build (once) a local stand-in for the Dockerfile's base image when no container registry is reachable.
#
# docker.io cannot be reached from CI, so the image build test creates a Debian bookworm rootfs with
# debootstrap (Debian's python3 3.11 + venv) and commits it under the exact name the Dockerfile's FROM
# uses. It is a stand-in, not the official image: good enough to prove the Dockerfile builds, the user,
# volume and entry point work, and the service answers; not a substitute for a real registry build.
#
# Usage: scripts/oci-standin-base.sh [OCI_DIR]    (default: <repo>/.cache/oci)
# Prints the buildah global options to use (storage driver and roots) on stdout.
# Needs root, buildah and debootstrap.  Env: DEBIAN_MIRROR (default http://deb.debian.org/debian).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
oci="${1:-${repo_root}/.cache/oci}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
# Every FROM image of the Dockerfile (one base, used by both stages).
base="$(awk 'toupper($1) == "FROM" {print $2}' "${repo_root}/Dockerfile" | sort -u)"
if [[ "$(wc -l <<<"${base}")" != 1 ]]; then
    echo "expected exactly one base image in the Dockerfile, got: ${base}" >&2
    exit 2
fi
case "${base}" in
    */*) full="${base}" ;;
    *) full="docker.io/library/${base}" ;;
esac

mkdir -p "${oci}/storage" "${oci}/run"
opts=(--storage-driver vfs --root "${oci}/storage" --runroot "${oci}/run")

if buildah "${opts[@]}" inspect --type image "${full}" >/dev/null 2>&1; then
    echo "${opts[*]}"
    exit 0
fi

rootfs="${oci}/rootfs"
if [[ ! -x "${rootfs}/usr/bin/python3" ]]; then
    rm -rf "${rootfs}"
    debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
        bookworm "${rootfs}" "${mirror}" >&2
    rm -f "${rootfs}"/usr/lib/python3*/EXTERNALLY-MANAGED
    ln -sf python3 "${rootfs}/usr/bin/python"
    rm -rf "${rootfs}"/var/cache/apt/archives/*.deb "${rootfs}"/var/lib/apt/lists/*
fi

c="$(buildah "${opts[@]}" from scratch)"
buildah "${opts[@]}" copy "${c}" "${rootfs}/" / >/dev/null
# Same environment as the official python image.
buildah "${opts[@]}" config \
    --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env LANG=C.UTF-8 \
    --cmd python3 "${c}"
buildah "${opts[@]}" commit -q "${c}" "${full}" >&2
buildah "${opts[@]}" rm "${c}" >/dev/null
echo "${opts[*]}"
