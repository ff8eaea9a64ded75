"""Small helpers for tests."""

from __future__ import annotations

from decimal import Decimal
from typing import Any


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def assert_error(response: Any, status: int, *fragments: str) -> dict[str, Any]:
    """The response is the gateway's error envelope with this status and a message containing every fragment."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["status_code"] == status
    assert body["timestamp"].endswith("Z")
    assert body["error"]["message"] == body["detail"]
    for fragment in fragments:
        assert fragment.lower() in body["detail"].lower(), (fragment, body["detail"])
    return body


def admit_ai(raw_key: str, n: int = 1) -> None:
    """What an AI route does at admission, without money: count the account's plan windows (override applied)."""
    import secrets

    from gateway_common import admission, auth, metering

    caller = auth.authenticate(f"Bearer {raw_key}", None)
    for _ in range(n):
        res = metering.Reservation(
            reservation_id="req_" + secrets.token_hex(8), user_id=caller.user_id, key_id=caller.key.key_id,
            plan_id=caller.plan.id, mode="free", amount=Decimal(0), currency=caller.plan.currency,
            endpoint="/v1/chat/completions", model="openai/gpt-4o-mini",
        )
        admission.admit(caller, res, route="POST /v1/chat/completions")


def ai_counts(user_id: str) -> dict[str, int]:
    """The account's AI request counts in the current minute/hour/day/month windows."""
    from gateway_common import account_state

    return account_state.read(user_id).counts()


def seed_month(user_id: str, requests: int, cost: Decimal, tokens_each: int = 30, latency_each: int = 250) -> None:
    """Earlier settled requests of this month, as admission (month window) and settle (spend figures, budget) leave
    them on the account item."""
    from gateway_common import db, names, ratelimit
    from gateway_common.timeutil import now_ts

    ts = now_ts()
    month = ratelimit.window_bounds("month", ts)[0]
    values = {
        ratelimit.window_attribute(names.ACCOUNT_WINDOWS, "month", month): requests,
        names.spend_attribute("cost", month): cost,
        names.spend_attribute("requests", month): requests,
        names.spend_attribute("tokens", month): tokens_each * requests,
        names.spend_attribute("latency_ms", month): latency_each * requests,
        names.budget_attribute(month): cost,
    }
    attribute_names = {f"#a{i}": name for i, name in enumerate(values)}
    db.table("UsersTable").update_item(
        Key={"user_id": user_id},
        UpdateExpression="ADD " + ", ".join(f"#a{i} :v{i}" for i in range(len(values))),
        ExpressionAttributeNames=attribute_names,
        ExpressionAttributeValues={f":v{i}": v for i, v in enumerate(values.values())},
    )


def hold_credits(raw_key: str, amount: Decimal, request_id: str | None = None) -> Any:
    """Admit an AI request of maximum cost ``amount`` through the real admission (a credit hold): the Reservation
    that settle takes."""
    import secrets

    from gateway_common import admission, auth, metering

    caller = auth.authenticate(f"Bearer {raw_key}", None)
    res = metering.Reservation(
        reservation_id=request_id or "req_" + secrets.token_hex(8), user_id=caller.user_id, key_id=caller.key.key_id,
        plan_id=caller.plan.id, mode="credits", amount=amount, currency=caller.plan.currency,
        endpoint="/v1/chat/completions", model="openai/gpt-4o-mini",
    )
    return admission.admit(caller, res, route="POST /v1/chat/completions").reservation


def audit_entries(action: str | None = None, user_id: str | None = None) -> list[dict[str, Any]]:
    """Every audit entry in the table (the chain's own items excluded: each month's head, the first chained month),
    optionally of one action and user."""
    from gateway_common import audit, db

    items = db.table(audit.AUDIT).scan(ConsistentRead=True)["Items"]
    return [i for i in items if not i["sk"].startswith("#") and (action is None or i["action"] == action)
            and (user_id is None or i["user_id"] == user_id)]


def assert_audit_chain_intact() -> None:
    """Every month partition of the audit table verifies: each audited path of a run went through ``audit.transact``
    (an entry written around it carries no link, and the verify names it)."""
    from gateway_common import audit, db

    months = {i["pk"] for i in db.table(audit.AUDIT).scan(ConsistentRead=True)["Items"] if not i["pk"].startswith("#")}
    assert months
    for month in sorted(months):
        assert audit.verify_partition(month)[1] is None, month
