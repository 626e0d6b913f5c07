"""Builds every service once, in dependency order, into one typed `Services`.

Nothing here starts anything: no socket, no task, no store connection (`runtime.py` starts and
stops). Every hook one part gives another is a constructor argument, so the order below is the
dependency order: the store, then what only needs the store, then the delivery engine (it needs
the DKIM, VERP and reputation hooks), then what tells the engine a tenant changed.
"""

import dataclasses
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from iep_appliance import traces
from iep_appliance.blobs import Blobs, open_blobs
from iep_appliance.clock import Clock
from iep_appliance.config import Config
from iep_appliance.config_providers import (
    MailgunProviderConfig,
    SendgridProviderConfig,
    SesProviderConfig,
)
from iep_appliance.delivery.engine import DeliveryEngine
from iep_appliance.delivery.inbound_listener import InboundListener
from iep_appliance.delivery.providers.base import Provider
from iep_appliance.delivery.providers.registry import ProviderParts
from iep_appliance.delivery.providers.tenant import build_tenant_provider
from iep_appliance.domain import verp
from iep_appliance.domain.models import RateLimits
from iep_appliance.domain.ratelimit import Limits
from iep_appliance.domain.render import RenderLimits
from iep_appliance.domain.retry import attempts_from
from iep_appliance.health import Health
from iep_appliance.housekeeping import Heartbeat, Housekeeping, ReputationChecks
from iep_appliance.metrics import Metrics
from iep_appliance.services.admin_sessions import SessionRecords
from iep_appliance.services.analytics import AnalyticsService
from iep_appliance.services.audit import AuditService
from iep_appliance.services.batches import BatchPayloads, BatchService
from iep_appliance.services.changes import ChangeFeed
from iep_appliance.services.compat import CompatService
from iep_appliance.services.dashboard import DashboardService
from iep_appliance.services.dashboard_actions import DashboardActions
from iep_appliance.services.dkim_keys import DkimKeyService
from iep_appliance.services.domain_checks import DomainCheckService, Resolver
from iep_appliance.services.domains import DomainService
from iep_appliance.services.gdpr import GdprService
from iep_appliance.services.inbound import InboundService
from iep_appliance.services.keys import KeyService
from iep_appliance.services.messages import MessageService
from iep_appliance.services.nodes import NodeDirectory
from iep_appliance.services.operators import OperatorService
from iep_appliance.services.outbox import OutboxService
from iep_appliance.services.provider_webhooks import ProviderEventsService, WebhookSource
from iep_appliance.services.queues import QueueService
from iep_appliance.services.ratelimits import RateLimitService
from iep_appliance.services.reputation import ReputationService
from iep_appliance.services.retention import RetentionService
from iep_appliance.services.scheduled_jobs import ScheduledJobService
from iep_appliance.services.secret_box import SecretBox, load_master_key
from iep_appliance.services.submissions import SubmissionService
from iep_appliance.services.suppressions import SuppressionService
from iep_appliance.services.system import ConnectInfo
from iep_appliance.services.templates import TemplateService
from iep_appliance.services.tenant_providers import TenantProvidersService
from iep_appliance.services.tenant_settings import TenantSettingsService
from iep_appliance.services.ticker import Ticker
from iep_appliance.services.tracking import TrackingService
from iep_appliance.services.webhook_secrets import WebhookSecrets
from iep_appliance.services.webhooks import WebhookService
from iep_appliance.store.base import Store
from iep_appliance.store.factory import open_store
from iep_appliance.submission.server import SubmissionServer
from iep_appliance.supervisor import Supervisor
from iep_appliance.webhooks.dispatcher import WebhookDispatcher
from iep_appliance.webhooks.guard import Guard
from iep_appliance.wiring_compliance import wire_compliance
from iep_appliance.worker_role import WorkerRole


