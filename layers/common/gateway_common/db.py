"""DynamoDB access: one botocore client per process, table names from settings, and ``Table``: the calls the gateway
makes on a table, with plain Python values in and out (as boto3's Table resource, whose import and first use cost a
Lambda cold start about 30 ms more: boto3 loads s3transfer and builds its resource classes from JSON models)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import lru_cache
from types import TracebackType
from typing import Any

import botocore
import botocore.session
from botocore.config import Config
from botocore.exceptions import ClientError

from . import __version__
from .dynamo_parser import ItemParserFactory
from .dynamo_types import deserialize_item, serialize_item
from .settings import get_settings

# botocore's standard retry mode: throttling (ProvisionedThroughputExceeded, Throttling), 5xx and connection errors and
# timeouts are retried with exponential backoff and jitter, 3 retries at most (4 attempts). What still fails after them
# reaches the edge as a 503 with Retry-After (``is_transient``), never a 500. TransactWriteItems carries botocore's
# ClientRequestToken on every retry, so a transaction whose answer was lost is not applied twice.
# Nothing per call that can be done once (about 10% less CPU per call, measured against a local DynamoDB server):
# - parameter_validation off: every request is built by this module from validated pydantic models, and DynamoDB
#   validates again server-side (a bad request is still a ValidationException);
# - a fixed User-Agent: botocore otherwise rebuilds and sanitizes its ~20-part string twice per call;
# - keep-alive probes on the pooled connections, so an idle connection a load balancer dropped is noticed;
# - a pool as large as the threads that can call at once: the parallel executor (32) plus anyio's worker threads
#   (40), so bursts never open, use and discard a connection.
_CONFIG = Config(
    retries={"max_attempts": 3, "mode": "standard"},
    connect_timeout=2,
    read_timeout=5,
    max_pool_connections=80,
    parameter_validation=False,
    user_agent=f"ai-gateway/{__version__} botocore/{botocore.__version__}",
    tcp_keepalive=True,
)
_ITEM_PARAMETERS = ("Key", "Item", "ExclusiveStartKey")
_EXPRESSIONS = ("KeyConditionExpression", "FilterExpression", "ConditionExpression")
_BATCH_WRITE_SIZE = 25  # DynamoDB's BatchWriteItem limit


@lru_cache(maxsize=1)
def client() -> Any:
    """The process's DynamoDB client (thread-safe; every table and thread shares it)."""
    settings = get_settings()
    session = botocore.session.get_session()
    session.register_component("response_parser_factory", ItemParserFactory())
    return session.create_client("dynamodb", region_name=settings.region, endpoint_url=settings.dynamodb_endpoint_url,
                                 config=_CONFIG)


