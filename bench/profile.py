"""Profile one hook request in-process: where the time of a typical ``order-sign`` goes.

``python -m bench.profile [--size typical] [--calls 200]`` prints:

1. the stage breakdown (median ms over ``--calls``): JSON decode, CDSRequest
   validation, R4B validation (``parse_resources``/``parse_draft_orders`` in
   ``service/fhir/resources.py``), normalisation, MME timeline (``patient_mme``), the
   rest of the assessment, rules (``evaluate_cards``), card rendering, response
   encoding, and the whole ASGI call (so the framework and middleware share is the
   difference). Issued-card records are not in it: they are written in batches when the
   event loop is idle (``service/storage/recorder.py``), which in this loop is at the end;
2. the time spent in Python's garbage collector during whole calls, and the same calls
   with the heap frozen after start-up (``gc.freeze()``), to size that proposal;
3. a pyinstrument call tree of whole ASGI calls (if pyinstrument is installed; it is
   not a project dependency: ``.venv/bin/pip install pyinstrument``), written to
   ``bench/results/profile-<size>.txt``.

The app is built as ``oih-cds serve`` builds it (``create_app`` with the settings of
the benchmark: auth disabled, WARNING logs, SQLite in a temporary directory) and driven
through its ASGI interface, with no socket. Timers wrap module functions of this
process only; no file outside bench/ is changed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson

from bench.generate import generate
from service.clock import system_clock

HOOK_PATH = "/cds-services/oih-order-sign"
RESULTS = Path(__file__).resolve().parent / "results"


class Timers:
    """Accumulates ms per label for wrapped functions, per call."""

    def __init__(self) -> None:
        self.current: dict[str, float] = {}
        self.samples: dict[str, list[float]] = {}

    def add(self, label: str, started: float) -> None:
        ms = (time.perf_counter() - started) * 1000
        self.current[label] = self.current.get(label, 0.0) + ms

    def wrap(self, label: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        if asyncio.iscoroutinefunction(fn):

            async def timed_async(*args: Any, **kwargs: Any) -> Any:
                t0 = time.perf_counter()
                try:
                    return await fn(*args, **kwargs)
                finally:
                    self.add(label, t0)

            return timed_async

        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.add(label, t0)

        return timed

    def commit(self) -> None:
        for label, ms in self.current.items():
            self.samples.setdefault(label, []).append(ms)
        self.current = {}

    def median(self, label: str) -> float:
        values = self.samples.get(label)
        return statistics.median(values) if values else 0.0


DECODE = "decode"
PARSE = "parse_hook_call"
R4B = "r4b"
TIMELINE = "build_timeline"
MME = "patient_mme"
ASSESS = "assess"
RULES = "evaluate_cards"
RENDER = "render"
WIRE = "wire"
ENCODE = "encode"
GATHER = "gather"


@contextlib.contextmanager
def patched(timers: Timers, runtime: Any) -> Iterator[None]:
    """Time the stages by wrapping the names the pipeline calls (this process only)."""
    import cds_hooks.models as models_mod
    import rules.assessment as assessment_mod
    import service.api.hooks as hooks_mod
    import service.api.parsing as parsing_mod
    import service.normalize.timeline as timeline_mod
    import service.pipeline as pipeline_mod

    targets: list[tuple[Any, str, str]] = [
        (parsing_mod, "decode_json_object", DECODE),
        (hooks_mod, "parse_hook_call", PARSE),
        (timeline_mod, "parse_draft_orders", R4B),
        (timeline_mod, "parse_resources", R4B),
        (pipeline_mod, "build_timeline", TIMELINE),
        (assessment_mod, "patient_mme", MME),
        (pipeline_mod, "assess", ASSESS),
        (pipeline_mod, "evaluate_cards", RULES),
        (pipeline_mod.CardRenderer, "render", RENDER),
        (models_mod.Card, "wire", WIRE),
        (hooks_mod.JsonResponse, "render", ENCODE),
        (pipeline_mod, "gather", GATHER),
    ]
    saved = []
    for owner, name, label in targets:
        original = getattr(owner, name)
        saved.append((owner, name, original))
        setattr(owner, name, timers.wrap(label, original))
    try:
        yield
    finally:
        for owner, name, original in reversed(saved):
            setattr(owner, name, original)


def scope(body: bytes) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": HOOK_PATH,
        "raw_path": HOOK_PATH.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1:8080"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8080),
        "state": {},
    }


async def asgi_call(app: Any, body: bytes) -> tuple[int, bytes]:
    done = asyncio.Event()
    delivered = False
    status = 0
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                done.set()

    await app(scope(body), receive, send)
    return status, b"".join(chunks)


class GcTimer:
    def __init__(self) -> None:
        self.ms = 0.0
        self.collections = [0, 0, 0]
        self._t0 = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._t0 = time.perf_counter()
        else:
            self.ms += (time.perf_counter() - self._t0) * 1000
            self.collections[info["generation"]] += 1


async def timed_calls(app: Any, body: bytes, calls: int) -> list[float]:
    out = []
    for _ in range(calls):
        t0 = time.perf_counter()
        status, _ = await asgi_call(app, body)
        out.append((time.perf_counter() - t0) * 1000)
        assert status == 200
    return out


async def profile(size: str, calls: int, tree_file: Path | None) -> str:
    from service.config import AuthMode, Settings
    from service.main import GC_YOUNG_THRESHOLD, create_app
    from service.observability.logging import configure_logging

    as_of = system_clock().date()
    body = orjson.dumps(generate(size, as_of))
    lines = [f"size {size}: body {len(body) / 1024:.0f} KiB, {calls} calls per series"]
    with tempfile.TemporaryDirectory(prefix="oih-profile-") as tmp:
        configure_logging("WARNING")
        settings = Settings(auth_mode=AuthMode.DISABLED, data_dir=Path(tmp), log_level="WARNING")
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            runtime = app.state.runtime
            for _ in range(20):  # warm-up: imports, schema builds, caches
                status, out = await asgi_call(app, body)
                assert status == 200, out[:300]
            topics = [c["source"]["topic"]["code"] for c in orjson.loads(out)["cards"]]
            lines.append(f"cards: {len(topics)} ({', '.join(topics)})")
            tracked = len(gc.get_objects())
            t0 = time.perf_counter()
            gc.collect()
            full_gc_ms = (time.perf_counter() - t0) * 1000
            lines.append(
                f"heap after warm-up: {tracked:,} GC-tracked objects; one full (gen2) "
                f"collection takes {full_gc_ms:.0f} ms"
            )

            # 1. stages, with the collector set as `oih-cds serve` sets it -----------
            timers = Timers()
            whole: list[float] = []
            default_threshold = gc.get_threshold()
            gc.collect()
            gc.freeze()
            gc.set_threshold(GC_YOUNG_THRESHOLD, 10, 10)
            try:
                with patched(timers, runtime):
                    for _ in range(calls):
                        t0 = time.perf_counter()
                        status, _ = await asgi_call(app, body)
                        whole.append((time.perf_counter() - t0) * 1000)
                        timers.commit()
            finally:
                gc.set_threshold(*default_threshold)
                gc.unfreeze()
            m = timers.median
            total = statistics.median(whole)
            stages = [
                ("JSON decode of the body (orjson)", m(DECODE)),
                ("CDSRequest + context validation (pydantic)", m(PARSE) - m(DECODE)),
                ("prefetch check (gather, no HTTP)", m(GATHER)),
                ("R4B projection + validation (service/fhir/resources.py)", m(R4B)),
                ("normalisation into PatientTimeline", m(TIMELINE) - m(R4B)),
                ("MME timeline (rules patient_mme)", m(MME)),
                ("other assessment (escalation, pain, LTOT, ...)", m(ASSESS) - m(MME)),
                ("rules (evaluate_cards)", m(RULES)),
                ("card rendering (CardRenderer.render)", m(RENDER)),
                ("card.wire() + response encoding (orjson)", m(WIRE) + m(ENCODE)),
            ]
            known = sum(ms for _, ms in stages)
            stages.append(("framework, middleware, metrics, logging (rest)", total - known))
            lines.append("")
            lines.append(f"{'stage (median of per-call ms)':58} {'ms':>7} {'share':>6}")
            for label, ms in stages:
                lines.append(f"{label:58} {ms:7.2f} {100 * ms / total:5.1f}%")
            lines.append(f"{'whole ASGI call (median)':58} {total:7.2f} 100.0%")
            lines.append(
                f"{'whole ASGI call p95 / min':58} "
                f"{sorted(whole)[int(0.95 * len(whole)) - 1]:7.2f} / {min(whole):.2f}"
            )

            # 2. garbage collector: as configured, then two variants (this process only)
            def p95(values: list[float]) -> float:
                return sorted(values)[max(0, int(0.95 * len(values)) - 1)]

            lines.append("")
            lines.append(
                f"{'garbage collector variant':42} {'p50 ms':>7} {'p95 ms':>7} {'max ms':>7} "
                f"{'GC ms/call':>10}  collections gen0/1/2"
            )
            variants = [
                ("as configured (default thresholds)", False, default_threshold),
                ("gc.freeze() after start-up", True, default_threshold),
                ("gc.freeze() + gen0 threshold 10000", True, (10_000, 10, 10)),
                (
                    f"as served: freeze + gen0 {GC_YOUNG_THRESHOLD}",
                    True,
                    (GC_YOUNG_THRESHOLD, 10, 10),
                ),
                ("as configured, again", False, default_threshold),
            ]
            for label, freeze, threshold in variants:
                gc.collect()
                if freeze:
                    gc.freeze()
                gc.set_threshold(*threshold)
                timer = GcTimer()
                gc.callbacks.append(timer)
                try:
                    series = await timed_calls(app, body, calls)
                finally:
                    gc.callbacks.remove(timer)
                    gc.set_threshold(*default_threshold)
                    gc.unfreeze()
                lines.append(
                    f"{label:42} {statistics.median(series):7.2f} {p95(series):7.2f} "
                    f"{max(series):7.2f} {timer.ms / calls:10.2f}  "
                    f"{'/'.join(map(str, timer.collections))}"
                )

            # 3. call tree ---------------------------------------------------------
            if tree_file is not None:
                try:
                    from pyinstrument import Profiler
                except ImportError:
                    lines.append("\n(pyinstrument is not installed: no call tree)")
                else:
                    profiler = Profiler(interval=0.0005, async_mode="disabled")
                    profiler.start()
                    await timed_calls(app, body, calls)
                    profiler.stop()
                    text = profiler.output_text(unicode=False, color=False, show_all=False)
                    tree_file.parent.mkdir(parents=True, exist_ok=True)
                    tree_file.write_text(text)
                    lines.append(f"\npyinstrument call tree of {calls} calls: {tree_file}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="typical", choices=["small", "typical", "heavy"])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--no-tree", action="store_true", help="skip the pyinstrument tree")
    args = parser.parse_args()
    tree = None if args.no_tree else RESULTS / f"profile-{args.size}.txt"
    print(asyncio.run(profile(args.size, args.calls, tree)))


if __name__ == "__main__":
    main()
