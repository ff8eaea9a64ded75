"""Money is Decimal, never float: in storage, arithmetic and JSON output alike."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Annotated

from pydantic import PlainSerializer

CREDIT_QUANTUM = Decimal("0.000001")  # credits are kept to the micro-unit; costs of single tokens need it
DISPLAY_QUANTUM = Decimal("0.01")


def to_decimal(value: object) -> Decimal:
    """Exact Decimal from int, str, Decimal or float (floats go through their shortest repr, never binary noise)."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool):
        raise ValueError("a boolean is not an amount")
    if isinstance(value, (int, str)):
        try:
            return Decimal(value)
        except InvalidOperation as exc:
            raise ValueError(f"not a number: {value!r}") from exc
    if isinstance(value, float):
        return Decimal(repr(value))
    raise ValueError(f"not an amount: {value!r}")


def quantize_credits(value: Decimal) -> Decimal:
    return value.quantize(CREDIT_QUANTUM, rounding=ROUND_HALF_UP)


def _json_number(value: Decimal) -> float:
    return float(value)


# A Decimal in the model and in arithmetic; a JSON number on the wire (the seeds show amounts as numbers).
Money = Annotated[Decimal, PlainSerializer(_json_number, return_type=float, when_used="json")]
