"""`iep admin-user create|list|set-password|delete`: the dashboard's users. Passwords are
read from stdin (one line) or, on a terminal, asked for without echo; never an argument."""

import argparse
import getpass
import sys
from typing import Any

from iep_appliance.cli.context import Services, with_services
from iep_appliance.cli.output import OK, emit, table
from iep_appliance.domain.models import AdminUser


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    group = sub.add_parser("admin-user", help="dashboard users: create, list, set-password, delete")
    actions = group.add_subparsers(dest="action", required=True)
    c = actions.add_parser("create", parents=[common], help="create a dashboard user")
    c.add_argument("--email", required=True)
    c.add_argument("--role", choices=["admin", "viewer"], default="admin")
    c.set_defaults(run=with_services(_create))
    ls = actions.add_parser("list", parents=[common], help="every dashboard user")
    ls.set_defaults(run=with_services(_list))
    sp = actions.add_parser(
        "set-password", parents=[common], help="a new password (stdin); signs the user out"
    )
    sp.add_argument("--email", required=True)
    sp.set_defaults(run=with_services(_set_password))
    rm = actions.add_parser("delete", parents=[common], help="delete a user (not the last admin)")
    rm.add_argument("--email", required=True)
    rm.set_defaults(run=with_services(_delete))


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
