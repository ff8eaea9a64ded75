"""gateway_common.dynamo_parser: DynamoDB's answers parsed with json.loads give what botocore's shape walk gives, for
every attribute type; answers holding binary values, nulls, timestamps or errors still take botocore's walk."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError
from botocore.parsers import JSONParser

from gateway_common import db
from gateway_common.dynamo_parser import ItemJSONParser, plain_json
from tests.unit.test_moto_responses import ITEM

PLAIN = {k: v for k, v in ITEM.items() if k not in ("b", "bs", "m", "z")}  # no blob, no NULL


class Walked(Exception):
    pass


@pytest.fixture
def answers(dynamo: Any) -> list[tuple[Any, dict[str, Any]]]:
    """Every answer the gateway's client receives (operation, the raw response), as botocore's parsers get it."""
    seen: list[tuple[Any, dict[str, Any]]] = []

    def keep(operation_model: Any, response_dict: dict[str, Any], **_: Any) -> None:
        seen.append((operation_model, {**response_dict, "headers": dict(response_dict["headers"])}))

    client = db.client()
    client.meta.events.register("before-parse.dynamodb", keep)
    client.create_table(
        TableName="T", BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("pk", "sk")],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
    )
    yield seen
    client.meta.events.unregister("before-parse.dynamodb", keep)


def _both(operation_model: Any, response: dict[str, Any]) -> tuple[Any, Any, bool]:
    """(botocore's parse, ours, whether ours skipped the walk)."""
    theirs = JSONParser().parse(response, operation_model.output_shape)
    mine = ItemJSONParser()
    walked = []
    original = mine._handle_json_body
    mine._handle_json_body = lambda *a: walked.append(1) or original(*a)  # type: ignore[method-assign]
    return theirs, mine.parse(response, operation_model.output_shape), not walked


def _calls(c: Any, item: dict[str, Any]) -> None:
    key = {"pk": item["pk"], "sk": item["sk"]}
    c.put_item(TableName="T", Item=item, ReturnConsumedCapacity="TOTAL")
    c.put_item(TableName="T", Item=item, ReturnValues="ALL_OLD")
    c.get_item(TableName="T", Key=key, ConsistentRead=True)
    c.get_item(TableName="T", Key={**key, "sk": {"S": "missing"}})
    for values in ("ALL_NEW", "UPDATED_OLD", "NONE"):
        c.update_item(TableName="T", Key=key, UpdateExpression="ADD n :one", ReturnValues=values,
                      ExpressionAttributeValues={":one": {"N": "1"}}, ReturnConsumedCapacity="INDEXES")
    c.query(TableName="T", KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": item["pk"]}, Limit=1)
    c.batch_get_item(RequestItems={"T": {"Keys": [key]}})
    c.transact_write_items(TransactItems=[{"Update": {"TableName": "T", "Key": key, "UpdateExpression": "SET t = :f",
                                                      "ExpressionAttributeValues": {":f": {"BOOL": False}}}}],
                           ReturnConsumedCapacity="TOTAL")
    c.delete_item(TableName="T", Key=key, ReturnValues="ALL_OLD")


def test_plain_answers_skip_the_walk_and_parse_alike(answers):
    _calls(db.client(), PLAIN)
    item_calls = [(op, r) for op, r in answers if op.name != "CreateTable"]
    assert len(item_calls) == 11
    for operation_model, response in item_calls:
        theirs, mine, skipped = _both(operation_model, response)
        assert mine == theirs, operation_model.name
        assert skipped, operation_model.name
    assert any(mine.get("Attributes", {}).get("n") == {"N": "13.50"} for mine in
               (_both(op, r)[1] for op, r in item_calls if op.name == "UpdateItem"))


def test_binary_values_and_nulls_take_the_walk(answers):
    _calls(db.client(), ITEM)  # blobs (B, BS, nested in a list) and a NULL
    walked = 0
    for operation_model, response in answers:
        theirs, mine, skipped = _both(operation_model, response)
        assert mine == theirs, operation_model.name
        walked += not skipped
    db.client().put_item(TableName="T", Item=ITEM)
    got = db.client().get_item(TableName="T", Key={"pk": ITEM["pk"], "sk": ITEM["sk"]})["Item"]
    assert got["m"]["M"]["deep"]["L"][2] == {"B": b"\x07"}  # decoded, as botocore decodes it
    assert walked >= 6  # every answer that carries the item


def test_shapes_with_timestamps_or_blobs_are_never_plain(dynamo):
    model = db.client().meta.service_model
    for operation in ("GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan", "BatchGetItem",
                      "BatchWriteItem", "TransactWriteItems", "TransactGetItems"):
        assert plain_json(model.operation_model(operation).output_shape), operation
    for operation in ("DescribeTable", "CreateTable", "ListBackups", "DescribeContinuousBackups"):
        assert not plain_json(model.operation_model(operation).output_shape), operation  # they hold timestamps


def test_errors_keep_botocores_parse(answers):
    c = db.client()
    c.put_item(TableName="T", Item=PLAIN)
    with pytest.raises(ClientError) as refused:
        c.put_item(TableName="T", Item=PLAIN, ConditionExpression="attribute_not_exists(pk)",
                   ReturnValuesOnConditionCheckFailure="ALL_OLD")
    assert refused.value.response["Error"]["Code"] == "ConditionalCheckFailedException"
    assert refused.value.response["Item"]["n"] == {"N": "12.50"}