@dataclass(eq=False)
class Services:
    """Every long-lived part of one appliance. `config` is the running config: a reload
    replaces it (and tells each part through its `reconfigure`); nothing else is reassigned."""

    config: Config
    clock: Clock
    metrics: Metrics
    store: Store
    storage_path: str  # the database file, for the first-start credentials next to it
    blobs: Blobs
    tasks: Supervisor
    role: WorkerRole  # which of the processes on the store this is (the only one by default)
    changes: ChangeFeed  # what this process changed, for the others; what they changed, here
    health: Health
    keys: KeyService
    queues: QueueService
    messages: MessageService
    rate_limits: RateLimitService
    submissions: SubmissionService
    outbox: OutboxService
    suppressions: SuppressionService
    secret_box: SecretBox
    dkim_keys: DkimKeyService
    reputation: ReputationService
    reputation_checks: ReputationChecks
    inbound: InboundService
    webhook_guard: Guard
    webhooks: WebhookService
    webhook_dispatcher: WebhookDispatcher | None  # None: `deliver=False` (API only)
    delivery: DeliveryEngine | None
    domains: DomainService
    tenant_settings: TenantSettingsService
    tenant_providers: TenantProvidersService  # a tenant's own providers (`/v1/providers`)
    provider_events: ProviderEventsService  # /webhooks/{ses,sendgrid,mailgun}
    domain_checks: DomainCheckService
    operators: OperatorService
    batches: BatchService
    compat: CompatService  # Resend/Postmark-compatible APIs
    scheduled_jobs: ScheduledJobService
    ticker: Ticker
    analytics: AnalyticsService
    retention: RetentionService
    housekeeping: Housekeeping
    heartbeat: Heartbeat  # this process's row of `nodes`
    nodes: NodeDirectory  # every process's heartbeat (the dashboard's Nodes page)
    dashboard: DashboardService
    dashboard_actions: DashboardActions
    admin_sessions: SessionRecords
    connect: ConnectInfo
    hostname: str | None  # the machine's FQDN, None when it has no dot or is localhost
    submission_server: SubmissionServer | None  # None: `[submission] enabled = false`
    inbound_listener: InboundListener | None  # None: `[inbound] enabled = false`
    tenant_changed: Callable[[str], None]  # drops every cache of a tenant's rules at once
    return_path: Callable[[str], str] | None  # VERP envelope sender of a message id
    unsubscribe_headers: Callable[[str], bytes]  # List-Unsubscribe lines of a message id
    templates: TemplateService  # stored, versioned templates
    tracking: TrackingService  # open/click tracking: the rewrite at send, the hits
    # compliance: audit log, GDPR export/erase, key allowlists behind proxies, traces
    audit: AuditService
    gdpr: GdprService
    tracing: traces.Tracing
    trusted_proxies: tuple[str, ...]  # CIDRs whose X-Forwarded-For names the client


def machine_hostname() -> str | None:
    """DESIGN §10.1: the machine's FQDN, unless it has no dot or is localhost."""
    fqdn = socket.getfqdn()
    return fqdn if "." in fqdn and not fqdn.startswith("localhost") else None


def tenant_changed(
    messages: MessageService, engine: DeliveryEngine | None
) -> Callable[[str], None]:
    """Drop every cache of a tenant's rules (settings, domains, routing) at once."""

    def changed(tenant_id: str) -> None:
        messages.invalidate(tenant_id)
        if engine is not None:
            engine.forget_tenant(tenant_id)

    return changed


def limits_of(config: Config) -> Limits:
    limits = config.limits
    return Limits(limits.max_per_minute, limits.max_per_hour, limits.max_per_day)


