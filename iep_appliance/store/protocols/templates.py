"""TemplateStore: stored, versioned templates (DESIGN §10.5).

A template is a chain of immutable versions; the latest stands for it. Every verb is
scoped by tenant: another tenant's template id reads as missing.
"""

from typing import Protocol

from iep_appliance.domain.templates import TemplateVersion


class TemplateStore(Protocol):
    async def create_template(self, first: TemplateVersion) -> TemplateVersion:
        """Store a new template with `first` as version 1 (its id, tenant and time)."""

    async def add_template_version(self, next_: TemplateVersion) -> TemplateVersion | None:
        """Store the next version of `next_.id` (its `version` is ignored: the store numbers
        it latest + 1 in the same transaction). None when the tenant has no such template."""

    async def get_template(
        self, tenant_id: str, template_id: str, version: int | None = None
    ) -> TemplateVersion | None:
        """That version (the latest when None), or None."""

    async def list_templates(
        self, tenant_id: str, limit: int, after: tuple[str, str] | None
    ) -> list[TemplateVersion]:
        """The latest version of each template, oldest template first, after the
        (template created_at, id) of the last one seen."""

    async def list_template_versions(
        self, tenant_id: str, template_id: str
    ) -> list[TemplateVersion]:
        """Every version, newest first ([] when there is no such template)."""

    async def delete_template(self, tenant_id: str, template_id: str) -> bool:
        """The template and its versions (messages made from it keep their copy)."""
