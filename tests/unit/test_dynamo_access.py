"""The gateway's DynamoDB access (botocore client + db.Table) behaves as boto3's Table resource did."""

from __future__ import annotations

import decimal
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import pytest
from boto3.dynamodb.conditions import Attr, Key
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from gateway_common import db
from gateway_common.dynamo_types import deserialize, serialize

VALUES: list[Any] = [
    None, True, False, 0, -7, 10**37, Decimal("0.000001"), Decimal("-12.50"), Decimal("1E+10"), "", "text ✓",
    b"\x00\x01", {"a", "b"}, {Decimal("1.5"), 2}, [1, "x", None, [True]], {"nested": {"n": Decimal("3.25"), "l": []}},
    ("tuple", 1),
]


@pytest.mark.parametrize("value", VALUES, ids=[f"{i}-{type(v).__name__}" for i, v in enumerate(VALUES)])  # sets: no stable repr
def test_values_serialize_and_come_back_as_boto3_would(value):
    ours = serialize(value)
    theirs = TypeSerializer().serialize(value)
    if "NS" in ours or "SS" in ours:  # set order is arbitrary
        assert {k: sorted(v) for k, v in ours.items()} == {k: sorted(v) for k, v in theirs.items()}
    else:
        assert ours == theirs
    back = deserialize(ours)
    expected = TypeDeserializer().deserialize(theirs)
    if isinstance(value, bytes):
        assert back == value and expected.value == value  # boto3 wraps bytes in its Binary; plain bytes here
    else:
        assert back == expected


@pytest.mark.parametrize(("value", "error"), [
    (1.5, TypeError),  # floats would lose money: Decimal only, as boto3 says
    (Decimal("NaN"), TypeError),
    (Decimal("Infinity"), TypeError),
    (Decimal("1." + "1" * 40), decimal.Inexact),  # more than DynamoDB's 38 digits: refused, never rounded
    (object(), TypeError),
])
def test_values_dynamodb_cannot_hold_exactly_are_refused(value, error):
    with pytest.raises(error):
        serialize(value)


@contextmanager
def _calls() -> Iterator[list[str]]:
    names: list[str] = []

    def count(model: Any, **_: Any) -> None:
        names.append(model.name)

    db.client().meta.events.register("before-call.dynamodb", count)
    try:
        yield names
    finally:
        db.client().meta.events.unregister("before-call.dynamodb", count)


def test_table_calls_take_and_return_plain_values(dynamo):
    counters = db.table("CountersTable")
    counters.put_item(Item={"counter_id": "c1", "count": 3, "tags": {"x"}})
    updated = counters.update_item(Key={"counter_id": "c1"}, UpdateExpression="ADD #c :one",
                                   ExpressionAttributeNames={"#c": "count"}, ExpressionAttributeValues={":one": 1},
                                   ReturnValues="ALL_NEW")
    assert updated["Attributes"] == {"counter_id": "c1", "count": Decimal(4), "tags": {"x"}}
    assert counters.get_item(Key={"counter_id": "c1"}, ConsistentRead=True)["Item"]["count"] == 4
    assert "Item" not in counters.get_item(Key={"counter_id": "missing"})
    counters.delete_item(Key={"counter_id": "c1"})
    assert "Item" not in counters.get_item(Key={"counter_id": "c1"})


def test_condition_objects_become_expressions(dynamo):
    ledger = db.table("LedgerTable")
    for i in range(5):
        ledger.put_item(Item={"user_id": "u1", "entry_id": f"e{i}", "amount": Decimal(i), "created_at": f"2026-01-0{i + 1}"})
    ledger.put_item(Item={"user_id": "u2", "entry_id": "e0", "amount": Decimal(9), "created_at": "2026-01-01"})
    page = ledger.query(KeyConditionExpression=Key("user_id").eq("u1") & Key("entry_id").begins_with("e"),
                        FilterExpression=Attr("amount").gte(2))
    assert sorted(item["entry_id"] for item in page["Items"]) == ["e2", "e3", "e4"]
    mixed = ledger.query(KeyConditionExpression="user_id = :u", ExpressionAttributeValues={":u": "u2"})
    assert [item["amount"] for item in mixed["Items"]] == [Decimal(9)]


def test_query_pages_follow_the_last_evaluated_key(dynamo):
    ledger = db.table("LedgerTable")
    for i in range(7):
        ledger.put_item(Item={"user_id": "u1", "entry_id": f"e{i}", "created_at": "2026-01-01"})
    pages = list(db.query_pages("LedgerTable", KeyConditionExpression=Key("user_id").eq("u1"), Limit=3))
    assert [len(p["Items"]) for p in pages] == [3, 3, 1]
    assert pages[0]["LastEvaluatedKey"] == {"user_id": "u1", "entry_id": "e2"}


def test_batch_writer_sends_25_at_a_time_and_batch_get_reads_any_number(dynamo):
    with _calls() as calls, db.table("CountersTable").batch_writer() as batch:
        for i in range(60):
            batch.put_item(Item={"counter_id": f"c{i:03}", "count": i})
        batch.delete_item(Key={"counter_id": "c000"})
    assert calls == ["BatchWriteItem"] * 3
    name = db.table_name("CountersTable")
    with _calls() as calls:
        found = db.batch_get_items({name: [{"counter_id": f"c{i:03}"} for i in range(130)]}, consistent=True)[name]
    assert sorted(item["counter_id"] for item in found) == [f"c{i:03}" for i in range(1, 60)]
    assert calls == ["BatchGetItem"] * 2  # 100 keys per call


def test_unprocessed_writes_and_keys_are_sent_again(dynamo, monkeypatch):
    real = db.client()
    name = db.table_name("CountersTable")
    refused = {"writes": 1, "reads": 1}

    class Throttling:
        """DynamoDB under load: the first call of each kind leaves one request unprocessed."""

        meta = real.meta

        def batch_write_item(self, RequestItems):
            requests = RequestItems[name]
            if refused["writes"]:
                refused["writes"] -= 1
                real.batch_write_item(RequestItems={name: requests[1:]})
                return {"UnprocessedItems": {name: requests[:1]}}
            return real.batch_write_item(RequestItems=RequestItems)

        def batch_get_item(self, RequestItems):
            request = RequestItems[name]
            if refused["reads"]:
                refused["reads"] -= 1
                first, rest = request["Keys"][:1], request["Keys"][1:]
                answered = real.batch_get_item(RequestItems={name: {**request, "Keys": rest}})
                return {**answered, "UnprocessedKeys": {name: {**request, "Keys": first}}}
            return real.batch_get_item(RequestItems=RequestItems)

    monkeypatch.setattr(db, "client", lambda: Throttling())
    with db.table("CountersTable").batch_writer() as batch:
        for i in range(3):
            batch.put_item(Item={"counter_id": f"k{i}", "count": i})
    found = db.batch_get_items({name: [{"counter_id": f"k{i}"} for i in range(3)]})[name]
    assert sorted((item["counter_id"], item["count"]) for item in found) == [("k0", 0), ("k1", 1), ("k2", 2)]
    assert refused == {"writes": 0, "reads": 0}
