"""moto's TransactWriteItems with a rollback bounded by the items a transaction touches, not by table size.

moto 5.x backs a transaction up by deep-copying every table it touches, and restores the copies when any item fails.
That makes each transaction O(table size): locally, a chat request's settle grows slower with every usage record
already written (p50 71 -> 127 ms over 300 requests, seconds at concurrency), which real DynamoDB never does. Here
each touched item is copied just before its write (a transaction touches each item at most once, so that copy is the
item as it was before the transaction), and the tables' stream records appended by the transaction are dropped on
rollback, as a cancelled transaction writes no stream record in DynamoDB. Everything else (validation, condition
evaluation, error codes, cancellation reasons) is moto's own code path, called in the same order.

moto also ignores ``ClientRequestToken``, which botocore fills in on every TransactWriteItems so that its retries are
idempotent: DynamoDB answers a repeat of a committed transaction (same token, same items, within 10 minutes) with
success and applies nothing. Without that, a retry after a slow answer (a loaded laptop) applied a reservation twice or
failed on its own first write ("attribute_not_exists") and the client saw a spurious 402. ``_idempotent`` adds it.
"""

from __future__ import annotations

import copy
import hashlib
import json
import threading
import time
from collections.abc import Callable
from typing import Any

from . import moto_indexes

_MAX_ITEMS = 100
_OPERATIONS = {"ConditionCheck", "Put", "Delete", "Update"}
_TOKEN_SECONDS = 600  # DynamoDB keeps a client token for 10 minutes
_tokens: dict[str, tuple[str, float]] = {}  # token -> (digest of the items, expiry)
_tokens_lock = threading.Lock()


class _Undo:
    """The pre-transaction state of each item written and the stream length of each table touched."""

    def __init__(self, backend: Any) -> None:
        self.backend = backend
        self.items: list[tuple[Any, Any, Any, Any]] = []  # (table, hash value, range value, item copy or None)
        self.stream_lengths: dict[str, tuple[Any, int]] = {}

    def remember(self, table_name: str, key: dict[str, Any]) -> None:
        table = self.backend.get_table(table_name)
        if table_name not in self.stream_lengths and table.stream_shard is not None:
            self.stream_lengths[table_name] = (table.stream_shard, len(table.stream_shard.items))
        hash_value, range_value = self.backend.get_keys_value(table, key)
        self.items.append((table, hash_value, range_value, copy.deepcopy(table.get_item(hash_value, range_value))))

    def rollback(self) -> None:
        for table, hash_value, range_value, before in reversed(self.items):
            if range_value is not None:
                bucket = table.items[hash_value]
                if before is None:
                    bucket.pop(range_value, None)
                    if not bucket:
                        table.items.pop(hash_value, None)
                else:
                    bucket[range_value] = before
            elif before is None:
                table.items.pop(hash_value, None)
            else:
                table.items[hash_value] = before
            moto_indexes.reindex(table, hash_value, range_value)
        for shard, length in self.stream_lengths.values():
            del shard.items[length:]


def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
    """moto's ``DynamoDBBackend.transact_write_items`` (5.2), with ``_Undo`` instead of whole-table deep copies."""
    from moto.dynamodb.comparisons import get_filter_expression
    from moto.dynamodb.exceptions import (
        ConditionalCheckFailed,
        MockValidationException,
        MultipleTransactionsException,
        TooManyTransactionsException,
        TransactionCanceledException,
        TransactWriteSingleOpException,
    )

    if len(transact_items) > _MAX_ITEMS:
        raise TooManyTransactionsException()
    undo = _Undo(self)
    seen: set[tuple[str, str]] = set()
    errors: list[tuple[str | None, str | None, Any]] = []
    for transact_item in transact_items:
        original_item: dict[str, Any] | None = None
        if len(transact_item) > 1:
            raise TransactWriteSingleOpException
        try:
            op_type, op = next(iter(transact_item.items()))
            if op_type not in _OPERATIONS:
                raise ValueError("Unsupported transaction operation")
            table_name = op["TableName"]
            condition = op.get("ConditionExpression")
            names = op.get("ExpressionAttributeNames")
            values = op.get("ExpressionAttributeValues")
            if op_type == "Put":
                table = self.get_table(table_name)
                key = {table.hash_key_attr: op["Item"][table.hash_key_attr]}
                if table.range_key_attr is not None:
                    key[table.range_key_attr] = op["Item"][table.range_key_attr]
            else:
                key = op["Key"]
            marker = (str(table_name), str(dict(sorted(key.items()))))
            if marker in seen:
                raise MultipleTransactionsException()
            seen.add(marker)

            current = self.get_item(table_name, key)
            if condition is not None:
                if not get_filter_expression(condition, names, values).expr(current):
                    if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
                        original_item = current.to_json()["Attributes"]
                    raise ConditionalCheckFailed(item=original_item)

            if op_type != "ConditionCheck":
                undo.remember(table_name, key)
            common = {"condition_expression": condition, "expression_attribute_names": names,
                      "expression_attribute_values": values}
            if op_type == "Put":
                self.put_item(table_name, op["Item"], **common)
            elif op_type == "Delete":
                self.delete_item(table_name, key, **common)
            elif op_type == "Update":
                self.update_item(table_name, key, update_expression=op["UpdateExpression"], **common)
            errors.append((None, None, None))
        except (MultipleTransactionsException, MockValidationException):
            undo.rollback()
            raise
        except ConditionalCheckFailed as exc:
            errors.append(("ConditionalCheckFailed", str(exc.message), original_item))
        except Exception as exc:  # noqa: BLE001 - moto reports any other failure as that item's cancellation reason
            errors.append((type(exc).__name__, str(exc), original_item))
    if any(code is not None for code, _, _ in errors):
        undo.rollback()
        raise TransactionCanceledException(errors)


def _idempotent(original: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """moto's TransactWriteItems handler honouring ClientRequestToken as DynamoDB does."""
    from moto.core.responses import ActionResult
    from moto.dynamodb.exceptions import DynamodbException
    from moto.dynamodb.exceptions import MockValidationException as _Validation

    class IdempotentParameterMismatch(DynamodbException):
        error_type = _Validation.error_type.replace("ValidationException", "IdempotentParameterMismatchException")

        def __init__(self) -> None:
            super().__init__(self.error_type, "The request uses the same client token as a previous, but non-identical "
                                              "request.")

    def handler(self: Any) -> Any:
        token = self.body.get("ClientRequestToken")
        if not token:
            return original(self)
        items = json.dumps(self.body["TransactItems"], sort_keys=True, default=repr)  # binary values are bytes here
        digest = hashlib.sha256(items.encode()).hexdigest()
        now = time.monotonic()
        with _tokens_lock:
            seen = _tokens.get(token)
        if seen is not None and seen[1] > now:
            if seen[0] != digest:
                raise IdempotentParameterMismatch()
            return ActionResult({"ConsumedCapacity": [], "ItemCollectionMetrics": {}})
        result = original(self)  # raises when cancelled: only a committed transaction is remembered
        with _tokens_lock:
            if len(_tokens) > 100_000:
                _tokens.clear()
            _tokens[token] = (digest, now + _TOKEN_SECONDS)
        return result

    return handler


def install() -> None:
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.responses import DynamoHandler

    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
    DynamoHandler.transact_write_items = _idempotent(DynamoHandler.transact_write_items)  # type: ignore[method-assign]