def wire(
    config: Config,
    clock: Clock | None = None,
    deliver: bool = True,
    role: WorkerRole | None = None,
) -> Services:
    clock = clock or Clock()
    cfg = config
    role = dataclasses.replace(
        role or WorkerRole(),
        node=cfg.server.node_id or socket.gethostname(),
        cluster=cfg.storage.backend == "postgresql",
    )
    metrics = Metrics()
    store = open_store(cfg, clock, role.node_id)
    # Built first: every service that drops a cache tells the others through it.
    feed = ChangeFeed(store, clock)
    blobs = open_blobs(cfg.blobs, cfg.storage.attachments_dir, os.environ)
    tasks = Supervisor()
    hostname = machine_hostname()

    # ---- deliverability: DKIM, VERP, reputation, inbound bounces ---------------------------
    data_dir = Path(cfg.storage.path).parent
    secret_box = SecretBox(
        lambda: load_master_key(cfg.security.secret_key_env, data_dir, os.environ)
    )
    dkim_keys = DkimKeyService(store, secret_box, clock, cfg.dkim.algorithm)
    webhook_secrets = WebhookSecrets(secret_box)
    reputation = ReputationService(
        store, clock, cfg.reputation, on_change=lambda t: feed.note("reputation", t)
    )
    reputation_checks = ReputationChecks(reputation)
    inbound = InboundService(
        store,
        clock,
        box=secret_box,
        bounce_domain=cfg.inbound.bounce_domain,
        hard_bounces=cfg.suppression.hard_bounces,
        max_stored_bytes=cfg.inbound.max_stored_bytes,
        on_effects=reputation_checks,
    )
    return_path, unsubscribe_headers = _verp_hooks(cfg, inbound)

    # ---- content: stored templates, open/click tracking --------------------------------------
    render_limits = RenderLimits(
        max_steps=cfg.render.max_steps,
        max_output_bytes=cfg.render.max_output_bytes,
        max_variable_depth=cfg.render.max_variable_depth,
    )
    templates = TemplateService(store, clock, render_limits)
    tracking = TrackingService(
        store,
        clock,
        lambda: secret_box.derive("tracking tokens v1"),  # read once the store has opened
        public_url(cfg),
        render_limits,
    )

    # ---- delivery: the webhook pool and the engine ------------------------------------------
    webhook_guard = Guard(cfg.webhooks.allow_private_networks)
    dispatcher: WebhookDispatcher | None = None
    engine: DeliveryEngine | None = None
    if deliver:
        dispatcher = WebhookDispatcher(
            store, clock, cfg.webhooks, metrics, webhook_guard, reveal=webhook_secrets.reveal
        )
        engine = DeliveryEngine(
            store,
            clock,
            blobs,
            metrics,
            cfg,
            handlers={"webhook": dispatcher.submit},
            signer_for=dkim_keys.signer_for,
            return_path=return_path,
            unsubscribe_headers=unsubscribe_headers,
            held=reputation.is_held,
            track=tracking.rewrite,
        )
    health = Health(store, clock, metrics, reputation, engine, cfg)
    health.node = role.node_id or role.node

    # ---- sending: queues, messages, rate limits, batches, submission ------------------------
    keys = KeyService(store, clock, on_change=feed.note)
    queues = QueueService(store, clock, tuple(cfg.delivery.retry_schedule))
    if engine is not None:
        queues.on_change.append(engine.queues.invalidate)
    queues.on_change.append(lambda tenant_id: feed.note("queues", tenant_id))
    messages = MessageService(
        store,
        blobs,
        clock,
        attempts_from(cfg.delivery.retry_schedule),
        queues=queues,
        max_variable_depth=cfg.render.max_variable_depth,
        on_accepted=[health.count_accepted],
        templates=templates,
    )
    changed_here = tenant_changed(messages, engine)

    def changed(tenant_id: str) -> None:
        changed_here(tenant_id)
        feed.note("tenant_rules", tenant_id)

    async def tenant_rate_limits(tenant_id: str) -> RateLimits:
        return (await messages.context(tenant_id)).tenant.settings.rate_limits

    rate_limits = RateLimitService(
        store,
        clock,
        limits_of(cfg),
        tenant_rate_limits,
        lambda tenant_id: metrics.rate_limit_hits.labels(tenant=tenant_id).inc(),
        shared=role.shared,
    )
    submissions = SubmissionService(messages, rate_limits.check, rate_limits.release, hostname)
    batches = BatchService(store, clock, messages, queues)
    scheduled_jobs = ScheduledJobService(store, messages, clock, batches=BatchPayloads(batches))
    scheduled_jobs.on_change.append(lambda: feed.note("jobs", ""))
    suppressions = SuppressionService(store)
    domains = DomainService(store, changed, dkim_keys)
    purged = metrics.purged_rows
    storage = cfg.storage
    domain_checks = _domain_checks(cfg, store, dkim_keys, clock, changed)

    # ---- providers a tenant manages, and the providers' event webhooks ----------------------
    parts = ProviderParts(store.save_outbox, clock, cfg.delivery.hostname, metrics)

    async def route_tenant_provider(_: str, provider_id: str, provider: Provider | None) -> None:
        if engine is not None:
            engine.route_tenant_provider(provider_id, provider)
        elif provider is not None:
            await provider.aclose()

    tenant_providers = TenantProvidersService(
        store,
        clock,
        secret_box,
        lambda record, credentials: build_tenant_provider(record, credentials, parts),
        route_tenant_provider,
    )

    async def webhook_sources() -> list[WebhookSource]:
        return await provider_webhook_sources(cfg_now(), tenant_providers)

    def cfg_now() -> Config:
        return services.config  # the running config: a reload replaces it

    provider_events = ProviderEventsService(
        store,
        webhook_sources,
        hard_bounces=cfg.suppression.hard_bounces,
        on_effects=reputation_checks,
    )
    compliance = wire_compliance(cfg, store, blobs, clock, tasks)
    ticker = Ticker(scheduled_jobs, store, clock)
    _apply_changes(feed, keys, changed_here, engine, ticker, reputation)
    listeners = role.runs_singletons  # the SMTP listeners bind their own ports: one process
    services = Services(
        config=cfg,
        clock=clock,
        metrics=metrics,
        store=store,
        storage_path=cfg.storage.path,
        blobs=blobs,
        tasks=tasks,
        role=role,
        changes=feed,
        health=health,
        keys=keys,
        queues=queues,
        messages=messages,
        rate_limits=rate_limits,
        submissions=submissions,
        outbox=OutboxService(store),
        suppressions=suppressions,
        secret_box=secret_box,
        dkim_keys=dkim_keys,
        reputation=reputation,
        reputation_checks=reputation_checks,
        inbound=inbound,
        webhook_guard=webhook_guard,
        webhooks=WebhookService(
            store,
            clock,
            webhook_guard.check_url,
            cfg.webhooks.rotation_grace_seconds,
            attempts_from(cfg.webhooks.retry_schedule),
            webhook_secrets,
        ),
        webhook_dispatcher=dispatcher,
        delivery=engine,
        domains=domains,
        tenant_settings=TenantSettingsService(
            store, {*cfg.providers, "outbox"}, changed, tenant_providers.route_names
        ),
        tenant_providers=tenant_providers,
        provider_events=provider_events,
        domain_checks=domain_checks,
        operators=OperatorService(store, keys, suppressions, changed),
        batches=batches,
        compat=CompatService(messages),
        scheduled_jobs=scheduled_jobs,
        ticker=ticker,
        analytics=AnalyticsService(store, clock),
        retention=RetentionService(
            store,
            blobs,
            clock,
            storage.retention_days,
            storage.attachment_retention_days,
            storage.purge_batch_size,
            lambda kind, n: purged.labels(kind=kind).inc(n),
        ),
        housekeeping=Housekeeping(
            store,
            clock,
            keys,
            dkim_keys,
            domain_checks,
            reputation,
            engine,
            storage,
            singletons=False,  # until this process holds the singletons (runtime.py)
            chores=(feed.purge, rate_limits.purge_ended),
        ),
        heartbeat=Heartbeat(
            store,
            clock,
            health.node,
            socket.gethostname(),
            cfg.storage.backend,
            providers=health.provider_beats,
        ),
        nodes=NodeDirectory(store, clock),
        dashboard=DashboardService(store, clock),
        dashboard_actions=DashboardActions(store, messages, blobs),
        admin_sessions=SessionRecords(store),
        connect=ConnectInfo(
            enabled=cfg.submission.enabled,
            host=cfg.submission.host,
            port=cfg.submission.port,
            tls_port=cfg.submission.tls_port,
            starttls=bool(cfg.submission.tls_cert),
            max_message_bytes=cfg.submission.max_message_bytes,
            server_host=cfg.server.host,
        ),
        hostname=hostname,
        submission_server=(
            SubmissionServer(cfg.submission, keys, submissions, clock, hostname or "iep.local")
            if cfg.submission.enabled and listeners
            else None
        ),
        inbound_listener=(
            InboundListener(
                cfg.inbound, inbound.accepts, inbound.receive, socket.getfqdn() or "localhost"
            )
            if cfg.inbound.enabled and listeners
            else None
        ),
        tenant_changed=changed,
        return_path=return_path,
        unsubscribe_headers=unsubscribe_headers,
        templates=templates,
        tracking=tracking,
        audit=compliance.audit,
        gdpr=compliance.gdpr,
        tracing=compliance.tracing,
        trusted_proxies=compliance.trusted_proxies,
    )
    return services


