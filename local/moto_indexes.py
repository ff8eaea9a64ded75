"""moto's queries on a global secondary index read only the items that index holds, as DynamoDB's do.

moto answers a Query on a GSI by walking every item of the table. Our indexes are sparse on purpose (the reservation
sweep's ``open-by-deadline`` holds only open reservations), so in DynamoDB the sweep costs what is open, but in moto it
cost the whole table, which grows by one reservation per request: under ``make run`` every sweep (each 5 s) held the
DynamoDB lock a little longer than the last. Here each table keeps, per GSI, the items that carry the index's key
attributes, updated on every write path (put, delete, update, transaction rollback), and a Query on the
index walks those items only, narrowed to its sort-key condition and ExclusiveStartKey (``_narrowed``); moto's own
filtering, sorting and paging then run unchanged.
"""

from __future__ import annotations

import functools
from decimal import Decimal
from typing import Any

_ATTR = "_gw_index_keys"


def _registry(table: Any) -> dict[str, tuple[list[str], dict[tuple[Any, Any], Any]]]:
    """index name -> (key attribute names, the items it holds by table key); built from the table once, then
    maintained by ``reindex`` on every write path. The items themselves are kept, not only their keys: looking a key up
    in moto's table hashes a DynamoType (most of a query's cost at 10,000 items)."""
    registry = table.__dict__.get(_ATTR)
    if registry is None:
        registry = {}
        for index in table.global_indexes or []:
            names = [key["AttributeName"] for key in index.schema]
            registry[index.name] = (names, {(item.hash_key, item.range_key): item for item in table.all_items()
                                            if all(name in item.attrs for name in names)})
        table.__dict__[_ATTR] = registry
    return registry  # type: ignore[no-any-return]


def reindex(table: Any, hash_key: Any, range_key: Any) -> None:
    """Put one item in (or out of) each index after a write; a no-op until the table's first index query."""
    registry = table.__dict__.get(_ATTR)
    if not registry:
        return
    bucket = table.items.get(hash_key)
    item = (bucket.get(range_key) if isinstance(bucket, dict) else None) if table.range_key_attr else bucket
    for names, held in registry.values():
        if item is not None and all(name in item.attrs for name in names):
            held[(hash_key, range_key)] = item
        else:
            held.pop((hash_key, range_key), None)


_QUERY_ARGS = ("hash_key", "range_comparison", "range_objs", "limit", "exclusive_start_key", "scan_index_forward")


def _narrowed(table: Any, index_name: str, items: list[Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[Any]:
    """The index's items a query can return: within its sort-key condition and, going forward, at or after its
    ExclusiveStartKey's sort key. DynamoDB reads only those; moto sorted every item of the index on every page, so the
    reservation sweep's paged query cost ~0.1 ms per marker ever written, per page (0.9 s a page at 10,000 markers).
    moto then checks, sorts and pages these exactly as before (ties on the sort key are still skipped by moto)."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    query = {**dict(zip(_QUERY_ARGS, args, strict=False)), **kwargs}
    index = next((i for i in table.global_indexes or [] if i.name == index_name), None)
    ranges = [k["AttributeName"] for k in (index.schema if index is not None else []) if k["KeyType"] == "RANGE"]
    if len(ranges) != 1:
        return items
    name = ranges[0]
    start = query.get("exclusive_start_key")
    if start and name in start and query.get("scan_index_forward") is not False:
        floor = DynamoType(start[name])
        if floor.type == "N":  # compared as numbers without a DynamoType per item (most of the cost)
            least = Decimal(floor.value)
            items = [i for i in items if name in i.attrs and Decimal(i.attrs[name].value) >= least]
        else:
            items = [i for i in items if name in i.attrs and i.attrs[name] >= floor]
    comparison, bounds = query.get("range_comparison"), query.get("range_objs")
    if comparison and bounds:
        items = [i for i in items if name in i.attrs and i.attrs[name].compare(comparison, bounds)]
    return items


def install() -> None:
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table

    original_query = Table.query
    original_put = Table.put_item
    original_delete = Table.delete_item
    original_update = DynamoDBBackend.update_item

    @functools.wraps(original_query)
    def query(self: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = kwargs.get("index_name", args[7] if len(args) > 7 else None)  # moto passes it 8th, by position
        entry = _registry(self).get(index_name) if index_name else None
        if entry is None:
            return original_query(self, *args, **kwargs)
        items = _narrowed(self, index_name, list(entry[1].values()), args, kwargs)
        self.all_items = lambda: items  # moto's query walks all_items(); this instance sees the index's items only
        try:
            return original_query(self, *args, **kwargs)
        finally:
            del self.all_items

    @functools.wraps(original_put)
    def put_item(self: Any, *args: Any, **kwargs: Any) -> Any:
        item = original_put(self, *args, **kwargs)
        reindex(self, item.hash_key, item.range_key)
        return item

    @functools.wraps(original_delete)
    def delete_item(self: Any, hash_key: Any, range_key: Any) -> Any:
        item = original_delete(self, hash_key, range_key)
        reindex(self, hash_key, range_key)
        return item

    @functools.wraps(original_update)
    def update_item(self: Any, table_name: str, *args: Any, **kwargs: Any) -> Any:
        item = original_update(self, table_name, *args, **kwargs)
        reindex(self.get_table(table_name), item.hash_key, item.range_key)
        return item

    Table.query = query  # type: ignore[method-assign]
    Table.put_item = put_item  # type: ignore[method-assign]
    Table.delete_item = delete_item  # type: ignore[method-assign]
    DynamoDBBackend.update_item = update_item  # type: ignore[method-assign]
