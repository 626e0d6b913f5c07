"""The monitoring kit (packaging/prometheus-alerts.yml, packaging/grafana-dashboard.json).

promtool (Debian package `prometheus`) checks the rules and runs their unit tests
(packaging/prometheus-alerts.test.yml) when it is installed; those tests skip with the reason
otherwise. Without promtool, the rest still holds the kit to IEP: every metric name an alert or
a dashboard panel uses, and every label it selects or groups by, appears in a real /metrics
scrape of a running appliance that has failed a send, delivered a webhook and refused a request.
"""

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from iep_appliance.clock import Clock
from tests.integration.tenant.conftest import Appliance, message
from tests.support.procs import free_port
from tests.support.waiting import wait_until
from tests.support.webhook_sink import WebhookSink

PACKAGING = Path(__file__).resolve().parents[2] / "packaging"
ALERTS = PACKAGING / "prometheus-alerts.yml"
ALERT_TESTS = PACKAGING / "prometheus-alerts.test.yml"
DASHBOARD = PACKAGING / "grafana-dashboard.json"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None,
    reason="promtool not installed (Debian package `prometheus`; .ci/run unpacks it)",
)

METRIC = re.compile(r"\b(iep_[a-z0-9_]+)\b")
SELECTOR = re.compile(r"\b(iep_[a-z0-9_]+)\{([^}]*)\}")
MATCHER = re.compile(r'([a-z_]+)\s*(=~|!~|!=|=)\s*"([^"]*)"')
GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")
# Labels Prometheus adds at scrape time, or Grafana variables: never in IEP's own output.
TARGET_LABELS = {"instance", "job", "le"}


def alert_rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load(ALERTS.read_text())
    return [rule for group in doc["groups"] for rule in group["rules"]]


def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def panels() -> Iterator[dict[str, Any]]:
    for panel in dashboard()["panels"]:
        yield panel
        yield from panel.get("panels", [])


def expressions() -> list[str]:
    exprs = [rule["expr"] for rule in alert_rules()]
    exprs += [t["expr"] for p in panels() for t in p.get("targets", [])]
    exprs += [dashboard_variable["definition"] for dashboard_variable in _query_variables()]
    return exprs


def _query_variables() -> list[dict[str, Any]]:
    return [v for v in dashboard()["templating"]["list"] if v["type"] == "query"]


# ---- the rules ---------------------------------------------------------------------------------


