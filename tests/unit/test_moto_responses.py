"""local/moto_responses.py answers moto's item operations with json.dumps: the same JSON as moto's own serializer,
operation by operation, for every attribute type (binary, sets, nested maps and lists), with and without items."""

from __future__ import annotations

import json
from typing import Any

import pytest

from local import moto_responses

ITEM = {
    "pk": {"S": "user#1"}, "sk": {"S": "a"}, "g": {"S": "x"}, "n": {"N": "12.50"}, "b": {"B": b"\x00\xffbin"},
    "ss": {"SS": ["p", "q"]}, "ns": {"NS": ["1", "2.5"]}, "bs": {"BS": [b"\x01", b"\x02"]}, "t": {"BOOL": True},
    "z": {"NULL": True}, "m": {"M": {"deep": {"L": [{"S": "x"}, {"N": "3"}, {"B": b"\x07"}, {"M": {}}]}}},
    "l": {"L": []},
}


@pytest.fixture
def compared(dynamo: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Every DynamoDB answer computed both ways; the fast path's must equal moto's serializer's."""
    from moto.dynamodb.responses import DynamoHandler

    seen: dict[str, int] = {}

    def both(self: Any, action_result: Any) -> Any:
        mine = moto_responses.fast(self, action_result)
        theirs = moto_responses.original(self, action_result)
        if mine is not None:
            operation = self._get_action()
            assert mine[0] == theirs[0], operation
            assert mine[1] == theirs[1], operation
            assert json.loads(mine[2]) == json.loads(theirs[2]), operation
            seen[operation] = seen.get(operation, 0) + 1
        return theirs

    monkeypatch.setattr(DynamoHandler, "serialized", both)
    dynamo.create_table(
        TableName="T", BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("pk", "sk", "g")],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        GlobalSecondaryIndexes=[{"IndexName": "by-g", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                                 "Projection": {"ProjectionType": "ALL"}}],
    )
    return seen


def test_item_operations_give_the_serializers_json(dynamo, compared):
    c, key = dynamo, {"pk": ITEM["pk"], "sk": ITEM["sk"]}
    c.put_item(TableName="T", Item=ITEM, ReturnConsumedCapacity="TOTAL")
    c.put_item(TableName="T", Item={**ITEM, "n": {"N": "13"}}, ReturnValues="ALL_OLD")
    assert c.get_item(TableName="T", Key=key)["Item"]["b"] == {"B": b"\x00\xffbin"}
    c.get_item(TableName="T", Key={"pk": {"S": "nobody"}, "sk": {"S": "a"}})
    c.get_item(TableName="T", Key=key, ProjectionExpression="m.deep, bs", ReturnConsumedCapacity="TOTAL")
    for values in ("ALL_NEW", "ALL_OLD", "UPDATED_NEW", "UPDATED_OLD", "NONE"):
        c.update_item(TableName="T", Key=key, UpdateExpression="ADD n :one SET m.deep[0] = :s",
                      ExpressionAttributeValues={":one": {"N": "1"}, ":s": {"S": "y"}}, ReturnValues=values)
    for i in range(5):
        c.put_item(TableName="T", Item={**ITEM, "sk": {"S": f"k{i}"}})
    page = c.query(TableName="T", KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": ITEM["pk"]},
                   Limit=2, ReturnConsumedCapacity="TOTAL")
    assert page["Count"] == 2 and "LastEvaluatedKey" in page
    c.query(TableName="T", IndexName="by-g", KeyConditionExpression="g = :g", ExpressionAttributeValues={":g": ITEM["g"]},
            Select="COUNT")
    c.query(TableName="T", KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "none"}})
    c.scan(TableName="T", FilterExpression="n > :x", ExpressionAttributeValues={":x": {"N": "0"}}, Limit=3)
    c.batch_get_item(RequestItems={"T": {"Keys": [key, {"pk": ITEM["pk"], "sk": {"S": "missing"}}]}})
    c.batch_write_item(RequestItems={"T": [{"PutRequest": {"Item": {**ITEM, "sk": {"S": "w"}}}},
                                           {"DeleteRequest": {"Key": {"pk": ITEM["pk"], "sk": {"S": "k0"}}}}]},
                       ReturnConsumedCapacity="TOTAL")
    c.transact_write_items(TransactItems=[
        {"Put": {"TableName": "T", "Item": {**ITEM, "sk": {"S": "tx"}}}},
        {"Update": {"TableName": "T", "Key": key, "UpdateExpression": "SET t = :f",
                    "ExpressionAttributeValues": {":f": {"BOOL": False}}}},
    ], ReturnConsumedCapacity="TOTAL")
    got = c.transact_get_items(TransactItems=[{"Get": {"TableName": "T", "Key": key}},
                                              {"Get": {"TableName": "T", "Key": {**key, "sk": {"S": "gone"}}}}])
    assert got["Responses"][0]["Item"]["t"] == {"BOOL": False}
    c.delete_item(TableName="T", Key=key, ReturnValues="ALL_OLD")
    c.delete_item(TableName="T", Key=key)
    assert set(compared) == moto_responses.FAST_OPERATIONS, set(moto_responses.FAST_OPERATIONS) - set(compared)


