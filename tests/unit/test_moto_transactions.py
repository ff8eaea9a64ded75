"""The local runner's moto patch: a transaction's rollback copies the items it touches, never whole tables, and a
cancelled transaction leaves every item and the usage stream exactly as they were."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto.dynamodb.models import dynamodb_backends
from moto.dynamodb.models.table import Table

from gateway_common import db


def _stream_length(table_name: str) -> int:
    backend = dynamodb_backends["123456789012"]["us-east-1"]
    return len(backend.tables[table_name].stream_shard.items)


@pytest.fixture
def no_table_copies(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: Any, memo: Any) -> Any:
        raise AssertionError("a transaction deep-copied a whole table")

    monkeypatch.setattr(Table, "__deepcopy__", refuse, raising=False)


def _put(table: str, item: dict[str, Any]) -> dict[str, Any]:
    return {"Put": {"TableName": table, "Item": item}}


def test_a_committed_transaction_writes_every_item_without_copying_tables(dynamo: Any, no_table_copies: None) -> None:
    counters, usage = db.table_name("CountersTable"), db.table_name("UsageTable")
    for i in range(50):  # a table with other items: the old rollback copied them all
        dynamo.put_item(TableName=usage, Item={"user_id": {"S": "u"}, "sk": {"S": f"old{i}"}})
    before = _stream_length(usage)
    dynamo.transact_write_items(TransactItems=[
        {"Update": {"TableName": counters, "Key": {"counter_id": {"S": "c"}}, "UpdateExpression": "ADD n :one",
                    "ExpressionAttributeValues": {":one": {"N": "1"}}}},
        _put(usage, {"user_id": {"S": "u"}, "sk": {"S": "new"}}),
    ])
    assert dynamo.get_item(TableName=counters, Key={"counter_id": {"S": "c"}})["Item"]["n"] == {"N": "1"}
    assert "Item" in dynamo.get_item(TableName=usage, Key={"user_id": {"S": "u"}, "sk": {"S": "new"}})
    assert _stream_length(usage) == before + 1


def test_a_cancelled_transaction_restores_items_and_writes_no_stream_record(dynamo: Any, no_table_copies: None) -> None:
    counters, usage = db.table_name("CountersTable"), db.table_name("UsageTable")
    dynamo.put_item(TableName=counters, Item={"counter_id": {"S": "kept"}, "n": {"N": "5"}})
    dynamo.put_item(TableName=counters, Item={"counter_id": {"S": "doomed"}, "n": {"N": "1"}})
    dynamo.put_item(TableName=usage, Item={"user_id": {"S": "u"}, "sk": {"S": "existing"}, "v": {"N": "1"}})
    before = _stream_length(usage)
    with pytest.raises(ClientError) as raised:
        dynamo.transact_write_items(TransactItems=[
            {"Update": {"TableName": counters, "Key": {"counter_id": {"S": "kept"}}, "UpdateExpression": "ADD n :one",
                        "ExpressionAttributeValues": {":one": {"N": "1"}}}},
            {"Delete": {"TableName": counters, "Key": {"counter_id": {"S": "doomed"}}}},
            _put(usage, {"user_id": {"S": "u"}, "sk": {"S": "fresh"}}),
            _put(usage, {"user_id": {"S": "u2"}, "sk": {"S": "fresh"}}),
            {"Update": {"TableName": usage, "Key": {"user_id": {"S": "u"}, "sk": {"S": "existing"}},
                        "UpdateExpression": "SET v = :two", "ConditionExpression": "v = :zero",
                        "ExpressionAttributeValues": {":two": {"N": "2"}, ":zero": {"N": "0"}}}},
        ])
    assert db.cancellation_reasons(raised.value) == ["None", "None", "None", "None", "ConditionalCheckFailed"]
    assert dynamo.get_item(TableName=counters, Key={"counter_id": {"S": "kept"}})["Item"]["n"] == {"N": "5"}
    assert dynamo.get_item(TableName=counters, Key={"counter_id": {"S": "doomed"}})["Item"]["n"] == {"N": "1"}
    assert "Item" not in dynamo.get_item(TableName=usage, Key={"user_id": {"S": "u"}, "sk": {"S": "fresh"}})
    assert dynamo.query(TableName=usage, KeyConditionExpression="user_id = :u",
                        ExpressionAttributeValues={":u": {"S": "u2"}})["Items"] == []
    assert dynamo.get_item(TableName=usage, Key={"user_id": {"S": "u"}, "sk": {"S": "existing"}})["Item"]["v"] == {"N": "1"}
    assert _stream_length(usage) == before


def test_an_invalid_transaction_is_refused_whole(dynamo: Any, no_table_copies: None) -> None:
    counters = db.table_name("CountersTable")
    with pytest.raises(ClientError) as raised:
        dynamo.transact_write_items(TransactItems=[
            _put(counters, {"counter_id": {"S": "twice"}, "n": {"N": "1"}}),
            _put(counters, {"counter_id": {"S": "twice"}, "n": {"N": "2"}}),
        ])
    assert raised.value.response["Error"]["Code"] == "ValidationException"
    assert "Item" not in dynamo.get_item(TableName=counters, Key={"counter_id": {"S": "twice"}})


def test_a_retried_transaction_with_its_client_token_applies_once(dynamo: Any) -> None:
    """As DynamoDB: botocore's retry of a committed transaction (same ClientRequestToken) succeeds and changes nothing;
    the same token with other items is refused."""
    counters = db.table_name("CountersTable")
    add = [{"Update": {"TableName": counters, "Key": {"counter_id": {"S": "once"}}, "UpdateExpression": "ADD n :one",
                       "ExpressionAttributeValues": {":one": {"N": "1"}}}},
           {"Put": {"TableName": counters, "Item": {"counter_id": {"S": "marker"}},
                    "ConditionExpression": "attribute_not_exists(counter_id)"}}]
    dynamo.transact_write_items(TransactItems=add, ClientRequestToken="token-1")
    dynamo.transact_write_items(TransactItems=add, ClientRequestToken="token-1")  # the retry: no ConditionalCheckFailed
    assert dynamo.get_item(TableName=counters, Key={"counter_id": {"S": "once"}})["Item"]["n"] == {"N": "1"}
    with pytest.raises(ClientError) as raised:
        dynamo.transact_write_items(TransactItems=add[:1], ClientRequestToken="token-1")
    assert raised.value.response["Error"]["Code"] == "IdempotentParameterMismatchException"
    with pytest.raises(ClientError):  # a new token is a new transaction: the marker's condition now fails
        dynamo.transact_write_items(TransactItems=add, ClientRequestToken="token-2")
    assert dynamo.get_item(TableName=counters, Key={"counter_id": {"S": "once"}})["Item"]["n"] == {"N": "1"}


def test_a_gsi_query_walks_only_the_items_the_index_holds(dynamo: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The reservation sweep's sparse index: settled reservations (no open_shard) are not walked, and every write path
    (put, update, transaction, rollback, delete) keeps the index right."""
    name = db.table_name("ReservationsTable")
    table = dynamodb_backends["123456789012"]["us-east-1"].tables[name]

    def put(rid: str, open_: bool, deadline: int) -> None:
        item = {"reservation_id": {"S": rid}, "deadline": {"N": str(deadline)}}
        if open_:
            item["open_shard"] = {"S": "open"}
        dynamo.put_item(TableName=name, Item=item)

    def open_ids() -> list[str]:
        out = dynamo.query(TableName=name, IndexName="open-by-deadline",
                           KeyConditionExpression="open_shard = :o AND deadline <= :d",
                           ExpressionAttributeValues={":o": {"S": "open"}, ":d": {"N": "100"}})
        return sorted(i["reservation_id"]["S"] for i in out["Items"])

    for i in range(200):
        put(f"settled{i}", False, 1)
    put("a", True, 5)
    assert open_ids() == ["a"]
    walked: list[int] = []
    original = type(table).all_items
    monkeypatch.setattr(type(table), "all_items", lambda self: walked.append(1) or original(self))
    put("b", True, 6)
    dynamo.update_item(TableName=name, Key={"reservation_id": {"S": "a"}}, UpdateExpression="REMOVE open_shard")
    assert open_ids() == ["b"] and walked == []  # the index's items only, never the table's 200 others
    dynamo.transact_write_items(TransactItems=[{"Update": {"TableName": name, "Key": {"reservation_id": {"S": "c"}},
                                                           "UpdateExpression": "SET open_shard = :o, deadline = :d",
                                                           "ExpressionAttributeValues": {":o": {"S": "open"}, ":d": {"N": "7"}}}}])
    with pytest.raises(ClientError):  # cancelled: b stays open, d never appears
        dynamo.transact_write_items(TransactItems=[
            {"Update": {"TableName": name, "Key": {"reservation_id": {"S": "b"}}, "UpdateExpression": "REMOVE open_shard"}},
            {"Put": {"TableName": name, "Item": {"reservation_id": {"S": "d"}, "open_shard": {"S": "open"}, "deadline": {"N": "8"}},
                     "ConditionExpression": "attribute_exists(reservation_id)"}}])
    assert open_ids() == ["b", "c"]
    dynamo.delete_item(TableName=name, Key={"reservation_id": {"S": "b"}})
    assert open_ids() == ["c"]


