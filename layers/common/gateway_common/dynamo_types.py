"""Python values <-> DynamoDB attribute values, with boto3's rules (``boto3.dynamodb.types``) and without importing boto3.

Importing anything from the ``boto3`` package runs ``boto3/__init__``, which loads s3transfer (and multiprocessing):
about 14 ms of every cold start for a transfer manager the gateway never uses. The gateway talks to DynamoDB through
botocore's client (``db.py``), so these conversions are ours: numbers are Decimals in DynamoDB's 38-digit context
(inexact or rounded values raise, floats are refused as boto3 refuses them), sets become SS/NS/BS, maps and lists nest.
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from decimal import Clamped, Context, Decimal, Inexact, Overflow, Rounded, Underflow
from typing import Any

DYNAMODB_CONTEXT = Context(Emin=-128, Emax=126, prec=38, traps=[Clamped, Overflow, Inexact, Rounded, Underflow])


def _number(value: int | Decimal) -> str:
    number = str(DYNAMODB_CONTEXT.create_decimal(value))
    if number in ("Infinity", "NaN", "-Infinity", "sNaN"):
        raise TypeError("Infinity and NaN not supported")
    return number


def _is_number(value: Any) -> bool:
    if isinstance(value, float):
        raise TypeError("Float types are not supported. Use Decimal types instead.")
    return isinstance(value, (int, Decimal)) and not isinstance(value, bool)


def serialize(value: Any) -> dict[str, Any]:
    """One Python value as a DynamoDB attribute value (``{"S": "x"}``, ``{"N": "1.5"}``, ...)."""
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if _is_number(value):
        return {"N": _number(value)}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, (bytes, bytearray)):
        return {"B": bytes(value)}
    if isinstance(value, Set) and value:
        members = list(value)
        if all(_is_number(m) for m in members):
            return {"NS": [_number(m) for m in members]}
        if all(isinstance(m, str) for m in members):
            return {"SS": members}
        if all(isinstance(m, (bytes, bytearray)) for m in members):
            return {"BS": [bytes(m) for m in members]}
    if isinstance(value, Mapping):
        return {"M": {str(k): serialize(v) for k, v in value.items()}}
    if isinstance(value, (list, tuple)):
        return {"L": [serialize(v) for v in value]}
    raise TypeError(f"Unsupported type {type(value)!r} for value {value!r}")


def deserialize(attribute: Mapping[str, Any]) -> Any:
    """One DynamoDB attribute value as Python (numbers as Decimal, sets as set, binary as bytes)."""
    if not attribute:
        raise TypeError("Value must be a nonempty dictionary whose key is a valid dynamodb type.")
    (kind, value), = attribute.items()
    if kind == "S":
        return value
    if kind == "N":
        return DYNAMODB_CONTEXT.create_decimal(value)
    if kind == "BOOL":
        return value
    if kind == "NULL":
        return None
    if kind == "M":
        return {k: deserialize(v) for k, v in value.items()}
    if kind == "L":
        return [deserialize(v) for v in value]
    if kind == "SS":
        return set(value)
    if kind == "NS":
        return {DYNAMODB_CONTEXT.create_decimal(v) for v in value}
    if kind == "B":
        return bytes(value)
    if kind == "BS":
        return {bytes(v) for v in value}
    raise TypeError(f"Dynamodb type {kind} is not supported")


def serialize_item(item: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {k: serialize(v) for k, v in item.items()}


def deserialize_item(item: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    return {k: deserialize(v) for k, v in item.items()}
