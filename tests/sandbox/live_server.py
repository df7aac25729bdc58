"""A real uvicorn server in a background thread, for browser and CLI tests.

Why not TestClient: Playwright and the CLI talk HTTP over a socket, exactly like an
EHR or an integration engineer would. The socket is bound before the thread starts,
so there is no race for a free port.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import uvicorn
from fastapi import FastAPI

from service.clock import Clock, system_clock
from service.config import Settings
from service.main import create_app


@dataclass
class LiveServer:
    url: str
    app: FastAPI
    settings: Settings


@contextmanager
def live_server(
    settings: Settings | Callable[[str], Settings], clock: Clock = system_clock
) -> Iterator[LiveServer]:
    """Serve the app on 127.0.0.1; ``settings`` may be a function of the base URL
    (to set ``public_base_url``, the JWT audience)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    if callable(settings):
        settings = settings(f"http://127.0.0.1:{port}")
    app = create_app(settings, clock=clock)
    config = uvicorn.Config(
        app, log_level="warning", access_log=False, log_config=None, lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    try:
        yield LiveServer(url=f"http://127.0.0.1:{port}", app=app, settings=settings)
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()
