"""The tamper-evident audit log: every entry carries the SHA-256 of the previous entry of its month partition, written
in the same transaction; GET /admin/audit-logs/verify walks a range and names the first broken link after an entry is
edited, deleted or inserted directly in DynamoDB."""

from __future__ import annotations

import itertools
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

from botocore.exceptions import ClientError

from gateway_common import audit, db, ledger, users
from gateway_common.dynamo_types import serialize_item
from gateway_common.timeutil import utcnow
from tests.helpers import assert_error, bearer

VERIFY = "/admin/audit-logs/verify"


def _entries(pk: str) -> list[dict]:
    return sorted(audit.partition_entries(pk), key=lambda i: int(i["seq"]))


def _verify(client, demo, **params):
    response = client.get(VERIFY, params=params, headers=bearer(demo["admin"]["key"]))
    assert response.status_code == 200, response.text
    return response.json()


def _month() -> str:
    return utcnow().strftime("%Y-%m")


def test_each_entry_links_to_the_previous_one_of_its_partition(client, demo):
    for n in range(3):
        client.post("/user/api-keys", headers=bearer(demo["live"]["key"]), json={"key_name": f"k{n}"})
    chain = _entries(_month())
    assert [int(e["seq"]) for e in chain] == list(range(1, len(chain) + 1)) and len(chain) >= 4  # seed + 3 keys
    assert chain[0]["prev_hash"] == audit.GENESIS
    for previous, entry in itertools.pairwise(chain):
        assert entry["prev_hash"] == previous["entry_hash"] == audit.entry_hash(previous)
    head = db.table(audit.AUDIT).get_item(Key={"pk": _month(), "sk": audit.HEAD_SK})["Item"]
    assert int(head["seq"]) == len(chain) and head["entry_hash"] == chain[-1]["entry_hash"]
    body = _verify(client, demo)
    assert body["verified"] is True and body["first_broken"] is None and body["entries_checked"] == len(chain)
    assert body["partitions"][-1] == _month()
    # the head never shows up as an entry
    listed = client.get("/admin/audit-logs", headers=bearer(demo["admin"]["key"])).json()
    assert listed["total"] == len(chain)


def test_an_entry_edited_directly_in_dynamodb_is_the_first_broken_link(client, demo):
    client.post("/user/api-keys", headers=bearer(demo["live"]["key"]), json={"key_name": "x"})
    chain = _entries(_month())
    target = chain[1]
    db.client().update_item(TableName=db.table_name(audit.AUDIT), Key=serialize_item({"pk": target["pk"], "sk": target["sk"]}),
                            UpdateExpression="SET details.amount = :a", ExpressionAttributeValues={":a": {"S": "9999.00"}})
    body = _verify(client, demo)
    assert body["verified"] is False and body["entries_checked"] == 1
    assert body["first_broken"] == {"partition": _month(), "sk": target["sk"], "id": target["id"], "seq": 2,
                                    "reason": "the entry's content does not match its entry_hash (edited)"}


def test_an_edit_that_also_rewrites_the_entry_hash_breaks_the_next_link(client, demo):
    client.post("/user/api-keys", headers=bearer(demo["live"]["key"]), json={"key_name": "x"})
    chain = _entries(_month())
    forged = {**chain[0], "action": "nothing_happened"}
    forged["entry_hash"] = audit.entry_hash(forged)
    db.client().put_item(TableName=db.table_name(audit.AUDIT), Item=serialize_item(forged))
    broken = _verify(client, demo)["first_broken"]
    assert broken["seq"] == 2 and broken["reason"] == "prev_hash does not match the previous entry's hash"


def test_deleted_entries_break_the_chain_in_the_middle_and_at_the_end(client, demo):
    for n in range(3):
        client.post("/user/api-keys", headers=bearer(demo["live"]["key"]), json={"key_name": f"k{n}"})
    chain = _entries(_month())
    table = db.table(audit.AUDIT)
    table.delete_item(Key={"pk": chain[-1]["pk"], "sk": chain[-1]["sk"]})
    tail = _verify(client, demo)["first_broken"]
    assert "entries deleted" in tail["reason"] and tail["seq"] == len(chain) - 1
    table.delete_item(Key={"pk": chain[1]["pk"], "sk": chain[1]["sk"]})
    middle = _verify(client, demo)["first_broken"]
    assert middle["seq"] == 3 and "missing (expected 2)" in middle["reason"]


def test_concurrent_writers_never_fork_the_chain(dynamo):
    user = users.create_user(username="many", email="many@example.com", plan_id=1)

    def credit(n: int) -> None:
        ledger.credit(user_id=user.user_id, amount=Decimal("1"), entry_id=f"t:{n}", reason="parallel")

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(credit, range(24)))
    chain = _entries(_month())
    assert len(chain) == 24 and [int(e["seq"]) for e in chain] == list(range(1, 25))
    assert audit.verify_partition(_month()) == (24, None)
    assert users.get_user(user.user_id).credits == Decimal("24")


