"""The floor: a bare FastAPI endpoint on the same server stack as ``oih-cds serve``.

It accepts the same hook body on the same path, decodes it once with orjson (as the
service does) and answers ``{"cards": []}``: what any request costs before the service
does its own work (HTTP parsing, ASGI, FastAPI routing, reading and decoding the body,
encoding a response). No middleware, no validation, no logging.

Run: ``python -m bench.floor_app --port 18090`` (uvicorn, one worker, the same uvicorn
options as ``service.cli.serve``; ``GET /readyz`` answers 200).
"""

from __future__ import annotations

import argparse

import orjson
import uvicorn
from fastapi import FastAPI, Request
from starlette.responses import Response

EMPTY = orjson.dumps({"cards": []})


def create_app() -> FastAPI:
    app = FastAPI(title="floor", docs_url=None, redoc_url=None, openapi_url=None)

    @app.post("/cds-services/{service_id}")
    async def invoke(service_id: str, request: Request) -> Response:
        data = orjson.loads(await request.body())
        if not isinstance(data, dict):
            return Response(b"{}", status_code=400, media_type="application/json")
        return Response(EMPTY, media_type="application/json")

    @app.get("/readyz")
    async def readyz() -> Response:
        return Response(b'{"status":"ready"}', media_type="application/json")

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=18090)
    args = parser.parse_args()
    # Same options as service.cli.serve (workers=1, log level WARNING as in the bench).
    uvicorn.run(
        "bench.floor_app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=1,
        timeout_graceful_shutdown=20,
        log_level="warning",
        proxy_headers=True,
        server_header=False,
        access_log=False,
        log_config=None,
    )


if __name__ == "__main__":
    main()