@needs_promtool
def test_alert_rules_pass_promtool_check() -> None:
    assert PROMTOOL is not None
    done = subprocess.run(
        [PROMTOOL, "check", "rules", str(ALERTS)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr


@needs_promtool
def test_alert_rules_fire_exactly_when_their_unit_tests_say() -> None:
    assert PROMTOOL is not None
    done = subprocess.run(
        [PROMTOOL, "test", "rules", str(ALERT_TESTS)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_alert_rules_cover_dlq_error_rate_backlog_and_stalled_claims() -> None:
    rules = {rule["alert"]: rule for rule in alert_rules()}

    assert {
        "IEPDeadLetterQueueNotEmpty",
        "IEPProviderErrorRateHigh",
        "IEPBacklogHigh",
        "IEPNothingClaimed",
    } <= rules.keys()
    assert rules["IEPDeadLetterQueueNotEmpty"]["for"] == "5m"
    assert "[5m]" in rules["IEPProviderErrorRateHigh"]["expr"]
    assert "0.10" in rules["IEPProviderErrorRateHigh"]["expr"]
    assert "> 1000" in rules["IEPBacklogHigh"]["expr"]
    assert "[2m]" in rules["IEPNothingClaimed"]["expr"]
    for rule in rules.values():
        assert rule["labels"]["severity"] in {"warning", "critical"}
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]


def test_grafana_dashboard_has_a_panel_for_each_signal() -> None:
    dash = dashboard()
    titles = {p["title"] for p in panels()}

    assert dash["uid"] and dash["title"] and isinstance(dash["schemaVersion"], int)
    assert {
        "Throughput",
        "Latency",
        "Queue depth",
        "Dead-letter queue",
        "Provider errors",
        "Circuit breaker state",
        "Webhook deliveries",
    } <= titles
    ids = [p["id"] for p in panels()]
    assert len(ids) == len(set(ids))
    for p in panels():
        if p["type"] == "row":
            continue
        assert p["datasource"]["uid"] == "${datasource}"
        assert {"x", "y", "w", "h"} <= p["gridPos"].keys()
        assert p["targets"] and all(t["expr"] and t["refId"] for t in p["targets"])


# ---- the names, against a real scrape --------------------------------------------------------


class Scrape:
    """Metric names and labels of one /metrics answer, as Prometheus would store them."""

    def __init__(self, text: str) -> None:
        self.names: set[str] = set()
        self.labels: dict[str, set[str]] = {}
        self.values: dict[str, set[tuple[str, str]]] = {}
        self.samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
        for family in text_string_to_metric_families(text):
            suffixes = {
                "counter": ("_total", "_created"),
                "histogram": ("_bucket", "_sum", "_count", "_created"),
                "summary": ("_sum", "_count", "_created"),
            }.get(family.type, ("",))
            self.names.update(family.name + s for s in suffixes)
            for sample in family.samples:
                self.names.add(sample.name)
                self.samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
                for name in {family.name + s for s in suffixes} | {sample.name}:
                    self.labels.setdefault(name, set()).update(sample.labels)
                    self.values.setdefault(name, set()).update(sample.labels.items())


@pytest.fixture
async def scrape(tmp_path: Path) -> Scrape:
    """A running appliance scraped once after some of everything: a send attempt that failed
    (its relay refuses connections), the `message.retrying` webhook it delivered, and a 429."""
    appliance = Appliance(tmp_path)
    appliance.clock = Clock()
    closed = {"type": "smtp", "host": "127.0.0.1", "port": free_port(), "timeout_seconds": 5}
    appliance.configure(
        providers={"relay": closed},
        routing={"default_provider": "relay"},
        delivery={"retry_schedule": [300]},
        limits={"max_per_minute": 1},
        webhooks={"allow_private_networks": True, "retry_schedule": [1]},
    )
    with WebhookSink() as sink:
        try:
            await appliance.start()
            assert appliance.admin is not None
            auth = appliance.admin.auth
            hook = await appliance.client.post(
                "/v1/webhooks",
                json={"url": sink.url(), "events": ["message.retrying"]},
                headers=auth,
            )
            assert hook.status_code == 201, hook.text
            sent = await appliance.client.post("/v1/messages", json=message(), headers=auth)
            assert sent.status_code == 202, sent.text
            limited = await appliance.client.post("/v1/messages", json=message(), headers=auth)
            assert limited.status_code == 429, limited.text

            async def delivered() -> str | None:
                resp = await appliance.client.get("/metrics")
                assert resp.status_code == 200
                return resp.text if "iep_webhook_deliveries_total{" in resp.text else None

            text = await wait_until(delivered, timeout=15, message="webhook never delivered")
            assert len(sink.requests) == 1
            return Scrape(text)
        finally:
            await appliance.stop()


async def test_every_metric_the_kit_uses_is_in_a_real_scrape(scrape: Scrape) -> None:
    used = {name for expr in expressions() for name in METRIC.findall(expr)}

    assert used, "no iep_ metric found in the kit"
    assert sorted(used - scrape.names) == []


async def test_claims_are_counted_and_a_later_retry_is_ready_but_not_due(scrape: Scrape) -> None:
    def value(name: str, **labels: str) -> float:
        return scrape.samples[(name, frozenset(labels.items()))]

    assert value("iep_jobs_claimed_total", kind="send") >= 1
    assert value("iep_jobs_claimed_total", kind="webhook") >= 1
    assert value("iep_queue_depth", state="ready") == 1  # the failed send, retried in 300 s
    assert value("iep_jobs_due") == 0
    assert value("iep_oldest_ready_job_age_seconds") == 0


async def test_every_label_the_kit_selects_or_groups_by_is_exported(scrape: Scrape) -> None:
    problems = []
    for expr in expressions():
        grouped = {
            label.strip()
            for group in GROUPING.findall(expr)
            for label in group.split(",")
            if label.strip()
        }
        for name in set(METRIC.findall(expr)):
            exported = scrape.labels.get(name, set())
            for label in grouped - TARGET_LABELS - exported:
                problems.append(f"{name}: grouped by unknown label {label!r} in {expr!r}")
        for name, matchers in SELECTOR.findall(expr):
            for label, op, value in MATCHER.findall(matchers):
                if label in TARGET_LABELS:
                    continue
                if label not in scrape.labels.get(name, set()):
                    problems.append(f"{name}: unknown label {label!r}")
                elif op == "=" and (label, value) not in scrape.values.get(name, set()):
                    problems.append(f"{name}: no sample with {label}={value!r}")
    assert problems == []