def test_errors_still_go_through_motos_serializer(dynamo, compared):
    from botocore.exceptions import ClientError

    key = {"pk": ITEM["pk"], "sk": ITEM["sk"]}
    dynamo.put_item(TableName="T", Item=ITEM)
    with pytest.raises(ClientError) as refused:
        dynamo.put_item(TableName="T", Item=ITEM, ConditionExpression="attribute_not_exists(pk)")
    assert refused.value.response["Error"]["Code"] == "ConditionalCheckFailedException"
    with pytest.raises(ClientError) as cancelled:
        dynamo.transact_write_items(TransactItems=[{"ConditionCheck": {
            "TableName": "T", "Key": key, "ConditionExpression": "attribute_not_exists(pk)"}}])
    assert cancelled.value.response["CancellationReasons"][0]["Code"] == "ConditionalCheckFailed"
    assert compared == {"PutItem": 1}  # only the successful put took the fast path


def test_request_bodies_parse_as_motos_parser_parses_them(dynamo, monkeypatch):
    """Every request of the item-operation battery above parsed both ways: where the direct parse answers, it equals
    moto's shape-walking parse; bodies with binary values (and nulls) are left to moto's parser."""
    from moto.dynamodb.responses import DynamoHandler

    direct: list[str] = []
    left: list[str] = []

    def both(self: Any, request: Any) -> None:
        moto_responses.original_parse(self, request)
        mine = moto_responses.parse_directly(request.data)
        (left if mine is None else direct).append(self._get_action())
        if mine is not None:
            assert mine == self.params, self._get_action()

    monkeypatch.setattr(DynamoHandler, "parse_parameters", both)
    dynamo.create_table(
        TableName="P", BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
    )
    plain = {**{k: v for k, v in ITEM.items() if k not in ("b", "bs", "sk", "g", "m")},  # ITEM's "m" holds a blob
             "m": {"M": {"deep": {"L": [{"S": "x"}, {"N": "3"}, {"M": {}}, {"NULL": True}]}}}}
    dynamo.put_item(TableName="P", Item=plain, ConditionExpression="attribute_not_exists(pk)")
    dynamo.update_item(TableName="P", Key={"pk": ITEM["pk"]}, UpdateExpression="ADD n :one SET #t = :t",
                       ExpressionAttributeNames={"#t": "t"},
                       ExpressionAttributeValues={":one": {"N": "1"}, ":t": {"BOOL": False}}, ReturnValues="ALL_NEW")
    dynamo.transact_write_items(TransactItems=[{"Update": {"TableName": "P", "Key": {"pk": ITEM["pk"]},
                                                           "UpdateExpression": "SET l = :l",
                                                           "ExpressionAttributeValues": {":l": {"L": [{"N": "1"}]}}}}])
    dynamo.query(TableName="P", KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": ITEM["pk"]}, Limit=5)
    dynamo.put_item(TableName="P", Item={"pk": {"S": "bin"}, "b": ITEM["b"], "bs": ITEM["bs"]})  # blobs: moto's parser
    assert dynamo.get_item(TableName="P", Key={"pk": {"S": "bin"}})["Item"]["b"] == {"B": b"\x00\xffbin"}
    assert {"PutItem", "UpdateItem", "TransactWriteItems", "Query", "GetItem"} <= set(direct)
    assert "PutItem" in left  # the one with binary values



def test_stream_reads_give_the_serializers_json(dynamo, monkeypatch):
    """GetRecords answered with json.dumps: the same JSON as moto's serializer, binary values and the records' times
    included, for a page, an empty page and a second page."""
    import boto3
    from moto.dynamodbstreams.responses import DynamoDBStreamsHandler

    seen: list[str] = []

    def both(self: Any, action_result: Any) -> Any:
        mine = moto_responses.fast(self, action_result)
        theirs = moto_responses.original_streams(self, action_result)
        if mine is not None:
            assert mine[0] == theirs[0] and mine[1] == theirs[1]
            assert json.loads(mine[2]) == json.loads(theirs[2])
            seen.append(self._get_action())
        return theirs

    monkeypatch.setattr(DynamoDBStreamsHandler, "serialized", both)
    dynamo.create_table(
        TableName="S", BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    for i in range(3):
        dynamo.put_item(TableName="S", Item={**ITEM, "pk": {"S": f"k{i}"}})
    dynamo.update_item(TableName="S", Key={"pk": {"S": "k0"}}, UpdateExpression="SET n = :n",
                       ExpressionAttributeValues={":n": {"N": "2"}})
    dynamo.delete_item(TableName="S", Key={"pk": {"S": "k1"}})
    streams = boto3.client("dynamodbstreams", region_name="us-east-1")
    arn = dynamo.describe_table(TableName="S")["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    first = streams.get_records(ShardIterator=iterator, Limit=3)
    rest = streams.get_records(ShardIterator=first["NextShardIterator"])
    after = streams.get_records(ShardIterator=rest["NextShardIterator"])
    assert [r["eventName"] for r in first["Records"] + rest["Records"]] == ["INSERT"] * 3 + ["MODIFY", "REMOVE"]
    assert first["Records"][0]["dynamodb"]["NewImage"]["b"] == {"B": b"\x00\xffbin"}
    assert after["Records"] == []
    assert seen == ["GetRecords"] * 3
