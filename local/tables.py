"""Creates the DynamoDB tables of template.yaml (same keys, indexes, stream and TTL) in any DynamoDB endpoint."""

from __future__ import annotations

from typing import Any

from . import template


def create_table_kwargs(logical_id: str, props: dict[str, Any]) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "TableName": logical_id,
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
        "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
    }
    for section in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
        if props.get(section):
            kwargs[section] = [
                {"IndexName": i["IndexName"], "KeySchema": i["KeySchema"], "Projection": i["Projection"]}
                for i in props[section]
            ]
    stream = props.get("StreamSpecification")
    if stream:
        kwargs["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": stream["StreamViewType"]}
    return kwargs


def create_all(client: Any) -> list[str]:
    """Create every table of the template that does not exist yet; returns the names created."""
    existing = set(client.list_tables().get("TableNames", []))
    created = []
    for logical_id, props in template.tables().items():
        if logical_id in existing:
            continue
        client.create_table(**create_table_kwargs(logical_id, props))
        ttl = props.get("TimeToLiveSpecification")
        if ttl and ttl.get("Enabled"):
            client.update_time_to_live(
                TableName=logical_id,
                TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True},
            )
        created.append(logical_id)
    return created
