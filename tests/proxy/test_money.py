"""Money rules of the proxy: 402 before the call, settle exactly once, Idempotency-Key replays, the reservation sweep,
sandbox keys never charged, AI-included budgets, a client that leaves mid-stream is billed for what it got."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import httpx
import respx

from gateway_common import account_state, admission, auth, db, metering, plans, timeutil, users
from gateway_common.providers.base import Usage
from gateway_common.usage import UsageRecord, recent_for_user
from gw_chat import logic, streaming
from tests.helpers import assert_error, bearer

from .conftest import make_payer
from .wire import openai_completion, openai_sse

OPENAI = "https://api.openai.com/v1/chat/completions"
BODY = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "Say hello"}], "max_tokens": 20}


def balance(user_id):
    user = users.get_user(user_id)
    return user.available + user.reserved, user.reserved


def test_no_credits_is_402_with_a_clear_message_and_leaves_no_trace(client, dynamo):
    broke = make_payer("broke", Decimal("0"))
    response = client.post("/v1/chat/completions", headers=bearer(broke["key"]), json=BODY)
    body = assert_error(response, 402, "insufficient credits", "max_tokens")
    assert body["error"]["code"] == "insufficient_credits" and body["error"]["type"] == "insufficient_quota"
    assert account_state.read(broke["user_id"]).counts()["minute"] == 0  # the refused request was not counted
    assert db.table("ReservationsTable").scan()["Items"] == []
    minute = plans.get_plan("pro").limits.windows()["minute"]
    assert response.headers["x-ratelimit-limit"] == str(minute)  # a refusal still carries the plan's headers
    assert response.headers["x-ratelimit-remaining"] == str(minute)  # and counted nothing


def test_reservation_is_the_maximum_cost_and_a_big_max_tokens_is_refused(client, dynamo):
    small = make_payer("small", Decimal("0.001"))
    # gpt-4: 4096 output tokens x 0.00006 = 0.24 > 0.001
    response = client.post("/v1/chat/completions", headers=bearer(small["key"]),
                           json={**BODY, "model": "openai/gpt-4", "max_tokens": 4096})
    assert_error(response, 402, "up to 0.24")
    # the same model with a small max_tokens fits: served (locally by the sandbox) and charged its real cost
    ok = client.post("/v1/chat/completions", headers=bearer(small["key"]), json={**BODY, "model": "openai/gpt-4", "max_tokens": 3})
    assert ok.status_code == 200 and ok.headers["x-gateway-provider"] == "sandbox"
    record = recent_for_user(small["user_id"])[0]
    assert record["cost"] == record["prompt_tokens"] * Decimal("0.00003") + 3 * Decimal("0.00006")
    assert balance(small["user_id"]) == (Decimal("0.001") - record["cost"], 0)


def test_sandbox_keys_are_never_charged_nor_sent_upstream(client, demo, providers):
    with respx.mock(assert_all_called=False) as mock:
        upstream = mock.post(OPENAI).mock(return_value=httpx.Response(200, json=openai_completion()))
        response = client.post("/v1/chat/completions", headers=bearer(demo["test"]["key"]), json=BODY)
    assert response.status_code == 200 and response.headers["x-gateway-provider"] == "sandbox"
    assert response.json()["choices"][0]["message"]["content"].startswith("Sandbox reply")
    assert upstream.call_count == 0
    assert balance(demo["test"]["user_id"]) == (Decimal("25.00"), 0)
    record = recent_for_user(demo["test"]["user_id"])[0]
    assert record["cost"] == 0 and record["sandbox"] is True and record["total_tokens"] > 0


def test_idempotency_key_replays_the_stored_response_without_charging_again(client, payer, providers):
    with respx.mock as mock:
        upstream = mock.post(OPENAI).mock(return_value=httpx.Response(200, json=openai_completion()))
        headers = {**bearer(payer["key"]), "Idempotency-Key": "order-42"}
        first = client.post("/v1/chat/completions", headers=headers, json=BODY)
        second = client.post("/v1/chat/completions", headers=headers, json=BODY)
        other_body = client.post("/v1/chat/completions", headers=headers, json={**BODY, "max_tokens": 21})
    assert first.status_code == 200 and second.status_code == 200
    assert second.json() == first.json() and second.headers["idempotent-replayed"] == "true"
    assert upstream.call_count == 1
    records = recent_for_user(payer["user_id"])
    assert len(records) == 1
    assert balance(payer["user_id"]) == (Decimal("10.00") - records[0]["cost"], 0)
    body = assert_error(other_body, 409, "Idempotency-Key", "different request body", "already used at 20")
    assert body["error"]["code"] == "idempotency_key_reused"


def test_a_failed_request_frees_its_idempotency_key_for_a_retry(client, payer, providers):
    with respx.mock as mock:
        mock.post(OPENAI).mock(side_effect=[httpx.Response(400, json={"error": {"message": "bad"}}),
                                            httpx.Response(200, json=openai_completion())])
        headers = {**bearer(payer["key"]), "Idempotency-Key": "retry-me"}
        assert client.post("/v1/chat/completions", headers=headers, json=BODY).status_code == 400
        assert client.post("/v1/chat/completions", headers=headers, json=BODY).status_code == 200


def _reserve(payer, request_id="req_settle_twice", amount=Decimal("0.50")):
    res = metering.Reservation(reservation_id=request_id, user_id=payer["user_id"], key_id=payer["key_id"], plan_id=2,
                               mode="credits", amount=amount, currency="usd", endpoint="/v1/chat/completions",
                               model="openai/gpt-4o-mini")
    caller = auth.authenticate(f"Bearer {payer['key']}", None)
    return admission.admit(caller, res, route="POST /v1/chat/completions").reservation


def test_replaying_a_settle_charges_once(payer):
    res = _reserve(payer)
    assert balance(payer["user_id"]) == (Decimal("10.00"), Decimal("0.50"))
    record = UsageRecord(user_id=payer["user_id"], request_id=res.reservation_id, key_id=payer["key_id"], plan_id=2,
                         endpoint="/v1/chat/completions", model="openai/gpt-4o-mini", provider="openai",
                         prompt_tokens=10, completion_tokens=5, total_tokens=15, cost=Decimal("0.0123"),
                         created_at=res.created_at)
    assert metering.settle(res, record) is True
    assert metering.settle(res, record.model_copy()) is False
    assert balance(payer["user_id"]) == (Decimal("9.9877"), 0)
    assert len(recent_for_user(payer["user_id"])) == 1
    spend = account_state.read(payer["user_id"]).spend()
    assert spend.cost == Decimal("0.0123") and spend.requests == 1 and spend.tokens == 15
    assert metering.open_holds(payer["user_id"]) == {}


def test_the_sweep_releases_reservations_of_crashed_invocations(payer):
    _reserve(payer, "req_crashed")
    assert metering.sweep() == 0  # not expired yet
    timeutil.shift_clock(metering.RESERVATION_SECONDS + 1)
    from gw_reservation_sweep.app import handler

    assert handler({"source": "aws.events"}, None) == {"released": 1}
    assert balance(payer["user_id"]) == (Decimal("10.00"), 0)
    record = recent_for_user(payer["user_id"])[0]
    assert record["status"] == "error" and record["cost"] == 0 and record["request_id"] == "req_crashed"
    assert handler({}, None) == {"released": 0}


def test_the_sweep_writes_nothing_for_requests_that_settled(payer):
    """Markers of settled requests are skipped after a read of their account: no refused settle transaction each."""
    settled = [_reserve(payer, f"req_settled_{i}", Decimal("0.10")) for i in range(3)]
    for res in settled:
        assert metering.settle(res, UsageRecord(user_id=payer["user_id"], request_id=res.reservation_id,
                                                key_id=payer["key_id"], plan_id=2, endpoint=res.endpoint,
                                                model=res.model, provider="openai", cost=Decimal("0.01"),
                                                created_at=res.created_at))
    _reserve(payer, "req_crashed_too", Decimal("0.10"))
    timeutil.shift_clock(metering.RESERVATION_SECONDS + 1)
    calls: list[str] = []
    events = db.client().meta.events

    def count(model, **_):
        calls.append(model.name)

    events.register("before-call.dynamodb", count)
    try:
        assert metering.sweep() == 1
    finally:
        events.unregister("before-call.dynamodb", count)
    assert calls.count("TransactWriteItems") == 1, calls  # the crashed one only
    assert balance(payer["user_id"]) == (Decimal("10.00") - Decimal("0.03"), 0)
    assert metering.open_holds(payer["user_id"]) == {}


def test_ai_included_plan_reserves_against_the_monthly_budget(client, demo):
    key = demo["license_pro"]["key"]
    user_id = demo["license_pro"]["user_id"]
    ok = client.post("/api/chat", headers={"X-License-Key": key}, json={"messages": [{"role": "user", "content": "hi"}],
                                                                          "max_tokens": 10})
    assert ok.status_code == 200, ok.text
    assert ok.json()["currency"] == "eur" and ok.json()["cost_eur"] > 0
    state = account_state.read(user_id)
    spent = state.spend().cost
    assert state.budget_used() == spent and state.holds() == {} and state.spend().requests == 1
    record = recent_for_user(user_id)[0]
    assert record["currency"] == "eur" and record["cost"] == spent and record["endpoint"] == "/api/chat"
    # spend the budget: what is left no longer covers the request's maximum cost
    db.table("UsersTable").update_item(Key={"user_id": user_id}, UpdateExpression="SET #b = :used",
                                       ExpressionAttributeNames={"#b": f"budget#used#{state.month}"},
                                       ExpressionAttributeValues={":used": Decimal("3.999999")})
    refused = client.post("/api/chat", headers={"X-License-Key": key},
                          json={"messages": [{"role": "user", "content": "hi"}], "max_tokens": 10})
    assert_error(refused, 402, "Monthly budget exceeded")


def test_byok_license_gets_403_on_every_ai_route(client, demo):
    headers = {"X-License-Key": demo["license_starter"]["key"]}
    assert_error(client.post("/api/chat", headers=headers, json={"messages": [{"role": "user", "content": "hi"}]}),
                 403, "does not include the AI proxy")
    assert_error(client.post("/v1/chat/completions", headers=headers, json=BODY), 403, "bring-your-own-key")


def test_a_client_that_leaves_mid_stream_is_billed_for_what_it_received(payer, providers):
    caller = auth.authenticate(f"Bearer {payer['key']}", None)

    async def scenario() -> None:
        with respx.mock as mock:
            mock.post(OPENAI).mock(return_value=httpx.Response(200, content=openai_sse(["one ", "two ", "three ", "four"])))
            call = logic.begin(caller, endpoint="/v1/chat/completions", body={**BODY, "stream": True})
            target, first, iterator = await logic.open_stream(call)
            events = streaming.chat_sse(streaming.Relay(call, target, first, iterator))
            await events.__anext__()  # role chunk
            await events.__anext__()  # "one "
            await events.aclose()     # the client disconnects

    asyncio.run(scenario())
    record = recent_for_user(payer["user_id"])[0]
    assert record["status"] == "partial" and record["estimated"] is True
    assert record["completion_tokens"] == 1 and record["cost"] > 0  # "one " was produced and delivered
    assert balance(payer["user_id"]) == (Decimal("10.00") - record["cost"], 0)


def test_usage_estimated_when_the_provider_reports_none(client, payer, providers):
    body = openai_completion(text="x" * 40)
    del body["usage"]
    with respx.mock as mock:
        mock.post(OPENAI).mock(return_value=httpx.Response(200, json=body))
        response = client.post("/v1/chat/completions", headers=bearer(payer["key"]), json=BODY)
    assert response.json()["usage"]["completion_tokens"] == 10
    record = recent_for_user(payer["user_id"])[0]
    assert record["estimated"] is True and record["completion_tokens"] == 10


def test_usage_helpers_are_consistent():
    usage = Usage(3, 4)
    assert usage.total_tokens == 7 and usage.as_openai()["total_tokens"] == 7


def test_an_unexpected_failure_before_the_answer_releases_the_hold_at_once(dynamo, payer, providers):
    """Not only provider errors: whatever fails between admission and the first byte (a bug, an odd exception from the
    HTTP stack) settles the request at cost 0 at once, for completions, streams and images alike."""
    import pytest

    from gateway_common.usage import recent_for_key

    caller = auth.authenticate(f"Bearer {payer['key']}", None)
    image_body = {"model": "openai/dall-e-3", "prompt": "a cat", "n": 1}

    async def scenario() -> None:
        with respx.mock as mock:
            mock.post(OPENAI).mock(side_effect=RuntimeError("bug in the HTTP stack"))
            mock.post("https://api.openai.com/v1/images/generations").mock(side_effect=RuntimeError("bug"))
            call = logic.begin(caller, endpoint="/v1/chat/completions", body={**BODY})
            with pytest.raises(RuntimeError):
                await logic.complete(call)
            call = logic.begin(caller, endpoint="/v1/chat/completions", body={**BODY, "stream": True})
            with pytest.raises(RuntimeError):
                await logic.open_stream(call)
            call = logic.begin(caller, endpoint="/v1/images/generations", body=dict(image_body), images=1)
            with pytest.raises(RuntimeError):
                await logic.images(call, image_body)

    asyncio.run(scenario())
    assert balance(payer["user_id"]) == (Decimal("10.00"), 0)  # nothing held, nothing charged
    assert metering.open_holds(payer["user_id"]) == {}
    records = recent_for_key(payer["key_id"])
    assert len(records) == 3 and all(r["status"] == "error" and r["http_status"] == 500 and r["cost"] == 0 for r in records)


def test_an_idempotency_key_left_pending_by_a_crash_is_taken_over_once_stale(client, payer, providers):
    from gw_chat import idempotency
    from gw_chat.schemas import ChatCompletionRequest

    caller = auth.authenticate(f"Bearer {payer['key']}", None)
    headers = {**bearer(payer["key"]), "Idempotency-Key": "crash-1"}
    body = ChatCompletionRequest.model_validate(BODY).model_dump(exclude_none=True)  # as the route passes it
    logic.begin(caller, endpoint="/v1/chat/completions", body=body, idempotency_key="crash-1")  # then "crashes"
    with respx.mock as mock:
        upstream = mock.post(OPENAI).mock(return_value=httpx.Response(200, json=openai_completion()))
        assert_error(client.post("/v1/chat/completions", headers=headers, json=BODY), 409, "still in progress")
        timeutil.shift_clock(idempotency.STALE_SECONDS + 1)
        assert metering.sweep() == 1  # the crashed request's hold is released
        retried = client.post("/v1/chat/completions", headers=headers, json=BODY)
        replayed = client.post("/v1/chat/completions", headers=headers, json=BODY)
    assert retried.status_code == 200 and upstream.call_count == 1
    assert replayed.json() == retried.json() and replayed.headers["idempotent-replayed"] == "true"
    records = [r for r in recent_for_user(payer["user_id"]) if r["status"] == "success"]
    assert len(records) == 1 and balance(payer["user_id"]) == (Decimal("10.00") - records[0]["cost"], 0)
