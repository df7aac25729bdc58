"""Prometheus metrics, named for what an operator alerts on.

Each worker process keeps its own registry; the Helm chart runs one worker per pod and
scales by replicas, so every scrape target is one process.
"""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

disable_created_metrics()  # *_created series double the output and nobody alerts on them

LATENCY_BUCKETS = (0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    """All metrics of one app instance, on their own registry (tests create many apps)."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "oih_cds_http_requests",
            "HTTP requests by route template, method and status code",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.hook_latency = Histogram(
            "oih_cds_hook_duration_seconds",
            "Time to answer a hook or explain call, per CDS service id and status",
            ["service", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.cards = Counter(
            "oih_cds_cards",
            "Cards returned, per service, card topic and indicator",
            ["service", "topic", "indicator"],
            registry=self.registry,
        )
        self.fhir_latency = Histogram(
            "oih_cds_fhir_fetch_duration_seconds",
            "FHIR queries made because a prefetch slot was absent or failed, per slot",
            ["slot"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.fhir_errors = Counter(
            "oih_cds_fhir_fetch_errors",
            "FHIR queries that failed, per slot and reason",
            ["slot", "reason"],
            registry=self.registry,
        )
        self.auth_failures = Counter(
            "oih_cds_auth_failures",
            "Rejected CDS client JWTs, per reason",
            ["reason"],
            registry=self.registry,
        )
        self.feedback = Counter(
            "oih_cds_feedback_items",
            "Feedback items received, per outcome (accepted or overridden)",
            ["outcome"],
            registry=self.registry,
        )
        self.data_gaps = Counter(
            "oih_cds_data_gaps",
            "Data-quality notes raised while reading the record, per code",
            ["code"],
            registry=self.registry,
        )
        self.cards_snoozed = Counter(
            "oih_cds_cards_snoozed",
            "Cards not shown because a clinician's documented snooze was in force, per topic",
            ["topic"],
            registry=self.registry,
        )
        self.snooze_refresh_errors = Counter(
            "oih_cds_snooze_refresh_errors",
            "Reloads of the active snoozes that failed; the last snapshot was kept",
            registry=self.registry,
        )
        self.maintenance_runs = Counter(
            "oih_cds_maintenance_runs",
            "Maintenance runs that completed every step (old patient keys and ended snoozes "
            "purged, and old feedback comments when a retention is set)",
            registry=self.registry,
        )
        self.maintenance_errors = Counter(
            "oih_cds_maintenance_errors",
            "Maintenance steps that failed (database down or busy); retried on the next run",
            registry=self.registry,
        )
        self.card_records_dropped = Counter(
            "oih_cds_card_records_dropped",
            "Issued-card records not written (queue full or database error); the feedback "
            "report then lacks their topic",
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
