"""The TemplateStore verbs (store/protocols/templates.py) over SQLite; the SQL lives in
store/sqlite/templates.py."""

from iep_appliance.domain.templates import TemplateVersion
from iep_appliance.store.sqlite import templates as q_templates
from iep_appliance.store.sqlite.store_base import StoreBase


class TemplateVerbs(StoreBase):
    async def create_template(self, first: TemplateVersion) -> TemplateVersion:
        return await self.db.write(lambda c: q_templates.create(c, first))

    async def add_template_version(self, next_: TemplateVersion) -> TemplateVersion | None:
        return await self.db.write(lambda c: q_templates.add_version(c, next_))

    async def get_template(
        self, tenant_id: str, template_id: str, version: int | None = None
    ) -> TemplateVersion | None:
        return await self.db.read(lambda c: q_templates.get(c, tenant_id, template_id, version))

    async def list_templates(
        self, tenant_id: str, limit: int, after: tuple[str, str] | None
    ) -> list[TemplateVersion]:
        return await self.db.read(lambda c: q_templates.page(c, tenant_id, limit, after))

    async def list_template_versions(
        self, tenant_id: str, template_id: str
    ) -> list[TemplateVersion]:
        return await self.db.read(lambda c: q_templates.versions(c, tenant_id, template_id))

    async def delete_template(self, tenant_id: str, template_id: str) -> bool:
        return await self.db.write(lambda c: q_templates.delete(c, tenant_id, template_id))
