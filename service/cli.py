"""The ``oih-cds`` command: run the server and print the OpenAPI document."""

from __future__ import annotations

import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from service.maintenance import CARD_KEY_RETENTION_DAYS

if TYPE_CHECKING:
    from service.config import Settings
    from service.storage import Store

_T = TypeVar("_T")

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
    problem = _config_files_problem(settings)
    if problem:
        typer.echo(f"oih-cds: cannot start: {problem}", err=True)
        raise typer.Exit(code=2)
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


@app.command()
def scenarios() -> None:
    """List the synthetic scenario library: name, the hook it is written for, its story."""
    from service.cli_fire import scenarios_table

    sys.stdout.write(scenarios_table())


@app.command()
def fire(
    scenario: Annotated[
        str | None, typer.Option(help="Scenario of the library (see `oih-cds scenarios`)")
    ] = None,
    bundle: Annotated[
        Path | None,
        typer.Option(help="R4 Bundle (collection or searchset) of one patient's resources"),
    ] = None,
    draft: Annotated[
        Path | None, typer.Option(help="Draft order: a MedicationRequest JSON (or a Bundle)")
    ] = None,
    hook: Annotated[
        str, typer.Option(help="order-sign, order-select or patient-view")
    ] = "order-sign",
    url: Annotated[
        str, typer.Option(help="Base URL of any CDS Hooks service (discovery is at /cds-services)")
    ] = "http://127.0.0.1:8080",
    service_id: Annotated[
        str | None, typer.Option("--service", help="Service id, when discovery offers several")
    ] = None,
    key: Annotated[
        Path | None, typer.Option(help="PEM private key (EC P-384 or RSA) to sign a JWT")
    ] = None,
    kid: Annotated[str | None, typer.Option(help="JWT header kid (with --key)")] = None,
    iss: Annotated[str | None, typer.Option(help="JWT iss claim (with --key)")] = None,
    jku: Annotated[str | None, typer.Option(help="JWT header jku (optional)")] = None,
    tenant: Annotated[str | None, typer.Option(help="JWT tenant claim (optional)")] = None,
    prefetch: Annotated[
        bool, typer.Option("--prefetch/--no-prefetch", help="Send prefetch (default) or none")
    ] = True,
    fhir_server: Annotated[
        str | None, typer.Option(help="fhirServer to send (e.g. with --no-prefetch)")
    ] = None,
    user_id: Annotated[str, typer.Option(help="context.userId")] = (
        "Practitioner/oih-sandbox-clinician"
    ),
    as_of: Annotated[
        str | None, typer.Option(help="Day 0 of the scenario, YYYY-MM-DD (default: today)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the raw JSON response")] = False,
    explain: Annotated[
        bool, typer.Option(help="Also call /explain; print the MME table and rule decisions")
    ] = False,
    show_request: Annotated[
        bool, typer.Option(help="Print the request body before sending it")
    ] = False,
) -> None:
    """Call a CDS Hooks service like an EHR would and print its cards.

    Exit codes: 0 success, 1 the service answered an HTTP error, 2 bad input,
    3 the service could not be reached.
    """
    from datetime import date

    from service.cli_fire import FireError, FireOptions, Signer
    from service.cli_fire import fire as run_fire
    from service.clock import system_clock

    def fail(message: str, code: int) -> typer.Exit:
        typer.echo(f"oih-cds fire: {message}", err=True)
        return typer.Exit(code=code)

    try:
        day = date.fromisoformat(as_of) if as_of else None
    except ValueError:
        raise fail(f"--as-of {as_of!r} is not a YYYY-MM-DD date", 2) from None
    signer = None
    if key is not None or kid is not None or iss is not None:
        if key is None or kid is None or iss is None:
            raise fail("--key, --kid and --iss go together", 2)
        try:
            signer = Signer.from_pem(key, kid, iss, jku=jku, tenant=tenant)
        except FireError as exc:
            raise fail(exc.message, exc.exit_code) from None
    options = FireOptions(
        hook=hook,
        url=url,
        scenario=scenario,
        bundle=bundle,
        draft=draft,
        service_id=service_id,
        prefetch=prefetch,
        fhir_server=fhir_server,
        user_id=user_id,
        as_of=day,
        as_json=as_json,
        explain=explain,
        show_request=show_request,
        signer=signer,
        color=sys.stdout.isatty(),
    )
    try:
        code = run_fire(options, typer.echo, today=system_clock().date())
    except FireError as exc:
        raise fail(exc.message, exc.exit_code) from None
    raise typer.Exit(code=code)