def test_a_callers_own_refusal_keeps_its_reasons_by_position(dynamo):
    """ledger decodes cancellation reasons by position: the appended head update must not shift or add to them."""
    user = users.create_user(username="dup", email="dup@example.com", plan_id=1)
    first = ledger.credit(user_id=user.user_id, amount=Decimal("5"), entry_id="same", reason="once")
    again = ledger.credit(user_id=user.user_id, amount=Decimal("5"), entry_id="same", reason="once")
    assert first.applied and not again.applied and again.balance == Decimal("5")
    assert audit.verify_partition(_month()) == (1, None)  # the refused transaction wrote no entry and moved no head
    try:
        audit.transact([audit.transaction_put(user_id="u", action="a", resource_type="t", resource_id="r"),
                        {"ConditionCheck": {"TableName": db.table_name("UsersTable"), "Key": {"user_id": {"S": "nobody"}},
                                            "ConditionExpression": "attribute_exists(user_id)"}}])
    except ClientError as exc:
        assert db.cancellation_reasons(exc) == ["None", "ConditionalCheckFailed"]
    else:
        raise AssertionError("the condition check should have cancelled the transaction")


def test_verify_checks_its_range_and_needs_the_admin_role(client, demo):
    assert_error(client.get(VERIFY, headers=bearer(demo["live"]["key"])), 403, "admin role")
    admin = bearer(demo["admin"]["key"])
    assert_error(client.get(VERIFY + "?start_date=2020-01-01", headers=admin), 400, "36 months")
    assert_error(client.get(VERIFY + "?end_date=9999-12-31", headers=admin), 400, "end_date")
    body = _verify(client, demo, start_date=utcnow().strftime("%Y-%m-01"))
    assert body["partitions"] == [_month()] and body["verified"] is True


def _put_unchained(pk: str, sk_time: str, action: str = "role_changed") -> dict:
    """An entry as an attacker (or code from before the chain) writes it: no seq, prev_hash or entry_hash."""
    item = {**audit.audit_item(user_id="mallory", action=action, resource_type="user", resource_id="mallory"),
            "pk": pk, "sk": f"{sk_time}#log_forged", "id": "log_forged", "timestamp": sk_time}
    db.table(audit.AUDIT).put_item(Item=item)
    return item


def test_an_unchained_entry_backdated_before_the_chain_is_a_break(dynamo):
    """An insert without any link, sorted before every chained entry of its month: the head fixed what the month held
    before its chain (nothing here), so the extra entry is reported."""
    audit.record(user_id="u", action="a", resource_type="t", resource_id="r")
    assert audit.verify_partition(_month()) == (1, None)
    forged = _put_unchained(_month(), f"{_month()}-01T00:00:00Z")
    _, broken = audit.verify_partition(_month())
    assert broken is not None and broken["id"] == forged["id"] and "without a chain link" in broken["reason"]


def test_entries_from_before_the_chain_are_fixed_by_its_first_link(dynamo):
    legacy = [_put_unchained(_month(), f"{_month()}-01T00:00:0{n}Z", action=f"old_{n}") for n in range(3)]
    audit.record(user_id="u", action="a", resource_type="t", resource_id="r")  # the chain begins: the 3 are fixed
    audit.record(user_id="u", action="b", resource_type="t", resource_id="r")
    assert audit.verify_partition(_month()) == (2, None)
    table = db.table(audit.AUDIT)
    table.update_item(Key={"pk": legacy[1]["pk"], "sk": legacy[1]["sk"]}, UpdateExpression="SET #a = :a",
                      ExpressionAttributeNames={"#a": "action"}, ExpressionAttributeValues={":a": "nothing"})
    assert "inserted, edited or deleted" in audit.verify_partition(_month())[1]["reason"]
    table.put_item(Item=legacy[1])
    assert audit.verify_partition(_month()) == (2, None)
    table.delete_item(Key={"pk": legacy[2]["pk"], "sk": legacy[2]["sk"]})
    assert audit.verify_partition(_month())[1] is not None


def test_a_month_without_a_head_is_verified_only_before_the_first_chain(dynamo):
    before = _put_unchained("2024-03", "2024-03-05T10:00:00Z")  # a month from before chaining existed
    assert audit.verify_partition("2024-03") == (0, None)
    audit.record(user_id="u", action="a", resource_type="t", resource_id="r")  # chained since this month
    assert audit.verify_partition("2024-03") == (0, None), before
    later = f"{int(_month()[:4]) + 1}-01"  # a month after the chain began: entries there need a head
    _put_unchained(later, f"{later}-02T00:00:00Z")
    assert "no chain head" in audit.verify_partition(later)[1]["reason"]


def test_deleting_the_head_is_a_break(dynamo):
    audit.record(user_id="u", action="a", resource_type="t", resource_id="r")
    db.table(audit.AUDIT).delete_item(Key={"pk": _month(), "sk": audit.HEAD_SK})
    assert "no chain head" in audit.verify_partition(_month())[1]["reason"]
    audit.record(user_id="u", action="b", resource_type="t", resource_id="r")  # a new chain from seq 1: a repeat
    assert "repeated" in audit.verify_partition(_month())[1]["reason"]
