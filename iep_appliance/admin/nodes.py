"""/admin/nodes: the processes serving from this store (nodes and their workers), each with
its last heartbeat. Admins only."""

from typing import Any

from litestar import Request, get
from litestar.response import Template

from iep_appliance.admin.context import services
from iep_appliance.admin.templates import page


@get("/nodes")
async def show(request: Request[Any, Any, Any]) -> Template:
    rows = await services(request).nodes.list()
    return page(request, "nodes", active="Nodes", nodes=rows)
