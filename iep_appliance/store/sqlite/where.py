"""A WHERE clause built from a filter's fields: its conditions and their bound arguments, in
order (the message search, the outbox and the audit log's pages)."""

from typing import Any


class Where:
    def __init__(self) -> None:
        self.conditions: list[str] = []
        self.args: list[Any] = []

    def add(self, condition: str, *args: Any) -> None:
        """AND `condition`, with one argument per `?` it holds."""
        self.conditions.append(condition)
        self.args.extend(args)

    def extend(self, other: "Where") -> None:
        """AND every condition of `other`, with its arguments."""
        self.conditions += other.conditions
        self.args += other.args

    def sql(self) -> str:
        """The conditions joined by AND."""
        return " AND ".join(self.conditions)

    def clause(self) -> str:
        """` WHERE …`, or nothing when there is no condition."""
        return f" WHERE {self.sql()}" if self.conditions else ""
