"""local/moto_parsing.py: an expression text parsed once gives what moto's own parser gives on every call, with each
call's own names and values; bad expressions fail as moto fails them; the 400 KB item check still holds."""

from __future__ import annotations

from typing import Any

import pytest

from local import moto_parsing

ATTRS = {
    "pk": {"S": "u"}, "n": {"N": "5"}, "s": {"S": "abc"}, "ss": {"SS": ["p", "q"]},
    "m": {"M": {"a": {"L": [{"S": "x"}, {"N": "2"}]}, "b": {"BOOL": True}}},
}
VALUES = {":min": {"N": "3"}, ":x": {"S": "x"}, ":y": {"N": "7"}, ":pre": {"S": "ab"}, ":lo": {"N": "1"},
          ":hi": {"N": "5"}, ":a": {"N": "4"}, ":b": {"N": "5"}, ":two": {"N": "2"}, ":p": {"S": "p"},
          ":t": {"S": "N"}, ":v": {"S": "abc"}}
CASES = [
    ("attribute_not_exists(pk)", {}),
    ("attribute_exists(#n) AND #n >= :min", {"#n": "n"}),
    ("#a < :y OR (#b <> :y AND NOT begins_with(s, :pre))", {"#a": "n", "#b": "s"}),
    ("n BETWEEN :lo AND :hi", {}),
    ("n IN (:a, :b, :min)", {}),
    ("size(s) > :two AND contains(ss, :p)", {}),
    ("attribute_type(n, :t)", {}),
    ("m.a[0] = :x", {}),
    ("#h.#k[1] = :two", {"#h": "m", "#k": "a"}),
    ("#f = :v", {"#f": "s"}),
    ("#f = :v", {"#f": "n"}),  # the same text with other names: another answer
    ("(n > :lo) AND (n < :y)", {}),
]


def _items() -> list[Any]:
    from moto.dynamodb.models.dynamo_type import DynamoType, Item

    full = Item(DynamoType(ATTRS["pk"]), None, ATTRS)
    bare = Item(DynamoType(ATTRS["pk"]), None, {"pk": ATTRS["pk"], "n": {"N": "9"}})
    return [full, bare, None]


def _outcome(parse: Any, expression: str, names: dict[str, str], values: dict[str, Any] | None) -> Any:
    from moto.dynamodb.comparisons import ConditionExpressionParser

    parser = ConditionExpressionParser(expression, names, values)
    try:
        op = parse(parser)
    except Exception as error:
        return type(error).__name__
    results = []
    for item in _items():
        try:
            results.append(op.expr(item))
        except Exception as error:
            results.append(type(error).__name__)
    return results, parser.expr_attr_names_found, parser.expr_attr_values_found


@pytest.fixture(scope="module")
def parser_class() -> Any:
    moto_parsing.install()
    from moto.dynamodb.comparisons import ConditionExpressionParser

    return ConditionExpressionParser


@pytest.mark.parametrize(("expression", "names"), CASES)
def test_a_cached_condition_evaluates_as_motos_parse(parser_class, expression, names):
    theirs = _outcome(moto_parsing.original_condition_parse, expression, names, VALUES)
    for _ in range(2):  # the first call fills the cache, the second reads it
        assert _outcome(parser_class.parse, expression, names, VALUES) == theirs


def test_each_call_gets_its_own_values(parser_class):
    first = _outcome(parser_class.parse, "n = :v", {}, {":v": {"N": "5"}})
    second = _outcome(parser_class.parse, "n = :v", {}, {":v": {"N": "9"}})
    assert first[0] == [True, False, False] and second[0] == [False, True, False]


@pytest.mark.parametrize(("expression", "names", "values"), [
    ("n = :missing", {}, VALUES),  # a value the call does not define
    ("#missing = :x", {}, VALUES),  # a name the call does not define
    ("n = :x", {}, None),  # no values at all
    ("name = :x", {}, VALUES),  # a reserved word
    ("n = = :x", {}, VALUES),
    ("((n = :x))", {}, VALUES),  # redundant parentheses
    ("n = :x AND", {}, VALUES),
])
def test_a_bad_condition_fails_as_moto_fails_it(parser_class, expression, names, values):
    theirs = _outcome(moto_parsing.original_condition_parse, expression, names, values)
    assert isinstance(theirs, str), theirs  # moto refuses it
    for _ in range(2):
        assert _outcome(parser_class.parse, expression, names, values) == theirs


def test_a_defined_value_after_a_missing_one_is_used(parser_class):
    """A failed call caches nothing that a later, good call with the same text would see."""
    assert _outcome(parser_class.parse, "n < :later", {}, {}) == "KeyError"
    assert _outcome(parser_class.parse, "n < :later", {}, {":later": {"N": "6"}})[0] == [True, False, False]


def test_an_update_text_reused_with_other_values_updates_each_item_by_its_own(dynamo):
    table = "UsersTable"
    key = {"user_id": {"S": "a"}}
    for amount, expected in (("2", "2"), ("3", "5"), ("-5", "0")):
        dynamo.update_item(TableName=table, Key=key, UpdateExpression="ADD #c :v SET #t = :t",
                           ExpressionAttributeNames={"#c": "credits", "#t": "tag"},
                           ExpressionAttributeValues={":v": {"N": amount}, ":t": {"S": amount}})
        item = dynamo.get_item(TableName=table, Key=key)["Item"]
        assert item["credits"] == {"N": expected} and item["tag"] == {"S": amount}


