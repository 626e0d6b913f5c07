"""The route decorators of one API resource: `routes = Routes(tag="queues", scope="admin")`,
then `@routes.get("/v1/queues", summary=...)` is Litestar's `@get` with `tags=["queues"]` and
`dependencies={"principal": needs("admin"), "page": PAGING}` filled in. `scope=` on one route
overrides the resource's scope; a route's own `dependencies=` are added to those two; every
other keyword goes to Litestar unchanged. A handler takes the Principal of the request's key
as `principal: Caller`, and a list's `limit` and `cursor` as `page: Paging` (api/pages.py)."""

from typing import Any, TypeAlias

import litestar
from litestar.di import NamedDependency
from litestar.handlers import HTTPRouteHandler

from iep_appliance.api.auth import needs
from iep_appliance.api.pages import PAGING
from iep_appliance.domain.models import Principal

Caller: TypeAlias = NamedDependency[Principal]
"""The `principal` a route's `needs(scope)` dependency yields."""


class Routes:
    def __init__(self, tag: str, scope: str) -> None:
        self.tag = tag
        self.scope = scope

    def _options(self, scope: str | None, options: dict[str, Any]) -> dict[str, Any]:
        own = options.pop("dependencies", {})
        return {
            "dependencies": {"principal": needs(scope or self.scope), "page": PAGING, **own},
            "tags": [self.tag],
            **options,
        }

    def get(self, path: str, *, scope: str | None = None, **options: Any) -> HTTPRouteHandler:
        return litestar.get(path, **self._options(scope, options))

    def post(self, path: str, *, scope: str | None = None, **options: Any) -> HTTPRouteHandler:
        return litestar.post(path, **self._options(scope, options))

    def put(self, path: str, *, scope: str | None = None, **options: Any) -> HTTPRouteHandler:
        return litestar.put(path, **self._options(scope, options))

    def patch(self, path: str, *, scope: str | None = None, **options: Any) -> HTTPRouteHandler:
        return litestar.patch(path, **self._options(scope, options))

    def delete(self, path: str, *, scope: str | None = None, **options: Any) -> HTTPRouteHandler:
        return litestar.delete(path, **self._options(scope, options))
