"""Issue 17: an admin correction (refund, re-price) is a new usage record linked to the original; it moves the money
where the request's money was, reaches every view through the stream and the rollups, and is audited."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import respx

from gateway_common import audit as audit_log
from gateway_common import db, timeutil, users
from gateway_common.usage import recent_for_user
from gw_rollup.job import RollupJob
from tests.helpers import assert_error, bearer

from .conftest import make_payer
from .wire import openai_completion

OPENAI = "https://api.openai.com/v1/chat/completions"
BODY = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "Say hello"}], "max_tokens": 20}


def _balance(user_id: str) -> Decimal:
    user = users.get_user(user_id)
    return user.available + user.reserved


def _views(client: Any, payer: dict[str, Any], admin: dict[str, str]) -> dict[str, Any]:
    key = bearer(payer["key"])
    stats = client.get("/activity/stats", headers=key).json()["statistics"]
    everyone = client.get("/admin/transaction-analytics", headers=admin).json()["analytics"]
    mine = client.get(f"/admin/transaction-analytics?user_id={payer['user_id']}", headers=admin).json()["analytics"]
    history = client.get("/api/usage/history?days=7", headers=key).json()
    current = client.get("/api/usage/current", headers=key).json()["current_usage"]["current_month"]
    return {
        "stats": Decimal(str(stats["total_cost"])), "global": Decimal(str(everyone["total_revenue"])),
        "user": Decimal(str(mine["total_revenue"])), "history": Decimal(str(history["summary"]["total_cost"])),
        "current": Decimal(str(current["cost"])), "requests": (stats["total_requests"], everyone["total_transactions"],
                                                               history["summary"]["total_requests"], current["requests"]),
        "corrections": everyone["corrections"], "recent": history["recent_requests"],
    }


def test_a_refund_and_a_reprice_reach_every_view_and_the_balance(client, demo, providers):
    payer = make_payer("corrected", Decimal("10.00"))
    admin = bearer(demo["admin"]["key"])
    with respx.mock:
        respx.post(OPENAI).mock(return_value=httpx.Response(200, json=openai_completion(prompt=1000, completion=500)))
        answer = client.post("/v1/chat/completions", headers=bearer(payer["key"]), json=BODY)
    assert answer.status_code == 200, answer.text
    request_id = answer.headers["X-Gateway-Request-Id"]
    cost = Decimal(answer.headers["X-Gateway-Cost"].split()[0])
    assert cost > 0 and _balance(payer["user_id"]) == Decimal("10.00") - cost

    refund = {"user_id": payer["user_id"], "request_id": request_id, "kind": "refund", "amount": str(cost / 4),
              "reason": "slow answer"}
    first = client.post("/admin/usage/corrections", headers={**admin, "Idempotency-Key": "r1"}, json=refund)
    assert first.status_code == 200, first.text
    assert first.json()["applied"] is True and Decimal(str(first.json()["net_cost"])) == cost * 3 / 4
    timeutil.shift_clock(5)  # a retry a few seconds later: the new record would have another key
    again = client.post("/admin/usage/corrections", headers={**admin, "Idempotency-Key": "r1"}, json=refund)
    assert again.json()["applied"] is False  # a retry corrects once
    assert _balance(payer["user_id"]) == Decimal("10.00") - cost * 3 / 4

    reprice = {"user_id": payer["user_id"], "request_id": request_id, "kind": "reprice", "new_cost": str(cost / 2),
               "reason": "price list error"}
    assert client.post("/admin/usage/corrections", headers=admin, json=reprice).status_code == 200
    assert _balance(payer["user_id"]) == Decimal("10.00") - cost / 2

    RollupJob().run()
    views = _views(client, payer, admin)
    assert views["stats"] == views["global"] == views["user"] == views["history"] == views["current"] == cost / 2
    assert views["requests"] == (1, 1, 1, 1) and views["corrections"] == 2  # corrections are not requests
    kinds = sorted((r["kind"], r["corrects"]) for r in views["recent"])
    assert kinds == [("correction", request_id), ("correction", request_id), ("request", None)]
    # the original record is untouched; the ledger of money is the usage records themselves
    records = recent_for_user(payer["user_id"])
    original = next(r for r in records if r["request_id"] == request_id)
    assert Decimal(str(original["cost"])) == cost and "kind" in original and original["kind"] == "request"
    assert sum(Decimal(str(r["cost"])) for r in records) == cost / 2
    audit = client.get("/admin/audit-logs?action=usage_corrected", headers=admin).json()
    entries = audit.get("logs") or audit.get("data") or []
    assert len(entries) == 2 and {e["resource_id"] for e in entries} == {request_id}
    chained = [e for e in audit_log.partition_entries(timeutil.utcnow().strftime("%Y-%m"))
               if e["action"] == "usage_corrected"]
    assert len(chained) == 2 and all(e["prev_hash"] and e["entry_hash"] == audit_log.entry_hash(e) for e in chained)
    verified = client.get("/admin/audit-logs/verify", headers=admin).json()
    assert verified["verified"] is True and verified["first_broken"] is None  # corrections are links of the chain


def test_corrections_cannot_give_back_more_than_was_charged(client, demo, providers):
    payer = make_payer("greedy", Decimal("10.00"))
    admin = bearer(demo["admin"]["key"])
    with respx.mock:
        respx.post(OPENAI).mock(return_value=httpx.Response(200, json=openai_completion()))
        answer = client.post("/v1/chat/completions", headers=bearer(payer["key"]), json=BODY)
    request_id, cost = answer.headers["X-Gateway-Request-Id"], Decimal(answer.headers["X-Gateway-Cost"].split()[0])
    base = {"user_id": payer["user_id"], "request_id": request_id, "reason": "x"}
    too_much = client.post("/admin/usage/corrections", headers=admin,
                           json={**base, "kind": "refund", "amount": str(cost * 2)})
    assert_error(too_much, 400, "at most")
    assert client.post("/admin/usage/corrections", headers=admin, json={**base, "kind": "refund"}).status_code == 200
    assert_error(client.post("/admin/usage/corrections", headers=admin, json={**base, "kind": "refund"}), 400,
                 "Nothing to refund")
    assert_error(client.post("/admin/usage/corrections", headers=admin,
                             json={**base, "kind": "reprice", "new_cost": "-1"}), 400, "new_cost")
    assert_error(client.post("/admin/usage/corrections", headers=admin,
                             json={**base, "request_id": "req_nope", "kind": "refund"}), 404, "req_nope")
    assert_error(client.post("/admin/usage/corrections", headers=bearer(payer["key"]), json={**base, "kind": "refund"}),
                 403, "admin")
    assert _balance(payer["user_id"]) == Decimal("10.00")  # refunded once, fully, and never more
    assert db.table("UsageTable").query(KeyConditionExpression="user_id = :u",
                                        ExpressionAttributeValues={":u": payer["user_id"]})["Count"] == 2
