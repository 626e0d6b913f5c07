"""`Injected[KeyService]`: a handler parameter Litestar fills with the service of that name
(`app.dependencies`). Its value is the one object the wiring built, so it is not validated
per request."""

from typing import TypeAlias, TypeVar

from litestar.di import NamedDependency
from litestar.params import SkipValidation

T = TypeVar("T")
Injected: TypeAlias = NamedDependency[SkipValidation[T]]