@app.command("feedback-report")
def feedback_report(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table")] = False,
    since: Annotated[
        str | None,
        typer.Option(help="Only feedback received since this day or time (ISO 8601; UTC if naive)"),
    ] = None,
) -> None:
    """Per card topic: cards shown, accepted and overridden, and the top override reasons.

    Reads the database named by OIH_DATABASE_URL (or the SQLite file under OIH_DATA_DIR).
    """
    from datetime import UTC, datetime

    from service.feedback_report import render_report

    start = None
    if since:
        try:
            start = datetime.fromisoformat(since)
        except ValueError:
            typer.echo(f"oih-cds: --since {since!r} is not an ISO 8601 date or time", err=True)
            raise typer.Exit(code=2) from None
        if start.tzinfo is None:
            start = start.replace(tzinfo=UTC)
    url = _database_url()

    async def report(store: Store) -> str:
        return render_report(await store.report(start), as_json)

    sys.stdout.write(_on_store(url, report).rstrip("\n") + "\n")


@app.command("feedback-purge-comments")
def feedback_purge_comments(
    older_than_days: Annotated[
        int,
        typer.Option(
            "--older-than-days",
            min=0,
            help="Blank the comments of feedback received more than this many days ago",
        ),
    ],
) -> None:
    """Blank clinicians' free-text feedback comments (which may hold PHI) past a retention age.

    Outcomes, coded override reasons and timestamps are kept, so the feedback report does
    not change. The server does this itself when OIH_COMMENT_RETENTION_DAYS is set; this
    command is for a one-off purge. OIH_KEEP_USER_COMMENTS=false stops storing comments at
    all. Reads the database named by OIH_DATABASE_URL (or the SQLite file under OIH_DATA_DIR).
    """
    from datetime import timedelta

    from service.clock import system_clock

    before = system_clock() - timedelta(days=older_than_days)
    url = _database_url()

    count = _on_store(url, lambda store: store.purge_user_comments(before))
    typer.echo(
        f"{count} feedback comment(s) received before {before.isoformat(timespec='seconds')} "
        "blanked."
    )


@app.command("purge-patient-keys")
def purge_patient_keys(
    card_keys_older_than_days: Annotated[
        int,
        typer.Option(
            "--card-keys-older-than-days",
            min=0,
            help="Clear the patient key of issued cards older than this (feedback is late)",
        ),
    ] = CARD_KEY_RETENTION_DAYS,
) -> None:
    """Forget patient keys that are no longer needed: old cards' keys and ended snoozes.

    A card keeps its patient key only so that accepting its snoozing suggestion can
    snooze it; feedback comes within minutes, so a week is generous. Ended snoozes are
    deleted. Active snoozes stay. The server does this itself every
    OIH_MAINTENANCE_INTERVAL_SECONDS; this command is for a one-off purge or when that is 0.
    """
    from datetime import timedelta

    from service.clock import system_clock

    now = system_clock()
    before = now - timedelta(days=card_keys_older_than_days)
    url = _database_url()

    cleared, deleted = _on_store(url, lambda store: store.purge_patient_keys(before, now))
    typer.echo(
        f"{cleared} card patient key(s) issued before {before.isoformat(timespec='seconds')} "
        f"cleared; {deleted} ended snooze(s) deleted."
    )