def test_items_past_400_kb_are_still_refused(dynamo):
    from botocore.exceptions import ClientError

    table, key = "UsersTable", {"user_id": {"S": "big"}}
    dynamo.put_item(TableName=table, Item={**key, "a": {"S": "x" * 200_000}, "b": {"S": "y" * 200_000}})
    with pytest.raises(ClientError) as put:
        dynamo.put_item(TableName=table, Item={**key, "a": {"S": "x" * 300_000}, "b": {"S": "y" * 200_000}})
    assert "Item size has exceeded the maximum allowed size" in put.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as update:
        dynamo.update_item(TableName=table, Key=key, UpdateExpression="SET c = :c",
                           ExpressionAttributeValues={":c": {"S": "z" * 10_000}})
    assert "Item size to update has exceeded the maximum allowed size" in update.value.response["Error"]["Message"]
    dynamo.update_item(TableName=table, Key=key, UpdateExpression="SET c = :c",
                       ExpressionAttributeValues={":c": {"S": "z" * 1_000}})  # still under: accepted
    assert dynamo.get_item(TableName=table, Key=key)["Item"]["c"] == {"S": "z" * 1_000}


def test_update_expressions_of_every_kind_apply_as_dynamodb_applies_them(dynamo):
    """Each text twice (the second from the cache), on an item rebuilt before each: the same result both times."""
    table, key = "UsersTable", {"user_id": {"S": "kinds"}}
    start = {**key, "n": {"N": "5"}, "l": {"L": [{"N": "1"}, {"N": "2"}, {"N": "3"}]}, "ss": {"SS": ["a", "b"]},
             "m": {"M": {"deep": {"N": "1"}}}, "gone": {"S": "x"}}
    cases = [
        ("SET n = n + :one, m.deep = m.deep - :one", {":one": {"N": "1"}},
         {"n": {"N": "6"}, "m": {"M": {"deep": {"N": "0"}}}}),
        ("SET l = list_append(l, :more), fresh = if_not_exists(fresh, :one)",
         {":more": {"L": [{"N": "4"}]}, ":one": {"N": "1"}},
         {"l": {"L": [{"N": "1"}, {"N": "2"}, {"N": "3"}, {"N": "4"}]}, "fresh": {"N": "1"}}),
        ("REMOVE l[0], l[2], gone", None, {"l": {"L": [{"N": "2"}]}, "gone": None}),
        ("ADD ss :c, n :one", {":c": {"SS": ["c"]}, ":one": {"N": "1"}}, {"ss": ["a", "b", "c"], "n": {"N": "6"}}),
        ("DELETE ss :a", {":a": {"SS": ["a"]}}, {"ss": ["b"]}),
    ]
    for expression, values, expected in cases:
        for _ in range(2):
            dynamo.put_item(TableName=table, Item=start)
            extra = {"ExpressionAttributeValues": values} if values else {}
            dynamo.update_item(TableName=table, Key=key, UpdateExpression=expression, **extra)
            item = dynamo.get_item(TableName=table, Key=key)["Item"]
            for name, value in expected.items():
                got = sorted(item[name]["SS"]) if name == "ss" else item.get(name)  # a set has no order
                assert got == value, (expression, name, got)


@pytest.mark.parametrize(("expression", "message"), [
    ("SET a = :v SET b = :v", "The \"SET\" section can only be used once in an update expression"),
    ("SET a = :v, a = :v", "Two document paths overlap"),
    ("SET m.deep = :v, m = :v", "path one: [m, deep], path two: [m]"),  # a path inside another, as moto words it
    ("SET #a = :v REMOVE #b", "Two document paths overlap"),  # two names for one attribute
    ("SET user_id = :v", "Cannot update attribute user_id. This attribute is part of the key"),
    ("SET a = :v REMOVE", "Invalid UpdateExpression: Syntax error"),
])
def test_a_bad_update_is_refused_every_time(dynamo, expression, message):
    from botocore.exceptions import ClientError

    for _ in range(2):
        with pytest.raises(ClientError) as refused:
            names = {"#a": "same", "#b": "same"} if "#a" in expression else {}
            dynamo.update_item(TableName="UsersTable", Key={"user_id": {"S": "x"}}, UpdateExpression=expression,
                               ExpressionAttributeValues={":v": {"N": "1"}},
                               **({"ExpressionAttributeNames": names} if names else {}))
        assert message in refused.value.response["Error"]["Message"], refused.value.response["Error"]


def test_an_undefined_name_in_an_update_fails_as_moto_fails_it(dynamo):
    """moto itself raises a bare KeyError here (DynamoDB answers a ValidationException): the whole-tree check must not
    hide it or change it."""
    for _ in range(2):
        with pytest.raises(KeyError, match="#missing"):
            dynamo.update_item(TableName="UsersTable", Key={"user_id": {"S": "x"}},
                               UpdateExpression="SET ok = :v, #missing = :v", ExpressionAttributeValues={":v": {"N": "1"}})
