"""An UpdateItem built clause by clause: conditions, SET/ADD/REMOVE, with placeholders for every name and value.

Admission and settle write many attributes whose names carry ids (``a#minute#202612031305``, ``h#req_…``); writing
them through placeholders keeps any id safe in an expression and lets independent parts (plan windows, the credit
hold, a trial allowance) each add their own clauses to one write.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .dynamo_types import serialize


@dataclass
class Update:
    sets: list[str] = field(default_factory=list)
    adds: list[str] = field(default_factory=list)
    removes: list[str] = field(default_factory=list)
    conditions: list[str] = field(default_factory=list)
    names: dict[str, str] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)

    def name(self, attribute: str) -> str:
        for placeholder, existing in self.names.items():
            if existing == attribute:
                return placeholder
        placeholder = f"#n{len(self.names)}"
        self.names[placeholder] = attribute
        return placeholder

    def value(self, value: Any) -> str:
        placeholder = f":v{len(self.values)}"
        self.values[placeholder] = value
        return placeholder

    def add(self, attribute: str, amount: Any) -> None:
        self.adds.append(f"{self.name(attribute)} {self.value(amount)}")

    def set(self, attribute: str, value: Any) -> None:
        self.sets.append(f"{self.name(attribute)} = {self.value(value)}")

    def set_expression(self, attribute: str, expression: str) -> None:
        """``SET <attribute> = <expression>``; the expression may use placeholders made with name()/value()."""
        self.sets.append(f"{self.name(attribute)} = {expression}")

    def remove(self, attribute: str) -> None:
        self.removes.append(self.name(attribute))

    def require(self, condition: str) -> None:
        self.conditions.append(condition)

    def below(self, attribute: str, limit: Any) -> None:
        """Condition: the counter is missing or under ``limit``."""
        n = self.name(attribute)
        self.require(f"(attribute_not_exists({n}) OR {n} < {self.value(limit)})")

    def at_most(self, attribute: str, limit: Any) -> None:
        """Condition: the counter is missing or at most ``limit``."""
        n = self.name(attribute)
        self.require(f"(attribute_not_exists({n}) OR {n} <= {self.value(limit)})")

    def expression(self) -> str:
        parts = []
        if self.sets:
            parts.append("SET " + ", ".join(self.sets))
        if self.adds:
            parts.append("ADD " + ", ".join(self.adds))
        if self.removes:
            parts.append("REMOVE " + ", ".join(self.removes))
        return " ".join(parts)

    def low_level(self, table_name: str, key: dict[str, Any]) -> dict[str, Any]:
        """Arguments of a low-level UpdateItem (or a TransactWriteItems ``Update``), values serialized."""
        request: dict[str, Any] = {
            "TableName": table_name,
            "Key": {k: serialize(v) for k, v in key.items()},
            "UpdateExpression": self.expression(),
        }
        if self.conditions:
            request["ConditionExpression"] = " AND ".join(self.conditions)
        if self.names:
            request["ExpressionAttributeNames"] = dict(self.names)
        if self.values:
            request["ExpressionAttributeValues"] = {k: serialize(v) for k, v in self.values.items()}
        return request
