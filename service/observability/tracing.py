"""Optional OpenTelemetry tracing (``OIH_OTEL_ENABLED``, off by default).

The OpenTelemetry packages are an optional extra (``pip install 'oih-cds[otel]'``), so
the default image stays small. The exporter is configured with the standard
``OTEL_EXPORTER_OTLP_*`` variables. Only our own routes are traced: their URLs carry
service ids, never patient identifiers; outgoing FHIR calls (whose URLs do) are not.
"""

from __future__ import annotations

from fastapi import FastAPI

from service.config import Settings

MISSING = (
    "OIH_OTEL_ENABLED=true needs the OpenTelemetry packages: install the 'otel' extra "
    "(pip install 'oih-cds[otel]') or set OIH_OTEL_ENABLED=false"
)


class TracingUnavailable(RuntimeError):
    pass


def install_tracing(app: FastAPI, settings: Settings) -> bool:
    """Instrument the app when enabled; refuse to start when enabled but not installed."""
    if not settings.otel_enabled:
        return False
    try:
        from opentelemetry import trace
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError as exc:
        raise TracingUnavailable(MISSING) from exc
    provider = TracerProvider(resource=Resource.create({"service.name": "oih-cds"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    FastAPIInstrumentor.instrument_app(
        app, tracer_provider=provider, excluded_urls="healthz,readyz,metrics"
    )
    return True
