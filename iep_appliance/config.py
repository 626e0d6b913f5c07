"""`iep.toml` declared once as frozen msgspec Structs.

Every key has a type, a default and a description; unknown keys are errors that
name the key. `load(path)` resolves relative paths against the config file and
reads `*_env` secrets from the environment. Nothing else reads the config file.
"""

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from iep_appliance.config_blobs import BlobsConfig
from iep_appliance.config_compliance import (
    AuditRetentionDays,
    TelemetryConfig,
    TrustedProxies,
    check_cidrs,
)
from iep_appliance.config_convert import convert
from iep_appliance.config_env import apply_environ, blame
from iep_appliance.config_providers import (
    PROVIDER_TYPES,
    OutboxProviderConfig,
    ProviderConfig,
)
from iep_appliance.domain.errors import ConfigError
from iep_appliance.domain.sender_domains import parse_nameserver


class _Section(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    pass


class ServerConfig(_Section):
    host: Annotated[str, Meta(description="Address the HTTP server binds.")] = "127.0.0.1"
    port: Annotated[int, Meta(ge=0, le=65535, description="HTTP port.")] = 8080
    max_request_bytes: Annotated[
        int, Meta(ge=1024, description="Largest accepted request body in bytes (30 MB).")
    ] = 30 * 1024 * 1024
    drain_seconds: Annotated[
        float,
        Meta(
            ge=0,
            description="On SIGTERM, how long HTTP requests in flight (and kept-alive"
            " connections) may finish before the listener closes; new requests get 503 with"
            " Retry-After meanwhile.",
        ),
    ] = 10
    public_url: Annotated[
        str,
        Meta(
            description="Base URL of links in mail (one-click unsubscribe, open/click"
            ' tracking), e.g. "https://mail.example.com"; when empty, http://HOST:PORT of this'
            " server."
        ),
    ] = ""
    # -- worker processes (worker_supervisor.py)
    workers: Annotated[
        int,
        Meta(
            ge=0,
            le=256,
            description="Worker processes serving HTTP and sending from the same store"
            " (`iep serve --workers N` wins); 0 = one per CPU core.",
        ),
    ] = 1
    node_id: Annotated[
        str,
        Meta(
            max_length=100,
            description="This node's name among the nodes sharing a PostgreSQL store (the"
            ' owner its leases record; with workers "NODE/wI"); empty = the hostname.',
        ),
    ] = ""
    trusted_proxies: TrustedProxies = msgspec.field(default_factory=list)

    def __post_init__(self) -> None:
        check_cidrs(self.trusted_proxies)


class StorageConfig(_Section):
    backend: Annotated[
        Literal["sqlite", "postgresql"],
        Meta(description='"sqlite": one file; "postgresql": a server N nodes share.'),
    ] = "sqlite"
    url_env: Annotated[
        str,
        Meta(description="Environment variable holding the PostgreSQL URL (postgresql only)."),
    ] = "IEP_DATABASE_URL"
    pool_size: Annotated[
        int, Meta(ge=1, le=200, description="PostgreSQL connections per node (postgresql only).")
    ] = 10
    path: Annotated[
        str, Meta(description="SQLite database file (WAL); created on first start.")
    ] = "data/iep.db"
    attachments_dir: Annotated[str, Meta(description="Directory for attachment files.")] = (
        "data/attachments"
    )
    synchronous: Annotated[
        Literal["FULL", "NORMAL"],
        Meta(description="SQLite synchronous mode; FULL makes every commit durable on power loss."),
    ] = "FULL"
    commit_window_ms: Annotated[
        float,
        Meta(ge=0, le=100, description="How long the writer waits to gather a group commit (ms)."),
    ] = 1.0
    # -- retention: how long finished messages and their files are kept
    retention_days: Annotated[
        int,
        Meta(
            ge=0,
            description="Finished messages (sent, failed, bounced, cancelled) with their events,"
            " jobs and attachments are purged this many days after their last change;"
            " 0 = keep forever.",
        ),
    ] = 90
    attachment_retention_days: Annotated[
        int,
        Meta(
            ge=0,
            description="Attachment files (and rows) of sent, bounced or cancelled messages are"
            " removed this many days after upload, even while the message stays (a failed one"
            " keeps them for a retry); 0 = keep forever.",
        ),
    ] = 30
    purge_batch_size: Annotated[
        int,
        Meta(
            ge=1,
            le=1000,  # each step runs on the event loop inside a group commit
            description="Messages purged per write (each with its events, job and outbox copy:"
            " about 6 rows); small, so a purge never stalls the writer.",
        ),
    ] = 50
    purge_interval_seconds: Annotated[
        float,
        Meta(gt=0, description="How often the housekeeping task purges (first run after this)."),
    ] = 3600
    audit_retention_days: AuditRetentionDays = 365
    provider_event_retention_days: Annotated[
        int,
        Meta(
            ge=1,
            description="Provider events (SES/SendGrid/Mailgun webhooks) are kept this many"
            " days to refuse replays; Mailgun's one-time tokens one day (its signatures"
            " expire after 15 minutes).",
        ),
    ] = 90


class DeliveryConfig(_Section):
    concurrency: Annotated[
        int, Meta(ge=1, le=1024, description="Sender tasks delivering at once.")
    ] = 16
    retry_schedule: Annotated[
        list[Annotated[int, Meta(gt=0)]],
        Meta(description="Seconds between attempts; its length + 1 is the number of attempts."),
    ] = msgspec.field(default_factory=lambda: [60, 300, 900, 3600])
    shutdown_grace_seconds: Annotated[
        float, Meta(ge=0, description="How long in-flight sends may finish on SIGTERM.")
    ] = 30
    lease_seconds: Annotated[
        int, Meta(ge=5, description="How long a claimed job is leased to this node.")
    ] = 300
    claim_batch: Annotated[
        int, Meta(ge=1, le=1000, description="Jobs claimed per scheduler step.")
    ] = 64
    hostname: Annotated[
        str,
        Meta(
            description="Name this appliance gives itself in SMTP EHLO and on the right of"
            " Message-ID; empty = the machine's FQDN, or the sender's domain when the FQDN has"
            " no dot or is localhost.",
        ),
    ] = ""


class RoutingConfig(_Section):
    default_provider: Annotated[str, Meta(description="Provider for tenants that set none.")] = (
        "outbox"
    )
    fallback_provider: Annotated[
        str | None, Meta(description="Provider used while the primary's breaker is open.")
    ] = None


class WebhooksConfig(_Section):
    allow_private_networks: Annotated[
        bool, Meta(description="Allow webhook URLs on private/loopback networks (SSRF guard off).")
    ] = False
    retry_schedule: Annotated[
        list[Annotated[int, Meta(gt=0)]],
        Meta(description="Seconds between webhook attempts; length + 1 = attempts."),
    ] = msgspec.field(default_factory=lambda: [10, 60, 300])
    concurrency: Annotated[int, Meta(ge=1, le=256, description="Webhook POSTs in flight.")] = 8
    timeout_seconds: Annotated[float, Meta(gt=0, description="Timeout of one webhook POST.")] = 10
    disable_after_hours: Annotated[
        float,
        Meta(ge=0, description="Disable an endpoint failing without success this long; 0 = never."),
    ] = 72
    rotation_grace_seconds: Annotated[
        int, Meta(ge=0, description="How long the old secret still signs after a rotation.")
    ] = 86400


_TenantLimit = Annotated[int, Meta(ge=0, description="Default per-tenant limit; 0 = unlimited.")]


class LimitsConfig(_Section):
    max_per_minute: _TenantLimit = 0
    max_per_hour: _TenantLimit = 0
    max_per_day: _TenantLimit = 0


class BreakerConfig(_Section):
    error_rate: Annotated[
        float, Meta(gt=0, le=1, description="Open when this share of sends fails ...")
    ] = 0.5
    min_requests: Annotated[
        int, Meta(ge=1, description="... over at least this many sends ...")
    ] = 10
    window_seconds: Annotated[float, Meta(gt=0, description="... in this rolling window.")] = 60
    cooldown_seconds: Annotated[
        float, Meta(gt=0, description="Then one trial send (half-open) after this long.")
    ] = 30


class RenderConfig(_Section):
    """Limits of one message's render (DESIGN §10.1); a message over one fails, naming it."""

    max_steps: Annotated[
        int,
        Meta(
            ge=100,
            description="Template work per message: blocks entered, values looked up and"
            " #each items, over subject, HTML and text together.",
        ),
    ] = 100_000
    max_output_bytes: Annotated[
        int,
        Meta(ge=1024, description="Bytes of the rendered subject, HTML and text together."),
    ] = 5_000_000
    max_variable_depth: Annotated[
        int,
        Meta(
            ge=1,
            le=256,
            description="Deepest nesting of objects and lists in `variables` (422 at accept).",
        ),
    ] = 32


class SecurityConfig(_Section):
    secret_key_env: Annotated[
        str,
        Meta(
            description="Environment variable holding the master key (32 random bytes as 64 hex"
            " digits or base64) that encrypts secrets at rest and signs tokens; when it is unset,"
            " secret.key (0600) next to the database is generated at first start and used."
        ),
    ] = "IEP_SECRET_KEY"


class DkimConfig(_Section):
    sign: Annotated[
        bool, Meta(description="Sign every message from a domain that has a DKIM key.")
    ] = True
    algorithm: Annotated[
        Literal["rsa", "ed25519"],
        Meta(description="Key type of the DKIM key generated for a new domain (RSA is 2048 bits)."),
    ] = "rsa"


class DnsConfig(_Section):
    nameservers: Annotated[
        list[str],
        Meta(
            description='Nameservers for domain verification, "HOST" or "HOST:PORT";'
            " empty = the system's resolvers."
        ),
    ] = msgspec.field(default_factory=list)
    timeout_seconds: Annotated[
        float, Meta(gt=0, le=60, description="Timeout of one domain's DNS checks.")
    ] = 5
    check_interval_seconds: Annotated[
        float,
        Meta(
            gt=0,
            description="How often each listed domain's DNS records are rechecked (a rotated"
            " DKIM key starts signing at the check that sees its record).",
        ),
    ] = 300
    spf_include: Annotated[
        str,
        Meta(
            description='The SPF mechanism senders should publish, e.g. "include:_spf.example.com"'
            ' or "ip4:203.0.113.5"; when empty, "a:" + this host name.'
        ),
    ] = ""


class InboundConfig(_Section):
    enabled: Annotated[
        bool,
        Meta(description="Run the inbound SMTP listener for bounces, complaints and unsubscribes."),
    ] = False
    host: Annotated[str, Meta(description="Address the inbound listener binds.")] = "127.0.0.1"
    port: Annotated[int, Meta(ge=0, le=65535, description="Inbound SMTP port.")] = 2526
    bounce_domain: Annotated[
        str,
        Meta(
            description="Domain of the envelope sender (bounce+TOKEN@DOMAIN) and of fbl@ and"
            " unsubscribe+TOKEN@; its MX must point at this listener. Empty = no VERP."
        ),
    ] = ""
    max_message_bytes: Annotated[
        int, Meta(ge=1024, description="Largest inbound mail accepted (bytes); larger is 552.")
    ] = 1024 * 1024
    max_stored_bytes: Annotated[
        int, Meta(ge=0, description="How much of each inbound mail is kept for the dashboard.")
    ] = 64 * 1024


class SuppressionConfig(_Section):
    hard_bounces: Annotated[
        int,
        Meta(
            ge=1,
            description="Hard bounces that suppress an address (a 5.1.1 unknown user: one).",
        ),
    ] = 3


class ReputationConfig(_Section):
    window_days: Annotated[
        int, Meta(ge=1, le=90, description="Rolling window of the bounce and complaint rates.")
    ] = 7
    pause_bounce_rate: Annotated[
        float,
        Meta(gt=0, le=1, description="Bounce rate at which a tenant's reputation is paused."),
    ] = 0.05
    pause_complaint_rate: Annotated[
        float,
        Meta(gt=0, le=1, description="Complaint rate at which a tenant's reputation is paused."),
    ] = 0.003
    min_messages: Annotated[
        int, Meta(ge=1, description="Messages in the window before the rates count at all.")
    ] = 100


class LoggingConfig(_Section):
    level: Annotated[
        Literal["DEBUG", "INFO", "WARNING", "ERROR"], Meta(description="Log level.")
    ] = "INFO"
    access_log: Annotated[bool, Meta(description="Log one JSON line per HTTP request.")] = True


class SubmissionConfig(_Section):
    """The SMTP submission server: products send over SMTP with an API key."""

    enabled: Annotated[
        bool, Meta(description="Run the SMTP submission server in the appliance process.")
    ] = False
    host: Annotated[str, Meta(description="Address the SMTP submission server binds.")] = (
        "127.0.0.1"
    )
    port: Annotated[
        int, Meta(ge=0, le=65535, description="SMTP submission port (plain, STARTTLS offered).")
    ] = 2525
    tls_cert: Annotated[
        str,
        Meta(description="PEM certificate (chain) for STARTTLS and tls_port; empty: no TLS."),
    ] = ""
    tls_key: Annotated[str, Meta(description="PEM private key of tls_cert.")] = ""
    tls_port: Annotated[
        int,
        Meta(ge=0, le=65535, description="Implicit-TLS (SMTPS) port; 0: none. Needs tls_cert."),
    ] = 0
    max_message_bytes: Annotated[
        int,
        Meta(ge=1024, description="Largest message accepted (SIZE and DATA), bytes (30 MB)."),
    ] = 31457280


class Config(_Section):
    server: ServerConfig = msgspec.field(default_factory=ServerConfig)
    storage: StorageConfig = msgspec.field(default_factory=StorageConfig)
    blobs: BlobsConfig = msgspec.field(default_factory=BlobsConfig)
    delivery: DeliveryConfig = msgspec.field(default_factory=DeliveryConfig)
    providers: dict[str, ProviderConfig] = msgspec.field(
        default_factory=lambda: {"outbox": OutboxProviderConfig()}
    )
    routing: RoutingConfig = msgspec.field(default_factory=RoutingConfig)
    webhooks: WebhooksConfig = msgspec.field(default_factory=WebhooksConfig)
    limits: LimitsConfig = msgspec.field(default_factory=LimitsConfig)
    breaker: BreakerConfig = msgspec.field(default_factory=BreakerConfig)
    render: RenderConfig = msgspec.field(default_factory=RenderConfig)
    logging: LoggingConfig = msgspec.field(default_factory=LoggingConfig)
    submission: SubmissionConfig = msgspec.field(default_factory=SubmissionConfig)
    security: SecurityConfig = msgspec.field(default_factory=SecurityConfig)
    dkim: DkimConfig = msgspec.field(default_factory=DkimConfig)
    dns: DnsConfig = msgspec.field(default_factory=DnsConfig)
    inbound: InboundConfig = msgspec.field(default_factory=InboundConfig)
    suppression: SuppressionConfig = msgspec.field(default_factory=SuppressionConfig)
    reputation: ReputationConfig = msgspec.field(default_factory=ReputationConfig)
    telemetry: TelemetryConfig = msgspec.field(default_factory=TelemetryConfig)
    base_dir: Annotated[
        str, Meta(description="Directory of the config file; set at load time, never in the file.")
    ] = "."


def parse(data: dict, base_dir: Path, environ: Mapping[str, str] | None = None) -> Config:
    """Validate a parsed TOML document. Raises ConfigError naming every bad key."""
    problems: list[str] = []
    sections: dict[str, object] = {}
    fields = {f.name: f for f in msgspec.structs.fields(Config) if f.name != "base_dir"}
    for name, value in data.items():
        if name not in fields:
            problems.append(f"{name}: unknown key")
            continue
        if name == "providers":
            sections[name] = _parse_providers(value, problems)
            continue
        converted = convert(value, fields[name].type, name, problems)
        if converted is not None:
            sections[name] = converted
    # Every problem at once: the cross-key checks run on the sections that did parse too
    # (not when a provider table is bad: routing would then name a provider "unknown").
    if any(p.startswith("providers") for p in problems):
        raise ConfigError(problems)
    cfg: Config | None = None
    try:
        cfg = _resolve(Config(**sections), base_dir, os.environ if environ is None else environ)
    except ConfigError as exc:
        problems.extend(exc.problems)
    if problems or cfg is None:
        raise ConfigError(problems)
    return cfg


def _parse_providers(value: object, problems: list[str]) -> dict[str, ProviderConfig]:
    """Each `[providers.NAME]` on its own, so errors name the provider (msgspec shows `$[...]`)."""
    if not isinstance(value, dict):
        problems.append("providers: expected a table of providers")
        return {}
    out: dict[str, ProviderConfig] = {}
    for name, table in value.items():
        section = f"providers.{name}"
        variant: Any = ProviderConfig  # not a table: the union says what it expected
        if isinstance(table, dict):
            kind = table.get("type")
            variant = PROVIDER_TYPES.get(kind) if isinstance(kind, str) else None
            if variant is None:
                problems.append(_unknown_type(section, kind))
                continue
        # The Struct of its `type`, so each bad key of the table is named (the union would
        # answer "missing `type`" for every key converted on its own).
        converted = convert(table, variant, section, problems)
        if converted is not None:
            out[name] = converted
    return out


def _unknown_type(section: str, kind: object) -> str:
    if kind is None:
        return f"{section}.type: required key is missing"
    if not isinstance(kind, str):
        return f"{section}.type: expected `str`, got `{type(kind).__name__}`"
    expected = ", ".join(repr(t) for t in PROVIDER_TYPES)
    return f"{section}.type: invalid enum value {kind!r} (expected one of {expected})"


def _resolve(cfg: Config, base_dir: Path, environ: Mapping[str, str]) -> Config:
    problems: list[str] = []
    if cfg.routing.default_provider not in cfg.providers:
        problems.append(
            f"routing.default_provider: unknown provider {cfg.routing.default_provider!r}"
        )
    fb = cfg.routing.fallback_provider
    if fb is not None and fb not in cfg.providers:
        problems.append(f"routing.fallback_provider: unknown provider {fb!r}")
    for i, entry in enumerate(cfg.dns.nameservers):
        try:
            parse_nameserver(entry)
        except ValueError as exc:
            problems.append(f"dns.nameservers[{i}]: {exc}")
    providers = {name: _secrets(name, p, environ, problems) for name, p in cfg.providers.items()}
    if problems:
        raise ConfigError(problems)
    sub = cfg.submission
    if bool(sub.tls_cert) != bool(sub.tls_key):
        problems.append("submission.tls_key: tls_cert and tls_key are set together")
    if sub.tls_port and not sub.tls_cert:
        problems.append("submission.tls_port: needs tls_cert and tls_key")
    if problems:
        raise ConfigError(problems)
    submission = msgspec.structs.replace(
        sub,
        tls_cert=str((base_dir / sub.tls_cert).resolve()) if sub.tls_cert else "",
        tls_key=str((base_dir / sub.tls_key).resolve()) if sub.tls_key else "",
    )
    storage = msgspec.structs.replace(
        cfg.storage,
        path=str((base_dir / cfg.storage.path).resolve()),
        attachments_dir=str((base_dir / cfg.storage.attachments_dir).resolve()),
    )
    return msgspec.structs.replace(
        cfg,
        storage=storage,
        providers=providers,
        submission=submission,
        base_dir=str(base_dir.resolve()),
    )


def _secrets(
    name: str, p: ProviderConfig, environ: Mapping[str, str], problems: list[str]
) -> ProviderConfig:
    """`p` with its secrets read from the environment (a secret in the file is refused)."""
    resolved: dict[str, str] = {"password": ""}
    for secret in p.secrets():
        resolved.setdefault(secret.field, "")
    for field in resolved:
        if getattr(p, field):
            problems.append(
                f"providers.{name}.{field}: secrets come from the environment; use {field}_env"
            )
    for secret in p.secrets():
        if secret.lookup and not secret.required:
            resolved[secret.field] = environ.get(getattr(p, secret.env_key), "")
            continue
        if not secret.required:
            continue
        variable = getattr(p, secret.env_key)
        where = f"providers.{name}.{secret.env_key}"
        if not variable:
            problems.append(f"{where}: required when {secret.when}")
        elif not (value := environ.get(variable, "")):
            problems.append(f"{where}: environment variable {variable} is not set")
        else:
            resolved[secret.field] = value
    problems.extend(p.problems(name))
    return msgspec.structs.replace(p, **resolved)


def load(path: str | Path | None, environ: Mapping[str, str] | None = None) -> Config:
    """Read and validate `path` (None: the embedded defaults, paths relative to the current
    directory), with `IEP_SECTION__KEY` environment overrides applied on top. Raises
    ConfigError with one line per bad key."""
    env = os.environ if environ is None else environ
    data: dict = {}
    base = Path.cwd()
    if path is not None:
        p = Path(path)
        base = p.parent
        try:
            raw = p.read_bytes()
        except OSError as exc:
            raise ConfigError([f"{p}: cannot read config file ({exc.strerror})"]) from None
        try:
            data = tomllib.loads(raw.decode("utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError([f"{p}: not valid TOML ({exc})"]) from None
    sources = apply_environ(data, env)
    try:
        return parse(data, base, dict(env))
    except ConfigError as exc:
        raise ConfigError([blame(line, sources) for line in exc.problems]) from None