def _request(table_name: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """Table-level arguments as the low-level call takes them: values serialized, condition objects made expressions."""
    request: dict[str, Any] = {"TableName": table_name, **params}
    for name in _ITEM_PARAMETERS:
        if name in request:
            request[name] = serialize_item(request[name])
    if any(name in request and not isinstance(request[name], str) for name in _EXPRESSIONS):
        _build_condition_objects(request)
    if "ExpressionAttributeValues" in request:
        request["ExpressionAttributeValues"] = serialize_item(request["ExpressionAttributeValues"])
    return request


def _build_condition_objects(request: dict[str, Any]) -> None:
    """boto3's ``Key(...)``/``Attr(...)`` conditions (the analytics and IAM queries use them) as expression strings."""
    from boto3.dynamodb.conditions import ConditionExpressionBuilder

    builder = ConditionExpressionBuilder()
    names = dict(request.get("ExpressionAttributeNames", {}))
    values = dict(request.get("ExpressionAttributeValues", {}))
    for name in _EXPRESSIONS:
        condition = request.get(name)
        if condition is None or isinstance(condition, str):
            continue
        built = builder.build_expression(condition, is_key_condition=name == "KeyConditionExpression")
        request[name] = built.condition_expression
        names.update(built.attribute_name_placeholders)
        values.update(built.attribute_value_placeholders)
    if names:
        request["ExpressionAttributeNames"] = names
    if values:
        request["ExpressionAttributeValues"] = values


def _response(response: dict[str, Any]) -> dict[str, Any]:
    """A low-level response with its items as plain Python values."""
    for name in ("Item", "Attributes", "LastEvaluatedKey"):
        if name in response:
            response[name] = deserialize_item(response[name])
    if "Items" in response:
        response["Items"] = [deserialize_item(item) for item in response["Items"]]
    return response


class Table:
    """One table's item calls, taking and returning plain Python values (Decimal numbers), like boto3's Table."""

    def __init__(self, name: str) -> None:
        self.name = name

    def get_item(self, **params: Any) -> dict[str, Any]:
        return _response(client().get_item(**_request(self.name, params)))

    def put_item(self, **params: Any) -> dict[str, Any]:
        return _response(client().put_item(**_request(self.name, params)))

    def update_item(self, **params: Any) -> dict[str, Any]:
        return _response(client().update_item(**_request(self.name, params)))

    def delete_item(self, **params: Any) -> dict[str, Any]:
        return _response(client().delete_item(**_request(self.name, params)))

    def query(self, **params: Any) -> dict[str, Any]:
        return _response(client().query(**_request(self.name, params)))

    def scan(self, **params: Any) -> dict[str, Any]:
        return _response(client().scan(**_request(self.name, params)))

    def batch_writer(self) -> BatchWriter:
        return BatchWriter(self.name)


class BatchWriter:
    """Puts and deletes sent 25 at a time with BatchWriteItem; what DynamoDB leaves unprocessed is sent again."""

    def __init__(self, table_name: str) -> None:
        self.table_name = table_name
        self._pending: list[dict[str, Any]] = []

    def put_item(self, Item: Mapping[str, Any]) -> None:
        self._add({"PutRequest": {"Item": serialize_item(Item)}})

    def delete_item(self, Key: Mapping[str, Any]) -> None:
        self._add({"DeleteRequest": {"Key": serialize_item(Key)}})

    def _add(self, request: dict[str, Any]) -> None:
        self._pending.append(request)
        if len(self._pending) >= _BATCH_WRITE_SIZE:
            self._flush()

    def _flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[:_BATCH_WRITE_SIZE], self._pending[_BATCH_WRITE_SIZE:]
            response = client().batch_write_item(RequestItems={self.table_name: batch})
            self._pending.extend(response.get("UnprocessedItems", {}).get(self.table_name, []))

    def __enter__(self) -> BatchWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._flush()


def table(logical_id: str) -> Table:
    """The table of a logical id of template.yaml (e.g. ``UsersTable``)."""
    return Table(get_settings().table_name(logical_id))


def batch_get_items(
    keys_by_table: Mapping[str, list[Mapping[str, Any]]], *, consistent: bool = False
) -> dict[str, list[dict[str, Any]]]:
    """Items by table name for the given keys (any number: sent 100 at a time, unprocessed keys asked again)."""
    wanted = [(name, serialize_item(key)) for name, keys in keys_by_table.items() for key in keys]
    found: dict[str, list[dict[str, Any]]] = {name: [] for name in keys_by_table}
    while wanted:
        chunk, wanted = wanted[:100], wanted[100:]
        request: dict[str, Any] = {}
        for name, key in chunk:
            request.setdefault(name, {"Keys": [], "ConsistentRead": consistent})["Keys"].append(key)
        while request:
            response = client().batch_get_item(RequestItems=request)
            for name, items in response.get("Responses", {}).items():
                found[name].extend(deserialize_item(item) for item in items)
            request = response.get("UnprocessedKeys") or {}
    return found


def table_name(logical_id: str) -> str:
    return get_settings().table_name(logical_id)


def query_pages(logical_id: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
    """Every page of a Query on a table of the template (DynamoDB answers at most 1 MB a call)."""
    target = table(logical_id)
    while True:
        page = target.query(**kwargs)
        yield page
        if "LastEvaluatedKey" not in page:
            return
        kwargs = {**kwargs, "ExclusiveStartKey": page["LastEvaluatedKey"]}


def query_items(logical_id: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
    """Every item a Query matches, across pages."""
    for page in query_pages(logical_id, **kwargs):
        yield from page.get("Items", [])


def reset_clients() -> None:
    """Forget cached clients and settings (tests switch endpoints between runs)."""
    client.cache_clear()
    get_settings.cache_clear()


def is_conditional_failure(exc: Exception) -> bool:
    code = getattr(exc, "response", {}).get("Error", {}).get("Code")
    return code == "ConditionalCheckFailedException"


_TRANSIENT_CODES = frozenset({
    "ProvisionedThroughputExceededException", "ThrottlingException", "Throttling", "RequestLimitExceeded",
    "TransactionConflictException", "TransactionInProgressException", "InternalServerError", "ServiceUnavailable",
})
_TRANSIENT_REASONS = frozenset({"TransactionConflict", "ProvisionedThroughputExceeded", "ThrottlingError"})


def is_transient(exc: BaseException) -> bool:
    """Whether DynamoDB failed for a reason that passes (load, a concurrent transaction, a timeout): the client should
    retry (503 + Retry-After), as opposed to a bug or a refused condition."""
    from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

    if isinstance(exc, ConnectionError | HTTPClientError):  # timeouts, refused or dropped connections
        return True
    if not isinstance(exc, ClientError):
        return False
    code = exc.response.get("Error", {}).get("Code")
    if code in _TRANSIENT_CODES:
        return True
    return code == "TransactionCanceledException" and bool(_TRANSIENT_REASONS & set(cancellation_reasons(exc)))


def cancellation_reasons(exc: Exception) -> list[str]:
    """Codes of a cancelled transaction, one per item ('None' where that item was fine)."""
    reasons = getattr(exc, "response", {}).get("CancellationReasons") or []
    return [r.get("Code", "None") for r in reasons]


class TransactionRefused(Exception):
    """A transaction was cancelled because conditions failed: ``labels`` names the items whose condition failed."""

    def __init__(self, labels: list[str]) -> None:
        super().__init__(", ".join(labels))
        self.labels = labels


_CONFLICT_ATTEMPTS = 6


def transact(items: Mapping[str, dict[str, Any]]) -> None:
    """TransactWriteItems over labelled items. Conflicts with other writers of the same items are retried (briefly,
    with backoff); a failed condition raises TransactionRefused naming the labels whose condition failed, so callers
    decide by name, never by position."""
    import time

    labels = list(items)
    request = [items[label] for label in labels]
    for attempt in range(_CONFLICT_ATTEMPTS):
        try:
            client().transact_write_items(TransactItems=request)
            return
        except ClientError as exc:
            reasons = cancellation_reasons(exc)
            failed = [label for label, reason in zip(labels, reasons, strict=False) if reason == "ConditionalCheckFailed"]
            if failed:
                raise TransactionRefused(failed) from None
            code = exc.response.get("Error", {}).get("Code", "")
            conflict = "TransactionConflict" in reasons or code in ("TransactionInProgressException", "ThrottlingException")
            if not conflict or attempt + 1 == _CONFLICT_ATTEMPTS:
                raise
            time.sleep(0.005 * (2**attempt))
