"""Conversions between pydantic records and DynamoDB items (Decimals kept, Nones dropped)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any


def to_item(data: dict[str, Any]) -> dict[str, Any]:
    def clean(value: Any) -> Any:
        if isinstance(value, float):
            return Decimal(repr(value))
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items() if v is not None}
        if isinstance(value, (list, tuple)):
            return [clean(v) for v in value]
        return value

    return clean(data)


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    """DynamoDB numbers come back as Decimal; integral ones become int where models expect int."""

    def clean(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value

    return clean(item)