def public_url(cfg: Config) -> str:
    """The base URL of links in mail (one-click unsubscribe, tracking): `[server] public_url`,
    else http://HOST:PORT of this server."""
    host = cfg.server.host if cfg.server.host not in ("0.0.0.0", "::") else "127.0.0.1"
    return cfg.server.public_url or f"http://{host}:{cfg.server.port}"


def _apply_changes(
    feed: ChangeFeed,
    keys: KeyService,
    tenant_changed_here: Callable[[str], None],
    engine: DeliveryEngine | None,
    ticker: Ticker,
    reputation: ReputationService,
) -> None:
    """What a change another process noted drops here (only here: it is not noted again)."""

    def tenant(tenant_id: str) -> None:
        tenant_changed_here(tenant_id)
        keys.drop_tenant(tenant_id)

    feed.on("key", keys.drop_key)
    feed.on("tenant", tenant)
    feed.on("tenant_rules", tenant_changed_here)
    if engine is not None:
        feed.on("queues", engine.queues.invalidate)
    feed.on("jobs", lambda _ref: ticker.wake())
    feed.on("reputation", lambda _ref: reputation.load())


def _verp_hooks(
    cfg: Config, inbound: InboundService
) -> tuple[Callable[[str], str] | None, Callable[[str], bytes]]:
    """The envelope sender (VERP, when `[inbound] bounce_domain` is set) and the one-click
    List-Unsubscribe headers of a message id. The keys are read when first used (after the
    store has opened), not here."""
    bounce_domain = cfg.inbound.bounce_domain
    return_path: Callable[[str], str] | None = None
    if bounce_domain:

        def bounce_address(message_id: str) -> str:
            return verp.bounce_address(inbound.bounce_key, message_id, bounce_domain)

        return_path = bounce_address
    base_url = public_url(cfg)

    def unsubscribe_headers(message_id: str) -> bytes:
        return verp.list_unsubscribe_headers(
            inbound.unsubscribe_key, message_id, base_url, bounce_domain
        )

    return return_path, unsubscribe_headers


