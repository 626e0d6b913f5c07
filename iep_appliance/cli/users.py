"""`iep admin-user create|list|set-password|delete`: the dashboard's users. Passwords are
read from stdin (one line) or, on a terminal, asked for without echo; never an argument."""

import argparse
import getpass
import sys
from typing import Any

from iep_appliance.cli.context import Services, add_command, add_group
from iep_appliance.cli.output import OK, emit, table
from iep_appliance.domain.models import AdminUser


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    actions = add_group(sub, "admin-user", "dashboard users: create, list, set-password, delete")
    c = add_command(actions, common, "create", "create a dashboard user", _create)
    c.add_argument("--email", required=True)
    c.add_argument("--role", choices=["admin", "viewer"], default="admin")
    add_command(actions, common, "list", "every dashboard user", _list)
    sp = add_command(
        actions, common, "set-password", "a new password (stdin); signs the user out", _set_password
    )
    sp.add_argument("--email", required=True)
    rm = add_command(actions, common, "delete", "delete a user (not the last admin)", _delete)
    rm.add_argument("--email", required=True)


def user_json(u: AdminUser) -> dict[str, Any]:
    return {"id": u.id, "email": u.email, "role": u.role, "createdAt": u.created_at}


def _read_password() -> str:
    if sys.stdin.isatty():
        return getpass.getpass("password: ")
    return sys.stdin.readline().rstrip("\n")


async def _create(s: Services, args: argparse.Namespace) -> int:
    user_id = await s.operators.create_user(args.email, args.role, _read_password())
    email = args.email.strip().lower()
    emit(args, {"id": user_id, "email": email, "role": args.role},
         f"dashboard user {email} created (role {args.role})")  # fmt: skip
    return OK


async def _list(s: Services, args: argparse.Namespace) -> int:
    users = await s.operators.users()
    rows = [["EMAIL", "ROLE", "CREATED", "ID"]]
    rows += [[u.email, u.role, u.created_at, u.id] for u in users]
    emit(args, {"data": [user_json(u) for u in users]}, table(rows))
    return OK


async def _set_password(s: Services, args: argparse.Namespace) -> int:
    user = await s.operators.set_password(args.email, _read_password())
    emit(args, {**user_json(user), "passwordChanged": True},
         f"password of {user.email} changed; their dashboard sessions were ended")  # fmt: skip
    return OK


async def _delete(s: Services, args: argparse.Namespace) -> int:
    user = await s.operators.user_by_email(args.email)
    await s.operators.delete_user(user.id, acting_email="")
    emit(args, {**user_json(user), "deleted": True}, f"dashboard user {user.email} deleted")
    return OK
