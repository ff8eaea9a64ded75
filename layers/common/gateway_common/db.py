"""DynamoDB access: one boto3 client and resource per process, table names from settings."""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from typing import Any

import boto3
from botocore.config import Config

from .settings import get_settings

_CONFIG = Config(
    retries={"max_attempts": 3, "mode": "standard"},
    connect_timeout=2,
    read_timeout=5,
    max_pool_connections=64,
)


@lru_cache(maxsize=1)
def _session() -> boto3.session.Session:
    return boto3.session.Session(region_name=get_settings().region)


@lru_cache(maxsize=1)
def client() -> Any:
    return _session().client("dynamodb", endpoint_url=get_settings().dynamodb_endpoint_url, config=_CONFIG)


@lru_cache(maxsize=1)
def resource() -> Any:
    return _session().resource("dynamodb", endpoint_url=get_settings().dynamodb_endpoint_url, config=_CONFIG)


def table(logical_id: str) -> Any:
    """The boto3 Table for a logical id of template.yaml (e.g. ``UsersTable``)."""
    return resource().Table(get_settings().table_name(logical_id))


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
    resource.cache_clear()
    _session.cache_clear()
    get_settings.cache_clear()


def is_conditional_failure(exc: Exception) -> bool:
    code = getattr(exc, "response", {}).get("Error", {}).get("Code")
    return code == "ConditionalCheckFailedException"


def cancellation_reasons(exc: Exception) -> list[str]:
    """Codes of a cancelled transaction, one per item ('None' where that item was fine)."""
    reasons = getattr(exc, "response", {}).get("CancellationReasons") or []
    return [r.get("Code", "None") for r in reasons]
