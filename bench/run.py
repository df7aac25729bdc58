"""End-to-end benchmark of ``oih-cds serve``: one command, one table, one JSON file.

``make bench`` (= ``.venv/bin/python -m bench.run``; ``--quick`` for a short smoke run).

What it does, on 127.0.0.1 only (see bench/README.md for what each number means):

1. starts ``oih-cds serve`` as production does (a subprocess, 1 uvicorn worker, log
   level WARNING, auth disabled, a temporary data directory) and times start → the first
   200 from ``GET /readyz``; starts the floor app (``bench/floor_app.py``) the same way;
2. per size (small, typical, heavy from ``bench/generate.py``): sequential latency over
   keep-alive ``http.client`` after a warm-up, then wrk at concurrency 8, against the
   service and against the floor;
3. reads the worker's peak RSS (``VmHWM``) after the heavy run;
4. the FHIR path: the typical hook without prefetch against a local FHIR test server
   that adds 50 ms to every query;
5. the in-process parse cost (``bench/parse_bench.py`` and the generated requests).

Every loop is bounded in count and time; every process it starts is stopped at the end,
also on error or Ctrl-C. Results: ``bench/results/latest.json`` (``quick.json`` with
``--quick``) and the table on stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import http.client
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import orjson

from bench.generate import SIZES, build_chart, request_from_chart
from service.clock import system_clock

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
RESULTS = BENCH / "results"
HOOK_PATH = "/cds-services/oih-order-sign"
FHIR_LATENCY_S = 0.05
CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Plan:
    """How much to measure: full (``make bench``) or quick (a smoke run, ~1 minute)."""

    warmup: int
    requests: int  # sequential requests per size (after warm-up)
    max_seconds: float  # time bound of one sequential series
    wrk_seconds: int
    fhir_requests: int
    parse_runs: int


FULL = Plan(
    warmup=30, requests=500, max_seconds=150.0, wrk_seconds=10, fhir_requests=300, parse_runs=20
)
QUICK = Plan(warmup=5, requests=40, max_seconds=20.0, wrk_seconds=2, fhir_requests=20, parse_runs=3)


# --------------------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    name: str
    port: int
    proc: subprocess.Popen[bytes]
    log: Path
    ready_s: float = 0.0

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def start_server(
    name: str, argv: Sequence[str], env: dict[str, str], port: int, logdir: Path
) -> Server:
    log = logdir / f"{name}.log"
    with log.open("wb") as out:
        started = time.perf_counter()
        proc = subprocess.Popen(
            list(argv),
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    server = Server(name, port, proc, log)
    deadline = started + 30.0
    while True:
        if proc.poll() is not None:
            raise RuntimeError(
                f"{name} exited with {proc.returncode} before ready:\n{server.log_tail()}"
            )
        if time.perf_counter() > deadline:
            raise RuntimeError(f"{name} was not ready within 30 s:\n{server.log_tail()}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/readyz")
            if conn.getresponse().status == 200:
                server.ready_s = time.perf_counter() - started
                conn.close()
                return server
            conn.close()
        except OSError:
            pass
        time.sleep(0.02)


def stop_server(server: Server) -> None:
    """SIGINT (uvicorn's graceful stop), then SIGKILL after 15 s; only this process."""
    if server.proc.poll() is None:
        server.proc.send_signal(signal.SIGINT)
        try:
            server.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.proc.kill()
            server.proc.wait(timeout=5)


def children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        out += [int(p) for p in task.read_text().split()]
    return out


def proc_status(pid: int) -> dict[str, int]:
    """``VmHWM``/``VmRSS`` (kB) from /proc/<pid>/status."""
    found: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmHWM", "VmRSS"):
            found[key] = int(value.split()[0])
    return found


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (and its reaped children), in seconds."""
    raw = Path(f"/proc/{pid}/stat").read_text()
    fields = raw[raw.rindex(")") + 2 :].split()
    return sum(int(x) for x in fields[11:15]) / CLK_TCK


# --------------------------------------------------------------------------- measuring


def percentile(sorted_ms: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_ms:
        return float("nan")
    rank = max(1, min(len(sorted_ms), round(q / 100 * len(sorted_ms) + 0.5)))
    return sorted_ms[rank - 1]


def sequential(
    server: Server, body: bytes, plan: Plan, *, requests: int | None = None
) -> dict[str, Any]:
    """Blocking keep-alive POSTs, one at a time; latency = request sent → body read."""
    total = requests if requests is not None else plan.requests
    headers = {"Content-Type": "application/json", "Connection": "keep-alive"}
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    times: list[float] = []
    first: bytes = b""
    statuses: dict[int, int] = {}
    try:
        for _ in range(plan.warmup):
            conn.request("POST", HOOK_PATH, body, headers)
            resp = conn.getresponse()
            data = resp.read()
            first = first or data
            statuses[resp.status] = statuses.get(resp.status, 0) + 1
        cpu0 = cpu_seconds(server.proc.pid)
        started = time.perf_counter()
        deadline = started + plan.max_seconds
        while len(times) < total and time.perf_counter() < deadline:
            t0 = time.perf_counter()
            conn.request("POST", HOOK_PATH, body, headers)
            resp = conn.getresponse()
            resp.read()
            times.append((time.perf_counter() - t0) * 1000)
            statuses[resp.status] = statuses.get(resp.status, 0) + 1
        wall = time.perf_counter() - started
        cpu = cpu_seconds(server.proc.pid) - cpu0
    finally:
        conn.close()
    times.sort()
    cards = orjson.loads(first).get("cards", []) if first else []
    return {
        "n": len(times),
        "truncated_by_time": len(times) < total,
        "p50_ms": percentile(times, 50),
        "p95_ms": percentile(times, 95),
        "p99_ms": percentile(times, 99),
        "mean_ms": statistics.fmean(times) if times else float("nan"),
        "min_ms": times[0] if times else float("nan"),
        "max_ms": times[-1] if times else float("nan"),
        "server_cpu_ms_per_request": cpu * 1000 / max(1, len(times)),
        "wall_s": wall,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "cards": len(cards),
        "card_topics": sorted(
            str((c.get("source") or {}).get("topic", {}).get("code", "?")) for c in cards
        ),
    }


_RPS = re.compile(r"Requests/sec:\s+([\d.]+)")


def run_wrk(server: Server, body_file: Path, seconds: int) -> dict[str, Any]:
    """``wrk -t2 -c8 -d<s>s --latency --timeout 10s -s bench/post.lua URL -- body``."""
    url = f"http://127.0.0.1:{server.port}{HOOK_PATH}"
    argv = ["wrk", "-t2", "-c8", f"-d{seconds}s", "--latency", "--timeout", "10s"]
    argv += ["-s", str(BENCH / "post.lua"), url, "--", str(body_file)]
    cpu0 = cpu_seconds(server.proc.pid)
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60, check=False)
    wall = time.perf_counter() - started
    cpu = cpu_seconds(server.proc.pid) - cpu0
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    line = next((x for x in done.stdout.splitlines() if x.startswith("WRK_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no summary:\n{done.stdout}")
    summary = json.loads(line.removeprefix("WRK_JSON "))
    rps = _RPS.search(done.stdout)
    lat = {k: v / 1000 for k, v in summary["latency_us"].items()}
    errors = summary["errors"]
    return {
        "command": " ".join(["wrk", *argv[1:7], "-s", "bench/post.lua", "URL", "--", "BODY"]),
        "requests": summary["requests"],
        "req_per_s": float(rps.group(1))
        if rps
        else summary["requests"] / (summary["duration_us"] / 1e6),
        "p50_ms": lat["p50"],
        "p75_ms": lat["p75"],
        "p90_ms": lat["p90"],
        "p99_ms": lat["p99"],
        "max_ms": lat["max"],
        "errors": errors,
        "non_2xx": errors["status"],
        "server_cpu_percent": 100 * cpu / wall,
        "stdout": done.stdout.strip(),
    }


_FETCH = re.compile(
    r'^oih_cds_fhir_fetch_duration_seconds_(sum|count)\{slot="([^"]+)"\} ([0-9.e+-]+)$'
)


def fetch_metrics(server: Server) -> dict[str, dict[str, float]]:
    """Per-slot sum (s) and count of the service's FHIR fetch histogram (GET /metrics)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request("GET", "/metrics")
        text = conn.getresponse().read().decode()
    finally:
        conn.close()
    out: dict[str, dict[str, float]] = {}
    for line in text.splitlines():
        m = _FETCH.match(line)
        if m:
            out.setdefault(m.group(2), {})[m.group(1)] = float(m.group(3))
    return out


def best_ms(fn: Callable[[], object], runs: int) -> float:
    fn()
    best = float("inf")
    for _ in range(runs):
        gc.collect()
        t0 = time.perf_counter()
        fn()
        best = min(best, (time.perf_counter() - t0) * 1000)
    return best


def parse_costs(bodies: dict[str, bytes], as_of: date, runs: int) -> dict[str, Any]:
    """In-process cost of decoding and parsing each generated request (best of ``runs``)."""
    from bench.parse_bench import CASES, measure_case
    from service.api.parsing import parse_hook_call
    from service.normalize.timeline import build_timeline

    out: dict[str, Any] = {"generated": {}, "parse_bench": {}}
    for size in [z for z in ("typical", "heavy") if z in bodies]:
        body = bodies[size]
        call = parse_hook_call("oih-order-sign", body)
        prefetch = call.request.prefetch or {}
        draft = call.request.context["draftOrders"]
        enc = call.request.context.get("encounterId")

        def timeline(p: Any = prefetch, d: Any = draft, e: Any = enc) -> object:
            return build_timeline(p, d, as_of, context_encounter_id=e)

        orj = best_ms(lambda b=body: orjson.loads(b), runs)  # type: ignore[misc]
        hook = best_ms(lambda b=body: parse_hook_call("oih-order-sign", b), runs)  # type: ignore[misc]
        tl = best_ms(timeline, runs)
        out["generated"][size] = {
            "kib": len(body) / 1024,
            "orjson_ms": orj,
            "parse_hook_call_ms": hook,
            "build_timeline_ms": tl,
            "parse_total_ms": hook + tl,
            "ratio_to_orjson": (hook + tl) / orj,
        }
        n_req, n_obs = CASES[size]
        pb = measure_case(n_req, n_obs, runs)
        pb["ratio_to_orjson"] = pb["parse_normalise_ms"] / pb["orjson_ms"]
        out["parse_bench"][size] = pb
    return out


# --------------------------------------------------------------------------- context


def machine_info() -> dict[str, Any]:
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    wrk = shutil.which("wrk")
    wrk_version = "missing"
    if wrk:
        done = subprocess.run([wrk, "-v"], capture_output=True, text=True, timeout=10, check=False)
        wrk_version = (
            (done.stdout or done.stderr).splitlines()[0] if (done.stdout or done.stderr) else "?"
        )
    import fastapi
    import uvicorn

    return {
        "cpu_model": model,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "uvicorn": uvicorn.__version__,
        "fastapi": fastapi.__version__,
        "orjson": orjson.__version__,
        "wrk": wrk_version,
    }


def git_info() -> dict[str, Any]:
    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10, check=False
        )
        return done.stdout.strip()

    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": git("rev-parse", "HEAD") or "unknown", "dirty": bool(status)}


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


