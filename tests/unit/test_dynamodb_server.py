"""local/dynamodb_server.py answers DynamoDB's calls straight from moto's handler, without moto's dispatcher and Flask:
the same status, content type and body as through them, for successes, refusals and unknown tables alike."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from local import moto_atomic
from local.dynamodb_server import InlineWSGI

SCOPE = "Credential=AKIDEXAMPLE/20261203/us-east-1/dynamodb/aws4_request"


def _environ(operation: str, body: dict[str, Any]) -> dict[str, Any]:
    from werkzeug.test import EnvironBuilder

    return EnvironBuilder(method="POST", path="/", base_url="http://127.0.0.1:8000", data=json.dumps(body),
                          headers={"X-Amz-Target": f"DynamoDB_20120810.{operation}",
                                   "Content-Type": "application/x-amz-json-1.0",
                                   "Authorization": f"AWS4-HMAC-SHA256 {SCOPE}, SignedHeaders=host, Signature=0"},
                          ).get_environ()


def _calls(table: str) -> list[tuple[str, dict[str, Any]]]:
    key = {"pk": {"S": "a"}}
    return [
        ("CreateTable", {"TableName": table, "BillingMode": "PAY_PER_REQUEST",
                         "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
                         "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}]}),
        ("PutItem", {"TableName": table, "Item": {**key, "n": {"N": "1"}, "b": {"B": "AAE="}}}),
        ("GetItem", {"TableName": table, "Key": key}),
        ("UpdateItem", {"TableName": table, "Key": key, "UpdateExpression": "ADD n :one",
                        "ExpressionAttributeValues": {":one": {"N": "2"}}, "ReturnValues": "ALL_NEW"}),
        ("UpdateItem", {"TableName": table, "Key": key, "UpdateExpression": "ADD n :one",  # refused: n is 3
                        "ConditionExpression": "n < :one", "ExpressionAttributeValues": {":one": {"N": "2"}}}),
        ("TransactWriteItems", {"TransactItems": [{"ConditionCheck": {
            "TableName": table, "Key": key, "ConditionExpression": "attribute_not_exists(pk)"}}]}),
        ("Query", {"TableName": table, "KeyConditionExpression": "pk = :a",
                   "ExpressionAttributeValues": {":a": {"S": "a"}}}),
        ("GetItem", {"TableName": table + "-missing", "Key": key}),
        ("UpdateItem", {"TableName": table, "Key": key, "UpdateExpression": "SET SET"}),  # a syntax error
    ]


def _answers(respond: Any, table: str) -> list[tuple[int, str, Any]]:
    answers = []
    for operation, body in _calls(table):
        status, headers, payload = respond(_environ(operation, body))
        fields = {k.lower(): v for k, v in headers}
        assert fields["content-length"] == str(len(payload)), operation
        text = payload.decode().replace(table, "T")
        parsed = json.loads(text) if text.startswith("{") else text
        if operation == "CreateTable":
            parsed = parsed["TableDescription"]["TableStatus"]  # not the creation time
        answers.append((status, fields["content-type"], parsed))
    return answers


@pytest.fixture
def server() -> InlineWSGI:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    moto_atomic.install()
    return InlineWSGI(DomainDispatcherApplication(create_backend_app))


def test_dynamodb_calls_answer_as_through_motos_flask_app(server):
    run = uuid.uuid4().hex  # moto's server-mode state is the process's: fresh tables each run
    direct = _answers(server.respond, f"direct-{run}")
    through_flask = _answers(lambda environ: server.wsgi_response(server.dispatcher, environ), f"flask-{run}")
    assert direct == through_flask
    assert [status for status, _, _ in direct] == [200, 200, 200, 200, 400, 400, 200, 400, 400]
    assert direct[3][2]["Attributes"]["n"] == {"N": "3"}
    assert direct[4][2]["__type"].endswith("ConditionalCheckFailedException")
    assert server.handlers.keys() == {"DynamoDB_20120810"}  # found once, then reused
    assert server.urls == {("http", "127.0.0.1:8000"): "http://127.0.0.1:8000/"}


def test_calls_without_a_target_take_motos_dispatcher(server):
    from werkzeug.test import EnvironBuilder

    environ = EnvironBuilder(method="GET", path="/moto-api/data.json", base_url="http://127.0.0.1:8000").get_environ()
    assert server.handler_for(environ) is None
    status, _, payload = server.respond(environ)
    assert status == 200 and "dynamodb" in json.loads(payload)


def test_the_heap_is_frozen_every_so_many_calls():
    """Survivors of each period leave the collector's walks (gc.freeze), so a full collection stays as short as one
    period's allocations instead of growing with everything the local DynamoDB stores."""
    import gc

    from local.dynamodb_server import HeapFreezer

    freezer = HeapFreezer(every=3)
    gc.unfreeze()
    try:
        before = gc.get_freeze_count()
        assert before == 0
        freezer.tick()
        freezer.tick()
        assert gc.get_freeze_count() == 0  # not yet
        stored = [[str(i)] for i in range(1000)]  # what the store keeps (lists: objects the collector tracks)
        freezer.tick()
        frozen = gc.get_freeze_count()
        assert frozen >= len(stored)
        kept_later = [[i] for i in range(1000)]
        for _ in range(3):
            freezer.tick()
        assert gc.get_freeze_count() >= frozen + len(kept_later)  # each period adds its own survivors
        assert stored and kept_later
    finally:
        gc.unfreeze()


def test_json_bodies_skip_werkzeugs_form_parsing(server, monkeypatch):
    """A DynamoDB body is JSON: the direct path hands moto the raw bytes (and no form, no files), as werkzeug's form
    parsing would, without running it."""
    from moto.moto_server.werkzeug_app import BackendRequest

    parsed: list[int] = []
    original = BackendRequest._load_form_data
    monkeypatch.setattr(BackendRequest, "_load_form_data", lambda self: parsed.append(1) or original(self))
    table = f"form-{uuid.uuid4().hex}"
    direct = _answers(server.respond, table)
    assert parsed == [] and direct[3][2]["Attributes"]["n"] == {"N": "3"}
    _answers(lambda environ: server.wsgi_response(server.dispatcher, environ), table + "-flask")
    assert parsed  # the Flask path still parses (so the check above could fail)
