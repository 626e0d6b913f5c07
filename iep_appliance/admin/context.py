"""The services the dashboard works through: the same objects the API's handlers get, typed,
handed over once by `app.build_app` (`install`). Pages reach them with `services(request)`:
the tenant page renders every section from any of its actions, so the loaders need them
without each handler naming them all."""

from dataclasses import dataclass
from typing import Any

from litestar import Litestar, Request

from iep_appliance.services.audit import AuditService
from iep_appliance.services.domain_checks import DomainCheckService
from iep_appliance.services.domains import DomainService
from iep_appliance.services.gdpr import GdprService
from iep_appliance.services.inbound import InboundService
from iep_appliance.services.keys import KeyService
from iep_appliance.services.messages import MessageService
from iep_appliance.services.nodes import NodeDirectory
from iep_appliance.services.operators import OperatorService
from iep_appliance.services.queues import QueueService
from iep_appliance.services.ratelimits import RateLimitService
from iep_appliance.services.reputation import ReputationService
from iep_appliance.services.scheduled_jobs import ScheduledJobService
from iep_appliance.services.suppressions import SuppressionService
from iep_appliance.services.system import ConnectInfo, Health
from iep_appliance.services.templates import TemplateService
from iep_appliance.services.tenant_providers import TenantProvidersService
from iep_appliance.services.tenant_settings import TenantSettingsService
from iep_appliance.services.tracking import TrackingService
from iep_appliance.services.webhooks import WebhookService

_KEY = "iep_dashboard_services"


@dataclass(frozen=True, eq=False)
class DashboardServices:
    operators: OperatorService
    keys: KeyService
    domains: DomainService
    domain_checks: DomainCheckService
    webhooks: WebhookService
    suppressions: SuppressionService
    queues: QueueService
    scheduled_jobs: ScheduledJobService
    reputation: ReputationService
    tenant_settings: TenantSettingsService
    inbound: InboundService
    rate_limits: RateLimitService
    health: Health
    connect: ConnectInfo
    messages: MessageService  # the templates editor's test send
    templates: TemplateService
    tracking: TrackingService
    audit: AuditService
    gdpr: GdprService
    tenant_providers: TenantProvidersService
    nodes: NodeDirectory


def install(app: Litestar, services: DashboardServices) -> None:
    app.state[_KEY] = services


def services(request: Request[Any, Any, Any]) -> DashboardServices:
    found: DashboardServices = request.app.state[_KEY]
    return found