# --------------------------------------------------------------------------- report


@dataclass
class Row:
    label: str
    values: list[str]
    target: str = ""
    met: str = ""


@dataclass
class Table:
    columns: list[str]
    rows: list[Row] = field(default_factory=list)

    def add(
        self, label: str, values: Sequence[str], target: str = "", met: bool | None = None
    ) -> None:
        flag = "" if met is None else ("yes" if met else "NO")
        self.rows.append(Row(label, list(values), target, flag))

    def render(self) -> str:
        head = ["measurement", *self.columns, "target", "met"]
        body = [[r.label, *r.values, r.target, r.met] for r in self.rows]
        widths = [max(len(str(line[i])) for line in [head, *body]) for i in range(len(head))]
        lines = []
        for n, line in enumerate([head, *body]):
            cells = [
                str(c).ljust(w) if i == 0 else str(c).rjust(w)
                for i, (c, w) in enumerate(zip(line, widths, strict=True))
            ]
            lines.append("  ".join(cells).rstrip())
            if n == 0:
                lines.append("  ".join("-" * w for w in widths))
        return "\n".join(lines)


def f1(x: float) -> str:
    return f"{x:.1f}"


def f2(x: float) -> str:
    return f"{x:.2f}"


def build_report(results: dict[str, Any], plan_name: str) -> tuple[str, list[dict[str, Any]]]:
    sizes: list[str] = list(results["sizes"])
    s = results["sizes"]
    t = Table(sizes)
    targets: list[dict[str, Any]] = []

    def check(name: str, value: float, limit: float, *, at_least: bool = False) -> bool:
        met = value >= limit if at_least else value <= limit
        targets.append(
            {
                "name": name,
                "value": round(value, 3),
                "target": ("≥ " if at_least else "≤ ") + str(limit),
                "met": met,
            }
        )
        return met

    def per(key: str, sub: str, fmt: Callable[[float], str] = f2) -> list[str]:
        return [fmt(s[z][key][sub]) for z in sizes]

    typical = s.get("typical")
    heavy = s.get("heavy")
    t.add("request body (KiB)", [f"{s[z]['body_kib']:.0f}" for z in sizes])
    t.add(
        "MedicationRequests / pain Observations",
        [
            f"{s[z]['counts']['medicationRequests']}/{s[z]['counts']['painObservations']}"
            for z in sizes
        ],
    )
    t.add("cards returned", [str(s[z]["service_seq"]["cards"]) for z in sizes])
    t.add("service sequential n (after warm-up)", [str(s[z]["service_seq"]["n"]) for z in sizes])
    t.add(
        "service sequential p50 ms",
        per("service_seq", "p50_ms"),
        "typ ≤ 5, heavy ≤ 40",
        (check("typical p50 ms", typical["service_seq"]["p50_ms"], 5) if typical else True)
        & (check("heavy p50 ms", heavy["service_seq"]["p50_ms"], 40) if heavy else True),
    )
    t.add("service sequential p95 ms", per("service_seq", "p95_ms"))
    t.add(
        "service sequential p99 ms",
        per("service_seq", "p99_ms"),
        "typ ≤ 15",
        check("typical p99 ms", typical["service_seq"]["p99_ms"], 15) if typical else None,
    )
    t.add("service CPU ms per request (seq)", per("service_seq", "server_cpu_ms_per_request"))
    t.add("floor sequential p50 ms", per("floor_seq", "p50_ms"))
    t.add("floor sequential p95 ms", per("floor_seq", "p95_ms"))
    t.add("floor sequential p99 ms", per("floor_seq", "p99_ms"))
    ratios = {z: s[z]["service_seq"]["p50_ms"] / s[z]["floor_seq"]["p50_ms"] for z in sizes}
    t.add(
        "service p50 / floor p50",
        [f"{ratios[z]:.1f}x" for z in sizes],
        "typ ≤ 3x",
        check("typical p50 / floor p50", ratios["typical"], 3) if typical else None,
    )
    t.add(
        "service wrk c8 req/s",
        per("service_wrk", "req_per_s", f1),
        "typ ≥ 300",
        check("typical req/s at c8", typical["service_wrk"]["req_per_s"], 300, at_least=True)
        if typical
        else None,
    )
    t.add(
        "service wrk c8 p50 / p90 / p99 ms",
        [
            f"{s[z]['service_wrk']['p50_ms']:.1f}/{s[z]['service_wrk']['p90_ms']:.1f}/{s[z]['service_wrk']['p99_ms']:.1f}"
            for z in sizes
        ],
    )
    t.add(
        "service wrk errors (non-2xx, timeouts)",
        [
            f"{s[z]['service_wrk']['non_2xx']}, {s[z]['service_wrk']['errors']['timeout']}"
            for z in sizes
        ],
    )
    t.add("service CPU % during wrk", per("service_wrk", "server_cpu_percent", f1))
    t.add("floor wrk c8 req/s", per("floor_wrk", "req_per_s", f1))
    t.add(
        "floor wrk c8 p50 / p90 / p99 ms",
        [
            f"{s[z]['floor_wrk']['p50_ms']:.1f}/{s[z]['floor_wrk']['p90_ms']:.1f}/{s[z]['floor_wrk']['p99_ms']:.1f}"
            for z in sizes
        ],
    )
    parse = results.get("parse", {})
    gen = parse.get("generated", {})
    pb = parse.get("parse_bench", {})

    def pcol(src: dict[str, Any], key: str) -> list[str]:
        return [f2(src[z][key]) if z in src else "-" for z in sizes]

    t.add("parse: orjson.loads ms (generated body)", pcol(gen, "orjson_ms"))
    t.add("parse: parse_hook_call ms (decode + CDSRequest)", pcol(gen, "parse_hook_call_ms"))
    t.add("parse: build_timeline ms (R4B + normalise)", pcol(gen, "build_timeline_ms"))
    t.add(
        "parse: total / orjson",
        [f"{gen[z]['ratio_to_orjson']:.0f}x" if z in gen else "-" for z in sizes],
    )
    t.add("parse_bench.py: orjson ms", pcol(pb, "orjson_ms"))
    t.add("parse_bench.py: parse+normalise ms", pcol(pb, "parse_normalise_ms"))
    t.add("parse_bench.py: full R4B ms", pcol(pb, "full_r4b_ms"))
    blank = [""] * (len(sizes) - 1)
    ready = results["ready"]
    t.add(
        "time to ready, oih-cds serve (s)",
        [f2(ready["service_s"]), *blank],
        "≤ 3",
        check("ready s", ready["service_s"], 3),
    )
    t.add("time to ready, floor app (s)", [f2(ready["floor_s"]), *blank])
    rss = results.get("rss")
    if rss:
        t.add(
            f"peak RSS of the worker after {rss['after']} (MB)",
            [f1(rss["vmhwm_mb"]), *blank],
            "≤ 200",
            check("peak RSS MB", rss["vmhwm_mb"], 200),
        )
        t.add("RSS after start-up (MB)", [f1(rss["rss_after_ready_mb"]), *blank])
    fp = results.get("fhir_path")
    if fp:
        t.add(
            f"FHIR path ({fp['size']}, no prefetch, +50 ms/query) p50 ms",
            [f1(fp["p50_ms"]), *blank],
            "≤ 80",
            check("FHIR path p50 ms", fp["p50_ms"], 80),
        )
        t.add("FHIR path p95 / p99 ms", [f"{fp['p95_ms']:.1f}/{fp['p99_ms']:.1f}", *blank])
        slots = fp.get("fetch_mean_ms_per_slot") or {}
        if slots:
            slowest = max(slots, key=lambda k: slots[k])
            t.add(
                "FHIR path: mean fetch ms per slot (service metric)",
                [f"{min(slots.values()):.1f}-{slots[slowest]:.1f} ({slowest})", *blank],
            )
        t.add(
            "FHIR path n / FHIR queries per hook / cards",
            [f"{fp['n']}/{fp['fhir_queries_per_hook']:.0f}/{fp['cards']}", *blank],
        )
    meta = results["meta"]
    machine = meta["machine"]
    header = (
        f"oih-cds bench ({plan_name}) {meta['date']}  commit {meta['git']['commit'][:12]}"
        f"{' (dirty tree)' if meta['git']['dirty'] else ''}\n"
        f"{machine['cpu_model']}, {machine['cores']} cores, Python {machine['python']}, "
        f"uvicorn {machine['uvicorn']}, {machine['wrk']}\n"
        f"load average at start {meta['loadavg_start']}, at end {meta['loadavg_end']} "
        "(shared machine: numbers vary with load)\n"
        f"oih-cds serve: 1 worker, OIH_LOG_LEVEL=WARNING (access log off), auth disabled; "
        f"sequential = http.client keep-alive; wrk -t2 -c8 --latency --timeout 10s"
    )
    return header + "\n\n" + t.render(), targets


