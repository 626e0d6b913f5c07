"""Prometheus metrics (prometheus-client), all prefixed `iep_`, in one registry per runtime.

Under `iep serve --workers N` the supervisor sets `PROMETHEUS_MULTIPROC_DIR` (a fresh
temp directory) before any worker imports prometheus-client: every worker writes its
values there and `/metrics`, whichever worker answers it, renders all of them (counters and
histograms summed; the store-derived gauges as last written; breaker states as the worst).
"""

import os
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client import Gauge as _Gauge

from iep_appliance.domain.retention import PURGE_KINDS

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def _multiproc() -> bool:
    return bool(os.environ.get(MULTIPROC_ENV))


def Gauge(*args: Any, mode: str = "mostrecent", **kwargs: Any) -> _Gauge:
    """A gauge; across worker processes, `mode` says how their values combine."""
    if _multiproc():
        kwargs["multiprocess_mode"] = mode
    return _Gauge(*args, **kwargs)


class Metrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.accepted = Counter(
            "iep_messages_accepted_total", "Messages accepted by the API.", ["tenant"], registry=r
        )
        self.request_latency = Histogram(
            "iep_http_request_duration_seconds",
            "HTTP request latency.",
            ["method", "route", "status"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=r,
        )
        self.messages = Counter(
            "iep_messages_total",
            "Messages reaching a final or retry status.",
            ["status", "tenant", "provider"],
            registry=r,
        )
        self.message_duration = Histogram(
            "iep_message_duration_seconds",
            "Time from accept to sent.",
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600),
            registry=r,
        )
        self.queue_depth = Gauge("iep_queue_depth", "Send jobs by state.", ["state"], registry=r)
        self.tenant_bounce_rate = Gauge(
            "iep_tenant_bounce_rate",
            "Share of a tenant's messages that bounced, over [reputation] window_days.",
            ["tenant"],
            registry=r,
        )
        self.tenant_complaint_rate = Gauge(
            "iep_tenant_complaint_rate",
            "Complaints per message sent by a tenant, over [reputation] window_days.",
            ["tenant"],
            registry=r,
        )
        self.tenant_held = Gauge(
            "iep_tenant_sending_held",
            "1 while a tenant's sending is held for its bounce or complaint rate (until an"
            " operator resumes it), else 0.",
            ["tenant"],
            registry=r,
        )
        self.oldest_ready_age = Gauge(
            "iep_oldest_ready_job_age_seconds", "Age of the oldest due send job.", registry=r
        )
        self.provider_errors = Counter(
            "iep_provider_errors_total",
            "Failed provider sends.",
            ["provider", "error_type"],
            registry=r,
        )
        self.rate_limit_hits = Counter(
            "iep_rate_limit_hits_total",
            "Requests refused by a tenant rate limit.",
            ["tenant"],
            registry=r,
        )
        self.circuit_state = Gauge(
            "iep_provider_circuit_state",
            "Circuit breaker state per provider (0 closed, 1 open, 2 half-open).",
            ["provider"],
            registry=r,
            mode="max",  # each worker has its own breakers: the worst one
        )
        self.circuit_transitions = Counter(
            "iep_provider_circuit_transitions_total",
            "Circuit breaker transitions per provider, by the state entered.",
            ["provider", "state"],
            registry=r,
        )
        self.deferred_sends = Counter(
            "iep_sends_deferred_total",
            "Send jobs put back without spending an attempt (every route's breaker open).",
            ["provider"],
            registry=r,
        )
        self.webhook_deliveries = Counter(
            "iep_webhook_deliveries_total", "Webhook attempts.", ["outcome"], registry=r
        )
        # The "nothing claimed while work is due" alert needs claims to be visible.
        self.jobs_claimed = Counter(
            "iep_jobs_claimed_total", "Jobs claimed by the scheduler.", ["kind"], registry=r
        )
        for kind in ("send", "webhook"):  # exported as 0 from the start, so increase() works
            self.jobs_claimed.labels(kind=kind)
        self.jobs_due = Gauge(
            "iep_jobs_due", "Send jobs ready and due now (not future retries).", registry=r
        )
        self.config_reloads = Counter(
            "iep_config_reloads_total",
            "Configuration reloads on SIGHUP, by result (applied or failed).",
            ["result"],
            registry=r,
        )
        for result in ("applied", "failed"):
            self.config_reloads.labels(result=result)
        # Retention: rows (and attachment files) removed by purges, by kind.
        self.purged_rows = Counter(
            "iep_purged_rows_total",
            "Rows removed by the retention purge, by kind (attachment_files counts files).",
            ["kind"],
            registry=r,
        )
        for kind in PURGE_KINDS:
            self.purged_rows.labels(kind=kind)

    def render(self) -> bytes:
        if _multiproc():
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry)
        return generate_latest(self.registry)
