"""Stored templates: the use cases behind /v1/templates, the dashboard's editor and a send by
`template`. A send's template version is cached for `cache_ttl` seconds (dropped at once by
an update or delete made here; another process's shows within the TTL)."""

from typing import Any

from iep_appliance.clock import Clock
from iep_appliance.domain import ids
from iep_appliance.domain.cursors import decode_pair, encode_cursor
from iep_appliance.domain.errors import FieldError, NotFound, ValidationFailed
from iep_appliance.domain.models import SendRequest, TenantSettings
from iep_appliance.domain.render import Rendered, RenderError, RenderLimits, render
from iep_appliance.domain.template_sends import check_variables, strict, with_template
from iep_appliance.domain.templates import TemplateBody, TemplateVersion, check_body, version_of
from iep_appliance.store.base import Store

MAX_PAGE = 200
_CACHE_MAX = 4096


class TemplateService:
    def __init__(
        self, store: Store, clock: Clock, limits: RenderLimits, cache_ttl: float = 5.0
    ) -> None:
        self.store = store
        self.clock = clock
        self.limits = limits
        self.cache_ttl = cache_ttl
        self._cache: dict[tuple[str, str, int | None], tuple[TemplateVersion, float]] = {}

    # ---- write --------------------------------------------------------------------------------

    def _checked(self, body: TemplateBody) -> None:
        errors = check_body(body, self.limits)
        if errors:
            raise ValidationFailed(errors)

    async def create(self, tenant_id: str, body: TemplateBody) -> TemplateVersion:
        self._checked(body)
        now = ids.iso(self.clock.now())
        first = version_of(body, self.clock.new_id(), tenant_id, 1, now)
        return await self.store.create_template(first)

    async def update(self, tenant_id: str, template_id: str, body: TemplateBody) -> TemplateVersion:
        self._checked(body)
        now = ids.iso(self.clock.now())
        stored = await self.store.add_template_version(
            version_of(body, template_id, tenant_id, 0, now)
        )
        if stored is None:
            raise NotFound("Template not found")
        self._forget(tenant_id, template_id)
        return stored

    async def delete(self, tenant_id: str, template_id: str) -> None:
        if not await self.store.delete_template(tenant_id, template_id):
            raise NotFound("Template not found")
        self._forget(tenant_id, template_id)

    def _forget(self, tenant_id: str, template_id: str) -> None:
        for key in [k for k in self._cache if k[0] == tenant_id and k[1] == template_id]:
            del self._cache[key]

    # ---- read ---------------------------------------------------------------------------------

    async def get(
        self, tenant_id: str, template_id: str, version: int | None = None
    ) -> TemplateVersion:
        found = await self.store.get_template(tenant_id, template_id, version)
        if found is None:
            raise NotFound("Template version not found" if version else "Template not found")
        return found

    async def page(
        self, tenant_id: str, limit: int = 50, cursor: str | None = None
    ) -> tuple[list[TemplateVersion], str | None]:
        if not 1 <= limit <= MAX_PAGE:
            raise ValidationFailed([FieldError("limit", f"must be between 1 and {MAX_PAGE}")])
        items = await self.store.list_templates(tenant_id, limit, decode_pair(cursor))
        more = None
        if len(items) == limit:
            more = encode_cursor(items[-1].template_created_at, items[-1].id)
        return items, more

    async def versions(self, tenant_id: str, template_id: str) -> list[TemplateVersion]:
        found = await self.store.list_template_versions(tenant_id, template_id)
        if not found:
            raise NotFound("Template not found")
        return found

    async def preview(
        self,
        tenant_id: str,
        template_id: str,
        variables: dict[str, Any] | None,
        version: int | None = None,
    ) -> Rendered:
        """The version rendered with `variables` (its sample variables when None)."""
        found = await self.get(tenant_id, template_id, version)
        return self.render(found, variables)

    def render(self, found: TemplateVersion, variables: dict[str, Any] | None) -> Rendered:
        values = found.sample_variables if variables is None else variables
        try:
            return render(found.subject, found.html_body, found.text_body, values, self.limits)
        except RenderError as exc:
            raise ValidationFailed([FieldError("variables", f"does not render: {exc}")]) from None

    def render_body(self, body: TemplateBody, variables: dict[str, Any] | None) -> Rendered:
        """A draft (the dashboard's live preview): checked as at create, then rendered."""
        self._checked(body)
        draft = version_of(body, "", "", 0, "")
        return self.render(draft, variables)

    # ---- sends --------------------------------------------------------------------------------

    async def resolve(
        self, tenant_id: str, template_id: str, version: int | None
    ) -> TemplateVersion:
        """The version a send names (cached). Raises ValidationFailed naming `template.id` /
        `template.version` when the tenant has no such template or version."""
        key = (tenant_id, template_id, version)
        hit = self._cache.get(key)
        now = self.clock.monotonic()
        if hit is not None and now - hit[1] < self.cache_ttl:  # a delete elsewhere shows
            return hit[0]
        found = await self.store.get_template(tenant_id, template_id, version)
        if found is None:
            field = "template.version" if version is not None else "template.id"
            if version is not None and await self.store.get_template(tenant_id, template_id):
                raise ValidationFailed(
                    [FieldError(field, f"the template has no version {version}")]
                )
            raise ValidationFailed([FieldError("template.id", "no such template")])
        if len(self._cache) >= _CACHE_MAX:
            self._cache.clear()
        self._cache[key] = (found, now)
        return found

    async def prepare_send(
        self, tenant_id: str, req: SendRequest, settings: TenantSettings
    ) -> tuple[SendRequest, TemplateVersion | None]:
        """The send with its template's sources in place (and `strictVariables` checked)."""
        found = None
        if req.template is not None:
            found = await self.resolve(tenant_id, req.template.id, req.template.version)
            req = with_template(req, found)
        if strict(req, settings):
            check_variables(req, found.variables if found is not None else None)
        return req, found


def template_extra(found: TemplateVersion | None) -> dict[str, Any]:
    """The NewMessage fields that record which template (and version) a message came from."""
    if found is None:
        return {}
    return {"template_id": found.id, "template_version": found.version}
