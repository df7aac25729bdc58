"""The ``oih-cds`` command: run the server and print the OpenAPI document."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

app = typer.Typer(
    name="oih-cds",
    help="CDS Hooks service for opioid dose escalation and possible opioid-induced hyperalgesia.",
    no_args_is_help=True,
    add_completion=False,
)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to bind (default OIH_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="Port to bind (default OIH_PORT)")] = None,
) -> None:
    """Start the HTTP server (uvicorn) with the settings from OIH_* variables."""
    import uvicorn
    from pydantic import ValidationError

    from service.config import Settings

    try:
        settings = Settings()
    except ValidationError as exc:
        typer.echo(f"oih-cds: cannot start: {_settings_error(exc)}", err=True)
        raise typer.Exit(code=2) from None
    uvicorn.run(
        "service.main:create_production_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=settings.workers,
        timeout_graceful_shutdown=settings.graceful_timeout_seconds,
        log_level=settings.log_level.lower(),
        proxy_headers=True,
        server_header=False,
        access_log=False,  # service.observability.logging writes one line per request
        log_config=None,
    )


@app.command()
def openapi() -> None:
    """Print the OpenAPI document generated from the application."""
    from service.openapi_export import generate_openapi

    sys.stdout.write(json.dumps(generate_openapi(), indent=2, sort_keys=False) + "\n")


def _settings_error(exc: Exception) -> str:
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        return "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'settings'}: "
            f"{str(err['msg']).removeprefix('Value error, ')}"
            for err in exc.errors()
        )
    return str(exc)


if __name__ == "__main__":  # pragma: no cover
    app()