@app.command("clear-snoozes")
def clear_snoozes(
    fhir_server: Annotated[
        str | None,
        typer.Option(help="The patient's FHIR server, as the EHR sends it in fhirServer"),
    ] = None,
    issuer: Annotated[
        str | None,
        typer.Option(help="Without fhirServer: the EHR's JWT issuer (iss)"),
    ] = None,
    tenant: Annotated[
        str | None, typer.Option(help="With --issuer: the JWT's tenant claim, if it sends one")
    ] = None,
) -> None:
    """Undo a snooze: the OIH card shows again for one patient (a mistaken "not suspected").

    The patient id is asked for on standard input without echo (``kubectl exec -it``, or
    piped), so it stays out of the shell history, the process list and the terminal, and
    is never printed or logged. There is no other record of the undo than what prints
    here and Kubernetes' audit log of the exec (which does not see standard input).
    Name where the id is unique as the hook calls did: ``--fhir-server``, or, for calls
    that sent no fhirServer, ``--issuer`` (and ``--tenant``). Needs the deployment's
    OIH_PATIENT_KEY_SECRET. Running pods notice within OIH_SNOOZE_REFRESH_SECONDS. The
    feedback that made the snooze stays in the report.
    """

    from service.config import Settings
    from service.patient_key import namespace, patient_keyer

    if (fhir_server is None) == (issuer is None):
        typer.echo("Name exactly one of --fhir-server or --issuer.", err=True)
        raise typer.Exit(2)
    if tenant is not None and issuer is None:
        typer.echo("--tenant goes with --issuer.", err=True)
        raise typer.Exit(2)
    # A blank value would name the namespace of calls with neither fhirServer nor a JWT.
    if fhir_server is not None and not fhir_server.strip().startswith(("https://", "http://")):
        typer.echo("--fhir-server must be the absolute http(s) URL the EHR sends.", err=True)
        raise typer.Exit(2)
    if issuer is not None and not issuer.strip():
        typer.echo("--issuer must not be empty.", err=True)
        raise typer.Exit(2)
    try:
        settings = Settings()
    except Exception as exc:  # ValidationError, SettingsError: one readable line
        typer.echo(f"Invalid settings: {_settings_error(exc)}", err=True)
        raise typer.Exit(2) from None
    keyer = patient_keyer(settings)
    if keyer is None:
        typer.echo("Snoozing is off here (no OIH_PATIENT_KEY_SECRET): nothing to clear.", err=True)
        raise typer.Exit(1)
    patient_id = str(typer.prompt("Patient id", err=True, hide_input=True)).strip()
    if not patient_id:
        typer.echo("No patient id given.", err=True)
        raise typer.Exit(2)
    key = keyer.key(namespace(fhir_server, issuer, tenant), patient_id)
    url = settings.effective_database_url

    cleared = _on_store(url, lambda store: store.clear_snoozes(key))
    typer.echo(
        f"{cleared} snooze(s) cleared for that patient."
        if cleared
        else "No snooze found for that patient in that namespace (check the FHIR server or "
        "issuer: it must match what the EHR sent)."
    )


def _on_store(url: str, work: Callable[[Store], Awaitable[_T]]) -> _T:
    """Run one piece of store work from a CLI command: migrate, open, work, close."""
    import asyncio

    from service.storage import create_store, migrate

    async def run() -> _T:
        await migrate(url)
        store = create_store(url)
        try:
            return await work(store)
        finally:
            await store.close()

    return asyncio.run(run())


def _database_url() -> str:
    """Only the storage settings: the report must work without the server's full config."""
    import os

    from service.config import Settings

    explicit = os.environ.get("OIH_DATABASE_URL")
    if explicit:
        return explicit
    data_dir = Path(os.environ.get("OIH_DATA_DIR", ".data"))
    return Settings.model_construct(data_dir=data_dir).effective_database_url


def _config_files_problem(settings: Settings) -> str | None:
    """Check the rules and trusted-issuer files before any worker starts, in one line."""
    from rules.settings import load_rule_settings
    from service.auth.issuers import trusted_issuers_from_settings

    try:
        load_rule_settings(settings.rules_file)
        trusted_issuers_from_settings(settings)
    except ValueError as exc:  # SettingsError, IssuerConfigError
        return str(exc)
    return None


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