# --------------------------------------------------------------------------- main


def service_env(data_dir: Path, fhir_base: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OIH_")}
    env.update(
        OIH_AUTH_MODE="disabled",
        OIH_ENVIRONMENT="development",
        OIH_DATA_DIR=str(data_dir),
        OIH_LOG_LEVEL="WARNING",
        OIH_WORKERS="1",
        OIH_FHIR_OPEN_ALLOWLIST=fhir_base,
        PYTHONDONTWRITEBYTECODE="1",
    )
    return env


def run(plan: Plan, sizes: Sequence[str], out: Path | None, plan_name: str) -> dict[str, Any]:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk (see bench/README.md)")
    from bench.fhir_server import run_fhir_server

    load_start = loadavg()
    as_of = system_clock().date()
    bin_dir = Path(sys.executable).parent
    oih = bin_dir / "oih-cds"
    if not oih.exists():
        raise SystemExit(f"{oih} not found: run `make` first (pip install -e .)")
    results: dict[str, Any] = {"sizes": {}}
    bodies: dict[str, bytes] = {}
    charts = {z: build_chart(z, as_of) for z in sizes}
    for z, chart in charts.items():
        bodies[z] = orjson.dumps(request_from_chart(chart))
    fhir_size = "typical" if "typical" in sizes else sizes[0]

    with tempfile.TemporaryDirectory(prefix="oih-bench-") as tmp, contextlib.ExitStack() as stack:
        tmpdir = Path(tmp)
        fhir = stack.enter_context(
            run_fhir_server(charts[fhir_size].resources(), latency=FHIR_LATENCY_S)
        )
        body_files = {}
        for z, body in bodies.items():
            body_files[z] = tmpdir / f"{z}.json"
            body_files[z].write_bytes(body)

        env = service_env(tmpdir / "data", fhir.base_url)
        port = free_port()
        print(f"starting oih-cds serve on 127.0.0.1:{port} ...", file=sys.stderr)
        service = start_server(
            "service",
            [str(oih), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env,
            port,
            tmpdir,
        )
        stack.callback(stop_server, service)
        kids = children(service.proc.pid)
        worker = kids[0] if len(kids) == 1 else service.proc.pid
        rss_ready = proc_status(worker)["VmRSS"] / 1024
        floor_port = free_port()
        floor = start_server(
            "floor",
            [sys.executable, "-m", "bench.floor_app", "--port", str(floor_port)],
            env,
            floor_port,
            tmpdir,
        )
        stack.callback(stop_server, floor)
        results["ready"] = {"service_s": service.ready_s, "floor_s": floor.ready_s}

        for z in sizes:
            print(f"[{z}] service sequential ...", file=sys.stderr)
            row: dict[str, Any] = {
                "body_kib": len(bodies[z]) / 1024,
                "counts": {
                    "medicationRequests": len(charts[z].slots["medicationRequests"]),
                    "painObservations": len(charts[z].slots["painObservations"]),
                    "conditions": len(charts[z].slots["conditions"]),
                    "encounters": len(charts[z].slots["encounters"]),
                },
            }
            row["service_seq"] = sequential(service, bodies[z], plan)
            if row["service_seq"]["statuses"] != {"200": plan.warmup + row["service_seq"]["n"]}:
                answered = row["service_seq"]["statuses"]
                raise RuntimeError(f"{z}: the service answered {answered}:\n{service.log_tail()}")
            print(f"[{z}] service wrk ...", file=sys.stderr)
            row["service_wrk"] = run_wrk(service, body_files[z], plan.wrk_seconds)
            print(f"[{z}] floor sequential + wrk ...", file=sys.stderr)
            row["floor_seq"] = sequential(floor, bodies[z], plan)
            row["floor_wrk"] = run_wrk(floor, body_files[z], plan.wrk_seconds)
            results["sizes"][z] = row

        status = proc_status(worker)
        results["rss"] = {
            "pid": worker,
            "server_pid": service.proc.pid,
            "child_processes": kids,
            "note": "1 worker: uvicorn serves in the process it was started in (no child processes)"
            if not kids
            else "read from the single child process",
            "vmhwm_mb": status["VmHWM"] / 1024,
            "vmrss_mb": status["VmRSS"] / 1024,
            "rss_after_ready_mb": rss_ready,
            "after": sizes[-1],
        }

        print(
            f"[fhir path] {fhir_size}, no prefetch, +{FHIR_LATENCY_S * 1000:.0f} ms per query ...",
            file=sys.stderr,
        )
        no_prefetch = orjson.dumps(
            request_from_chart(charts[fhir_size], prefetch=False, fhir_server=fhir.base_url)
        )
        before = len(fhir.requests)
        metrics_before = fetch_metrics(service)
        fp = sequential(service, no_prefetch, plan, requests=plan.fhir_requests)
        metrics_after = fetch_metrics(service)
        per_slot = {}
        for slot, after in metrics_after.items():
            prior = metrics_before.get(slot, {"sum": 0.0, "count": 0.0})
            count = after.get("count", 0.0) - prior.get("count", 0.0)
            if count:
                per_slot[slot] = 1000 * (after.get("sum", 0.0) - prior.get("sum", 0.0)) / count
        fp["fetch_mean_ms_per_slot"] = per_slot
        if fp["statuses"] != {"200": plan.warmup + fp["n"]}:
            raise RuntimeError(
                f"FHIR path: the service answered {fp['statuses']}:\n{service.log_tail()}"
            )
        fp["size"] = fhir_size
        fp["body_kib"] = len(no_prefetch) / 1024
        fp["fhir_latency_ms"] = FHIR_LATENCY_S * 1000
        fp["fhir_queries_per_hook"] = (len(fhir.requests) - before) / (plan.warmup + fp["n"])
        results["fhir_path"] = fp
        # leaving the with-block stops the floor, the service and the FHIR server

    print("parse cost (in process) ...", file=sys.stderr)
    results["parse"] = parse_costs(bodies, as_of, plan.parse_runs)
    results["meta"] = {
        "date": system_clock().isoformat(timespec="seconds"),
        "as_of": as_of.isoformat(),
        "plan": plan_name,
        "plan_settings": plan.__dict__,
        "machine": machine_info(),
        "git": git_info(),
        "loadavg_start": load_start,
        "loadavg_end": loadavg(),
        "service": "oih-cds serve, 1 uvicorn worker, OIH_LOG_LEVEL=WARNING, OIH_AUTH_MODE=disabled",
    }
    table, targets = build_report(results, plan_name)
    results["targets"] = targets
    results["table"] = table.splitlines()
    print(table)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(
            orjson.dumps(_rounded(results), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
            + b"\n"
        )
        print(f"\nwritten: {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
    return results


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 3)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="short smoke run (~1 min), writes quick.json"
    )
    parser.add_argument("--sizes", default=",".join(SIZES), help="comma-separated (default: all)")
    parser.add_argument(
        "--out", type=Path, default=None, help="JSON output (default: bench/results/latest.json)"
    )
    args = parser.parse_args(argv)
    sizes = [z.strip() for z in args.sizes.split(",") if z.strip()]
    unknown = [z for z in sizes if z not in SIZES]
    if unknown:
        parser.error(f"unknown size(s): {', '.join(unknown)}")
    plan, name = (QUICK, "quick") if args.quick else (FULL, "full")
    out = args.out or RESULTS / ("quick.json" if args.quick else "latest.json")
    run(plan, sizes, out, name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
