"""What `iep store copy` reports per table: the rows on each side."""

import msgspec


class TableCount(msgspec.Struct, frozen=True):
    table: str
    source: int
    target: int

    @property
    def matches(self) -> bool:
        return self.source == self.target
