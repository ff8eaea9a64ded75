"""Make moto's DynamoDB item-atomic, as the real service is.

Real DynamoDB evaluates a condition and applies the write to an item atomically. moto runs each API call as plain
Python on whatever thread serves it, so two concurrent conditional updates can interleave. One lock around moto's
write and read operations restores the guarantee our limits and ledger rely on (tests of exactness would otherwise
measure moto, not the gateway). ``install`` also bounds moto's transaction rollback by the items touched
(``moto_transactions``) and its index queries by the items an index holds (``moto_indexes``), so local latency does
not grow with the tables, answers item operations without moto's generic serializer (``moto_responses``), and
parses each expression text once (``moto_parsing``).
"""

from __future__ import annotations

import functools
import threading
from typing import Any

_LOCK = threading.RLock()
_OPERATIONS = (
    "put_item", "update_item", "delete_item", "get_item", "query", "scan", "transact_write_items",
    "transact_get_items", "batch_get_item", "batch_write_item",
)
_patched = False


def install() -> None:
    global _patched
    if _patched:
        return
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.responses import DynamoHandler

    from . import moto_indexes, moto_parsing, moto_responses, moto_transactions

    moto_transactions.install()  # before the lock wraps it
    moto_indexes.install()
    moto_responses.install()
    moto_parsing.install()
    for cls in (DynamoDBBackend, DynamoHandler):
        for name in _OPERATIONS:
            original = getattr(cls, name, None)
            if original is None:
                continue
            setattr(cls, name, _locked(original))
    _normalize_numbers()
    _patched = True


def _normalize_numbers() -> None:
    """Numbers as DynamoDB stores them: positional, never exponent notation. moto keeps the str() of a Decimal sum,
    so 0.0000123 - 0.0000123 is stored as "0E-7", which its own next arithmetic fails to parse (int("0E-7"))."""
    from decimal import Decimal

    from moto.dynamodb.models.dynamo_type import DynamoType

    original = DynamoType.__init__

    def init(self: Any, type_as_dict: Any) -> None:
        original(self, type_as_dict)
        if self.type == "N" and isinstance(self.value, str) and ("E" in self.value or "e" in self.value):
            self.value = format(Decimal(self.value), "f")

    DynamoType.__init__ = init  # type: ignore[method-assign]


def _locked(fn: Any) -> Any:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with _LOCK:
            return fn(*args, **kwargs)

    return wrapper
