"""/admin/users: the dashboard's users. Admins create one (the same service function as
`iep admin-user create`), change a role, delete one; nobody can delete themselves or change
their own role, and the last admin cannot go. A changed or deleted user's sessions end at once.
"""

from typing import Any

from litestar import Request, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Response

from iep_appliance.admin.auth import admin_state, current
from iep_appliance.admin.templates import page
from iep_appliance.admin.tenant_page import field_errors, operators, problem, text
from iep_appliance.domain.errors import Conflict, ValidationFailed
from iep_appliance.services.operators import ROLES

NOTICES = {
    "created": "User created.",
    "role": "Role changed; the user signs in again.",
    "deleted": "User deleted.",
}


async def _page(
    request: Request[Any, Any, Any],
    error: str = "",
    errors: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
    status: int = 200,
) -> Response[Any]:
    return page(
        request,
        "users",
        active="Users",
        users=await operators(request).users(),
        roles=ROLES,
        me=current(request).email,
        notice=NOTICES.get(request.query_params.get("notice", ""), ""),
        error=error,
        errors=errors or {},
        form=form or {"email": "", "role": "viewer"},
        status=status,
    )


@get("/users")
async def list_users(request: Request[Any, Any, Any]) -> Response[Any]:
    return await _page(request)


@post("/users", status_code=303)
async def create_user(request: Request[Any, Any, Any]) -> Response[Any]:
    form = await request.form()
    email, role = text(form, "email"), text(form, "role")
    password = form.get("password")
    try:
        await operators(request).create_user(
            email, role, password if isinstance(password, str) else ""
        )
    except ValidationFailed as exc:
        return await _page(request, "", field_errors(exc), {"email": email, "role": role}, 422)
    except Conflict as exc:
        return await _page(request, "", {"email": exc.detail}, {"email": email, "role": role}, 409)
    return Redirect(path="/admin/users?notice=created", status_code=303)


@post("/users/{user_id:str}/role", status_code=303)
async def change_role(request: Request[Any, Any, Any], user_id: FromPath[str]) -> Response[Any]:
    form = await request.form()
    try:
        me = current(request).email
        user = await operators(request).set_role(user_id, text(form, "role"), me)
    except (Conflict, ValidationFailed) as exc:
        status = 409 if isinstance(exc, Conflict) else 422
        return await _page(request, problem(exc).error, status=status)
    await admin_state(request.app).sessions.end_all_of(user.email)
    return Redirect(path="/admin/users?notice=role", status_code=303)


@post("/users/{user_id:str}/delete", status_code=303)
async def delete_user(request: Request[Any, Any, Any], user_id: FromPath[str]) -> Response[Any]:
    try:
        user = await operators(request).delete_user(user_id, current(request).email)
    except Conflict as exc:
        return await _page(request, exc.detail, status=409)
    await admin_state(request.app).sessions.end_all_of(user.email)
    return Redirect(path="/admin/users?notice=deleted", status_code=303)
