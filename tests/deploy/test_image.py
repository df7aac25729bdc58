"""Build the real image from the Dockerfile with buildah and run it.

docker.io is unreachable in CI, so scripts/oci-standin-base.sh first builds a Debian bookworm
stand-in for the base image with debootstrap (once; cached in .cache/oci). The image is then built
for real (multi-stage, pinned requirements.lock from PyPI, the project itself), run with
`buildah run --isolation chroot` (which shares the host network), and checked: /healthz and /readyz
answer, every server process runs as uid 10001, the image's own HEALTHCHECK command passes, SIGTERM
shuts down gracefully, and nothing is written outside /var/lib/oih-cds and /tmp.

Needs root, buildah and debootstrap (`apt-get install -y buildah debootstrap`), else it is skipped
with the reason. First run about 3 minutes (base ~1 min, build ~2 min); later runs about 2 minutes.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .helpers import CACHE_DIR, REPO_ROOT

pytestmark = pytest.mark.slow

IMAGE = "localhost/oih-cds:deploy-test"
REVISION = "0123456789abcdef0123456789abcdef01234567"
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
GRACEFUL_TIMEOUT = 5
# Paths the running service may write to; anything else breaks readOnlyRootFilesystem.
WRITABLE = ("/var/lib/oih-cds/", "/tmp/")
# Written by `buildah run` itself (bind-mount targets and runtime files), not by the service.
BUILDAH_OWN = ("/run/", "/etc/hosts", "/etc/resolv.conf", "/etc/hostname", "/etc/oih-cds/")


def _skip_reason() -> str | None:
    missing = [tool for tool in ("buildah", "debootstrap") if shutil.which(tool) is None]
    if missing:
        return (
            f"{' and '.join(missing)} not installed; image build test skipped "
            "(CI: apt-get install -y buildah debootstrap)"
        )
    if os.geteuid() != 0:
        return "image build test needs root (buildah vfs storage with chroot isolation)"
    return None


@dataclass(frozen=True)
class Buildah:
    opts: tuple[str, ...]

    def __call__(
        self, *args: str, timeout: float = 120, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            ["buildah", *self.opts, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            pytest.fail(
                f"buildah {' '.join(args[:3])} failed ({result.returncode}):\n"
                f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
            )
        return result


@pytest.fixture(scope="module")
def buildah() -> Buildah:
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    if not (REPO_ROOT / "requirements.lock").is_file():
        pytest.fail("requirements.lock is missing at the repository root (the Dockerfile needs it)")
    result = subprocess.run(
        [str(REPO_ROOT / "scripts" / "oci-standin-base.sh"), str(CACHE_DIR / "oci")],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(f"stand-in base image failed:\n{result.stderr[-4000:]}")
    return Buildah(tuple(result.stdout.split()))


@pytest.fixture(scope="module")
def image(buildah: Buildah) -> Iterator[str]:
    mounts = ["-v", f"{CA_BUNDLE}:{CA_BUNDLE}:ro"] if CA_BUNDLE.is_file() else []
    # No --layers: with the vfs driver every cached layer is a full copy (3x slower).
    buildah(
        "bud",
        "--isolation",
        "chroot",
        "--pull=never",
        "--format",
        "docker",
        *mounts,
        "--build-arg",
        "VERSION=0.0.0-test",
        "--build-arg",
        f"REVISION={REVISION}",
        "--tag",
        IMAGE,
        str(REPO_ROOT),
        timeout=1200,
    )
    yield IMAGE
    for container in buildah(
        "containers", "--quiet", "--filter", f"ancestor={IMAGE}", check=False
    ).stdout.split():
        buildah("rm", container, check=False)
    buildah("rmi", "--force", IMAGE, check=False)
    buildah("rmi", "--prune", check=False)


@pytest.fixture
def container(buildah: Buildah, image: str) -> Iterator[str]:
    name = buildah("from", "--pull-never", image).stdout.strip()
    yield name
    buildah("rm", name, check=False)


def _config(buildah: Buildah, image: str) -> dict[str, Any]:
    inspected = json.loads(buildah("inspect", "--type", "image", image).stdout)
    config: dict[str, Any] = inspected["Docker"]["config"]
    return config


def test_image_metadata(buildah: Buildah, image: str) -> None:
    config = _config(buildah, image)
    assert config["User"] == "10001:10001"
    assert config["Cmd"][:2] == ["oih-cds", "serve"]
    assert not config.get("Entrypoint")
    assert config["StopSignal"] == "SIGTERM"
    assert set(config["Volumes"]) == {"/var/lib/oih-cds"}
    assert set(config["ExposedPorts"]) == {"8080/tcp"}
    assert config["Healthcheck"]["Test"][:3] == ["CMD", "python", "-c"]
    env = dict(item.split("=", 1) for item in config["Env"])
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert env["OIH_DATA_DIR"] == "/var/lib/oih-cds"
    assert env["OIH_AUTH_MODE"] == "required"
    assert env["OIH_SANDBOX_ENABLED"] == "false"
    labels = config["Labels"]
    assert labels["org.opencontainers.image.version"] == "0.0.0-test"
    assert labels["org.opencontainers.image.revision"] == REVISION


def test_runtime_stage_has_no_build_tools(buildah: Buildah, container: str) -> None:
    probe = "for t in gcc cc c++ make ld git curl wget; do command -v $t; done; exit 0"
    found = buildah("run", "--isolation", "chroot", container, "--", "sh", "-c", probe).stdout
    assert found.split() == []
    # The project and its pinned dependencies are importable from the venv, as uid 10001.
    check = buildah(
        "run",
        "--isolation",
        "chroot",
        container,
        "--",
        "python",
        "-c",
        "import os, service.main, rules, cds_hooks; print(os.getuid())",
    ).stdout
    assert check.split() == ["10001"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def _processes() -> dict[int, dict[str, Any]]:
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            status = (entry / "status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        found[int(entry.name)] = {
            "argv": [a.decode(errors="replace") for a in argv if a],
            "ppid": int(fields["PPid"]),
            "uids": {int(u) for u in fields["Uid"].split()},
        }
    return found


def _server_tree(port: int) -> tuple[int, dict[int, dict[str, Any]]]:
    """The uvicorn main process serving `port` (not buildah's exec helper) and its descendants."""
    processes = _processes()
    mains = [
        pid
        for pid, p in processes.items()
        if "/opt/venv/bin/oih-cds" in p["argv"]
        and str(port) in p["argv"]
        and not p["argv"][0].startswith("buildah")
    ]
    assert len(mains) == 1, mains
    tree = {mains[0]: processes[mains[0]]}
    grew = True
    while grew:
        children = {pid: p for pid, p in processes.items() if p["ppid"] in tree and pid not in tree}
        tree.update(children)
        grew = bool(children)
    return mains[0], tree


def _pinned_issuer(tmp_path: Path) -> Path:
    """A trusted-issuer file with a pinned ES384 public key (no network needed at start-up)."""
    from cryptography.hazmat.primitives.asymmetric import ec

    numbers = ec.generate_private_key(ec.SECP384R1()).public_key().public_numbers()

    def b64(value: int) -> str:
        return base64.urlsafe_b64encode(value.to_bytes(48, "big")).rstrip(b"=").decode()

    jwk = {
        "kty": "EC",
        "crv": "P-384",
        "x": b64(numbers.x),
        "y": b64(numbers.y),
        "kid": "deploy-test",
        "use": "sig",
        "alg": "ES384",
    }
    path = tmp_path / "trusted-issuers.yaml"
    path.write_text(
        json.dumps({"issuers": [{"iss": "https://ehr.example.test", "jwks": {"keys": [jwk]}}]})
    )
    return path


def test_container_serves_healthz_as_uid_10001(
    buildah: Buildah, container: str, tmp_path: Path
) -> None:
    issuers = _pinned_issuer(tmp_path)
    port = _free_port()
    marker = tmp_path / "marker"
    marker.touch()
    time.sleep(1)  # mtime granularity for the write check below
    log = (tmp_path / "server.log").open("w+")
    server = subprocess.Popen(
        [
            "buildah",
            *buildah.opts,
            "run",
            "--isolation",
            "chroot",
            "-v",
            f"{issuers}:/etc/oih-cds/trusted-issuers.yaml:ro",
            "-e",
            "OIH_PUBLIC_BASE_URL=https://cds.example.test",
            "-e",
            "OIH_TRUSTED_ISSUERS_FILE=/etc/oih-cds/trusted-issuers.yaml",
            "-e",
            "OIH_CORS_ORIGINS=",
            "-e",
            "OIH_WORKERS=2",
            "-e",
            f"OIH_GRACEFUL_TIMEOUT_SECONDS={GRACEFUL_TIMEOUT}",
            container,
            "--",
            "oih-cds",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )

    def server_log() -> str:
        log.flush()
        log.seek(0)
        return log.read()[-4000:]

    try:
        deadline = time.monotonic() + 90
        status = 0
        while time.monotonic() < deadline and server.poll() is None:
            try:
                status, _body = _get(f"http://127.0.0.1:{port}/healthz")
                if status == 200:
                    break
            except OSError:
                pass
            time.sleep(0.5)
        assert status == 200, f"/healthz never answered 200:\n{server_log()}"
        assert _get(f"http://127.0.0.1:{port}/readyz")[0] == 200, server_log()

        main, tree = _server_tree(port)
        assert len(tree) >= 3, f"expected main + 2 workers: {tree}"
        for pid, process in tree.items():
            assert process["uids"] == {10001}, (pid, process)

        # The image's own HEALTHCHECK (exec form, python + urllib) passes, pointed at our port.
        healthcheck = _config(buildah, IMAGE)["Healthcheck"]["Test"][1:]
        healthcheck = [arg.replace(":8080/", f":{port}/") for arg in healthcheck]
        buildah("run", "--isolation", "chroot", container, "--", *healthcheck)

        # SIGTERM (the image's STOPSIGNAL) drains and exits within the graceful timeout.
        os.kill(main, signal.SIGTERM)
        deadline = time.monotonic() + GRACEFUL_TIMEOUT + 10
        while time.monotonic() < deadline and main in _processes():
            time.sleep(0.2)
        assert main not in _processes(), "server ignored SIGTERM"
        server.wait(timeout=10)
        assert "Application shutdown complete" in server_log()
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(timeout=10)
        log.close()

    # Read-only-rootfs friendly: the service wrote nothing outside its writable paths.
    root = Path(buildah("mount", container).stdout.strip())
    try:
        written = sorted(
            "/" + str(path.relative_to(root))
            for path in root.rglob("*")
            if not path.is_dir()
            and not path.is_symlink()
            and path.lstat().st_mtime > marker.stat().st_mtime
        )
    finally:
        buildah("umount", container, check=False)
    unexpected = [p for p in written if not p.startswith(WRITABLE + BUILDAH_OWN)]
    assert unexpected == []