def test_a_paged_gsi_query_sees_each_item_once_in_order(dynamo: Any) -> None:
    """The sweep's paging (sort-key condition, Limit, ExclusiveStartKey), narrowed before moto sorts: ties on the sort
    key, items past the condition and a page boundary inside a tie still give every matching item exactly once."""
    name = db.table_name("ReservationsTable")
    deadlines = {f"r{i:02d}": i // 4 for i in range(40)}  # four items per deadline: ties everywhere
    for rid, deadline in deadlines.items():
        dynamo.put_item(TableName=name, Item={"reservation_id": {"S": rid}, "open_shard": {"S": "open"},
                                              "deadline": {"N": str(deadline)}})
    dynamo.update_item(TableName=name, Key={"reservation_id": {"S": "r05"}}, UpdateExpression="REMOVE open_shard")

    def pages(limit: int, until: int, start: dict[str, Any] | None = None) -> list[list[tuple[int, str]]]:
        out = []
        while True:
            query: dict[str, Any] = {"TableName": name, "IndexName": "open-by-deadline", "Limit": limit,
                                     "KeyConditionExpression": "open_shard = :o AND deadline <= :d",
                                     "ExpressionAttributeValues": {":o": {"S": "open"}, ":d": {"N": str(until)}}}
            if start:
                query["ExclusiveStartKey"] = start
            answer = dynamo.query(**query)
            out.append([(int(i["deadline"]["N"]), i["reservation_id"]["S"]) for i in answer["Items"]])
            start = answer.get("LastEvaluatedKey")
            if not start:
                return out

    expected = sorted((d, rid) for rid, d in deadlines.items() if d <= 6 and rid != "r05")
    for limit in (1, 3, 4, 5, 100):
        seen = [entry for page in pages(limit, 6) for entry in page]
        assert [d for d, _ in seen] == sorted(d for d, _ in seen), limit  # in sort-key order
        assert sorted(seen) == expected, limit  # each matching item once, none past the condition
    first = pages(3, 6)[0]  # resuming from a cursor inside a tie (deadline 0 holds r00..r03)
    cursor = {"reservation_id": {"S": first[-1][1]}, "open_shard": {"S": "open"}, "deadline": {"N": str(first[-1][0])}}
    rest = [entry for page in pages(3, 6, cursor) for entry in page]
    assert sorted(first + rest) == expected and not set(first) & set(rest)
