"""/v1/templates: stored, versioned templates (DESIGN §10.5; admin writes, read reads).

A template is `{id, name, version, subject, htmlBody, textBody, sampleVariables, variables,
createdAt, updatedAt}` (its latest version); every PUT makes a new immutable version. Sends
name one in `template: {id, version?}`. Thin: rules live in domain/templates.py, use cases
in services/templates.py."""

from typing import Annotated, Any

import msgspec
from litestar.params import FromPath, JSONBody

from iep_appliance.api.inject import Injected
from iep_appliance.api.pages import Paging
from iep_appliance.api.routes import Caller, Routes
from iep_appliance.domain.templates import TemplateBody, TemplateVersion
from iep_appliance.services.templates import TemplateService

routes = Routes(tag="templates", scope="read")


class CreatedView(msgspec.Struct, frozen=True):
    id: Annotated[str, msgspec.Meta(description="The template's id.")]
    name: Annotated[str, msgspec.Meta(description="Its name.")]
    version: Annotated[int, msgspec.Meta(description="The version just stored (1 at create).")]


class TemplateView(msgspec.Struct, frozen=True, rename="camel"):
    id: Annotated[str, msgspec.Meta(description="The template's id.")]
    name: Annotated[str, msgspec.Meta(description="Its name (of this version).")]
    version: Annotated[int, msgspec.Meta(description="This version's number (1, 2, …).")]
    subject: Annotated[str, msgspec.Meta(description="Subject template (Handlebars).")]
    html_body: Annotated[str, msgspec.Meta(description="HTML body template (Handlebars).")]
    text_body: Annotated[
        str | None, msgspec.Meta(description="Plain-text template; null: derived from the HTML.")
    ]
    sample_variables: Annotated[
        dict[str, Any], msgspec.Meta(description="Variables for previews and test sends.")
    ]
    variables: Annotated[
        list[str],
        msgspec.Meta(description="The variables it uses (dotted paths), found by parsing it."),
    ]
    created_at: Annotated[str, msgspec.Meta(description="When the template was created.")]
    updated_at: Annotated[str, msgspec.Meta(description="When this version was stored.")]


class TemplateList(msgspec.Struct, frozen=True, rename="camel"):
    data: Annotated[list[TemplateView], msgspec.Meta(description="The latest version of each.")]
    next_cursor: Annotated[
        str | None, msgspec.Meta(description="Cursor of the next page; null on the last page.")
    ]


class VersionList(msgspec.Struct, frozen=True, rename="camel"):
    data: Annotated[list[TemplateView], msgspec.Meta(description="Every version, newest first.")]
    next_cursor: Annotated[str | None, msgspec.Meta(description="Always null (one page).")] = None


class PreviewBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    variables: Annotated[
        dict[str, Any] | None,
        msgspec.Meta(description="Variables to render with; the sample variables when absent."),
    ] = None
    version: Annotated[
        Annotated[int, msgspec.Meta(ge=1)] | None,
        msgspec.Meta(description="The version; the latest when absent."),
    ] = None


class PreviewView(msgspec.Struct, frozen=True):
    subject: Annotated[str, msgspec.Meta(description="The rendered subject.")]
    html: Annotated[str, msgspec.Meta(description="The rendered HTML body.")]
    text: Annotated[str, msgspec.Meta(description="The rendered (or derived) text body.")]


def view(v: TemplateVersion) -> TemplateView:
    return TemplateView(
        id=v.id,
        name=v.name,
        version=v.version,
        subject=v.subject,
        html_body=v.html_body,
        text_body=v.text_body,
        sample_variables=v.sample_variables,
        variables=list(v.variables),
        created_at=v.template_created_at or v.created_at,
        updated_at=v.created_at,
    )


@routes.post(
    "/v1/templates",
    scope="admin",
    status_code=201,
    summary="Store a template (version 1)",
    description="422 names the field when a part does not parse as Handlebars or the template,"
    " rendered with its `sampleVariables`, exceeds a `[render]` limit.",
)
async def create_template(
    templates: Injected[TemplateService], principal: Caller, data: JSONBody[TemplateBody]
) -> CreatedView:
    v = await templates.create(principal.tenant_id, data)
    return CreatedView(id=v.id, name=v.name, version=v.version)


@routes.get("/v1/templates", summary="List templates (the latest version of each), oldest first")
async def list_templates(
    templates: Injected[TemplateService],
    principal: Caller,
    page: Paging,
) -> TemplateList:
    items, more = await templates.page(principal.tenant_id, page.limit, page.cursor)
    return TemplateList(data=[view(v) for v in items], next_cursor=more)


@routes.get("/v1/templates/{template_id:str}", summary="One template (its latest version)")
async def get_template(
    templates: Injected[TemplateService], principal: Caller, template_id: FromPath[str]
) -> TemplateView:
    return view(await templates.get(principal.tenant_id, template_id))


@routes.put(
    "/v1/templates/{template_id:str}",
    scope="admin",
    status_code=200,
    summary="Store a new version (the earlier ones stay as they were)",
)
async def update_template(
    templates: Injected[TemplateService],
    principal: Caller,
    template_id: FromPath[str],
    data: JSONBody[TemplateBody],
) -> TemplateView:
    return view(await templates.update(principal.tenant_id, template_id, data))


@routes.get(
    "/v1/templates/{template_id:str}/versions", summary="Every version of a template, newest first"
)
async def list_versions(
    templates: Injected[TemplateService], principal: Caller, template_id: FromPath[str]
) -> VersionList:
    found = await templates.versions(principal.tenant_id, template_id)
    return VersionList(data=[view(v) for v in found])


@routes.get(
    "/v1/templates/{template_id:str}/versions/{version:int}", summary="One version of a template"
)
async def get_version(
    templates: Injected[TemplateService],
    principal: Caller,
    template_id: FromPath[str],
    version: FromPath[int],
) -> TemplateView:
    return view(await templates.get(principal.tenant_id, template_id, version))


@routes.delete(
    "/v1/templates/{template_id:str}",
    scope="admin",
    status_code=204,
    summary="Delete a template and its versions (messages made from it keep their copy)",
)
async def delete_template(
    templates: Injected[TemplateService], principal: Caller, template_id: FromPath[str]
) -> None:
    await templates.delete(principal.tenant_id, template_id)


@routes.post(
    "/v1/templates/{template_id:str}/preview",
    status_code=200,
    summary="Render a template with variables (its sample variables when absent)",
)
async def preview_template(
    templates: Injected[TemplateService],
    principal: Caller,
    template_id: FromPath[str],
    data: JSONBody[PreviewBody],
) -> PreviewView:
    service = templates
    r = await service.preview(principal.tenant_id, template_id, data.variables, data.version)
    return PreviewView(subject=r.subject, html=r.html, text=r.text)


HANDLERS = [
    create_template,
    list_templates,
    get_template,
    update_template,
    list_versions,
    get_version,
    delete_template,
    preview_template,
]