def _domain_checks(
    cfg: Config,
    store: Store,
    dkim_keys: DkimKeyService,
    clock: Clock,
    on_verified: Callable[[str], None],
) -> DomainCheckService:
    host = urlparse(cfg.server.public_url).hostname or socket.getfqdn() or "localhost"
    return DomainCheckService(
        store,
        dkim_keys,
        Resolver(cfg.dns.nameservers, cfg.dns.timeout_seconds),
        clock,
        spf_mechanism=cfg.dns.spf_include or f"a:{socket.getfqdn() or host}",
        bounce_domain=cfg.inbound.bounce_domain,
        mx_host=host,
        interval_seconds=cfg.dns.check_interval_seconds,
        on_verified=on_verified,
    )


async def provider_webhook_sources(
    cfg: Config, tenant_providers: TenantProvidersService
) -> list[WebhookSource]:
    """Where provider events may come from: the operator's HTTP providers, then each tenant's
    (named by its id; its events are matched to that tenant's mail only)."""
    out: list[WebhookSource] = []
    for name, p in cfg.providers.items():
        if isinstance(p, SesProviderConfig):
            out.append(WebhookSource(name=name, type="ses",
                                     sns_cert_url_pattern=p.sns_cert_url_pattern))  # fmt: skip
        elif isinstance(p, SendgridProviderConfig):
            out.append(WebhookSource(name=name, type="sendgrid",
                                     sendgrid_public_key=p.webhook_public_key))  # fmt: skip
        elif isinstance(p, MailgunProviderConfig):
            out.append(WebhookSource(name=name, type="mailgun",
                                     mailgun_signing_key=p.webhook_signing_key))  # fmt: skip
    for record in await tenant_providers.store.all_tenant_providers():
        if record.type not in ("ses", "sendgrid", "mailgun"):
            continue
        s, creds = record.settings, tenant_providers.credentials(record)
        out.append(
            WebhookSource(
                name=record.id,
                type=record.type,
                sns_cert_url_pattern=str(
                    s.get("snsCertUrlPattern", SesProviderConfig().sns_cert_url_pattern)
                ),
                sendgrid_public_key=str(s.get("webhookPublicKey", "")),
                mailgun_signing_key=creds.get("webhookSigningKey", ""),
                tenant_id=record.tenant_id,
            )
        )
    return out
