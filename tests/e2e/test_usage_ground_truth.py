"""Ground truth for usage analytics (issues 16 and 17): a mixed workload through the real gateway (uvicorn on 127.0.0.1,
DynamoDB in a moto server, a fake upstream on 127.0.0.1), while rollup runs are triggered concurrently; then every
analytics view is compared with sums computed independently, from what the clients received.

Workload: two USD accounts (one with two keys), a EUR license key, a sandbox key; two models; JSON and streamed
answers; upstream failures (502); streams that break after the provider reported its usage; Responses, Messages and
embeddings calls; an admin refund.
Independent sums: tokens from the answers' ``usage`` (or, for a broken stream, what the fake upstream sent), cost from
``X-Gateway-Cost`` for JSON answers and from the catalog price x tokens for streams, 0 for failures and the sandbox,
and the refund's ``cost_change``. Every view must count the same records, money per currency.
"""

from __future__ import annotations

import json
import os
import threading
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
import pytest

from gateway_common import apikeys, catalog, ledger, plans, users
from gateway_common.keys import hash_key, key_id_for_hash
from gateway_common.timeutil import utcnow
from local import seed
from local.gateway_app import build_app
from tests.servers import gateway_server, moto_server, without_provider_keys

MODELS = ("openai/gpt-4o-mini", "openai/gpt-4o")
EMBEDDING = "openai/text-embedding-3-small"


def _upstream_tokens(content: str) -> tuple[int, int]:
    """What the fake upstream reports for a prompt: decided by the prompt alone, so the test knows it too."""
    return 10 + len(content), 3 + len(content) % 7


async def _upstream_embeddings(request: Any) -> Any:
    from starlette.responses import JSONResponse

    body = await request.json()
    inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
    tokens = sum(_upstream_tokens(text)[0] for text in inputs)
    return JSONResponse({"object": "list", "model": body["model"], "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
                         "data": [{"object": "embedding", "index": i, "embedding": [0.6, 0.8]} for i in range(len(inputs))]})


async def _upstream(request: Any) -> Any:
    from starlette.responses import JSONResponse, Response

    body = await request.json()
    content = body["messages"][-1]["content"]
    prompt, completion = _upstream_tokens(content)
    usage = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
    if "fail" in content:
        return JSONResponse({"error": {"message": "upstream overloaded", "type": "server_error"}}, status_code=503)
    base = {"id": "chatcmpl-gt", "object": "chat.completion.chunk", "created": 1, "model": body["model"]}
    if not body.get("stream"):
        return JSONResponse({"id": "chatcmpl-gt", "object": "chat.completion", "created": 1, "model": body["model"],
                             "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"},
                                          "finish_reason": "stop"}], "usage": usage})
    events = [{**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": "o"}, "finish_reason": None}]},
              {**base, "choices": [{"index": 0, "delta": {"content": "k"}, "finish_reason": "stop"}]},
              {**base, "choices": [], "usage": usage}]
    text = "".join(f"data: {json.dumps(e)}\n\n" for e in events)
    if "break" not in content:
        text += "data: [DONE]\n\n"  # a broken stream ends after the usage, without [DONE]
    return Response(text, media_type="text/event-stream")


@dataclass
class Sent:
    user: str
    key_id: str
    currency: str
    model: str
    provider: str
    tokens: int
    cost: Decimal
    sandbox: bool
    kind: str = "request"


@pytest.fixture(scope="module")
def stack() -> Iterator[dict[str, Any]]:
    from moto.dynamodb.models import dynamodb_backends
    from starlette.applications import Starlette
    from starlette.routing import Route

    saved_base = os.environ.get("OPENAI_BASE_URL")
    upstream = Starlette(routes=[Route("/v1/chat/completions", _upstream, methods=["POST"]),
                                 Route("/v1/embeddings", _upstream_embeddings, methods=["POST"])])
    dynamodb_backends.reset()  # nor take any over: a moto server left by an earlier test keeps its tables and records
    try:
        with without_provider_keys(), moto_server(), gateway_server(upstream) as fake, \
                gateway_server(build_app()) as base:
            os.environ["OPENAI_API_KEY"] = "sk-ground-truth"
            os.environ["OPENAI_BASE_URL"] = fake + "/v1"
            catalog.clear_cache()
            yield {"base": base, "keys": seed.seed_demo()}
    finally:
        dynamodb_backends.reset()  # the moto server shares this process's moto state: leave none to the next test
        if saved_base is None:
            os.environ.pop("OPENAI_BASE_URL", None)
        else:
            os.environ["OPENAI_BASE_URL"] = saved_base
        catalog.clear_cache()


def _account(name: str, keys: int) -> list[dict[str, str]]:
    user = users.create_user(username=name, email=f"{name}@example.com", plan_id=plans.get_plan("pro").id)
    ledger.credit(user_id=user.user_id, amount=Decimal("20"), entry_id=f"gt:{name}", reason="ground truth")
    out = []
    for i in range(keys):
        raw, record = apikeys.create_gw_key(user_id=user.user_id, key_name=f"{name}{i}", environment="live")
        out.append({"key": raw, "key_id": record.key_id, "user_id": user.user_id, "currency": "usd"})
    return out


def _price(model: str, prompt: int, completion: int, currency: str) -> Decimal:
    entry = catalog.get_model(model)
    return (entry.pricing.prompt * prompt + entry.pricing.completion * completion) * catalog.usd_rate(currency)


def _send(http: httpx.Client, key: dict[str, str], model: str, content: str, stream: bool) -> tuple[Sent, str]:
    body: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": content}], "max_tokens": 40}
    if stream:
        body.update(stream=True, stream_options={"include_usage": True})
    response = http.post("/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {key['key']}"})
    request_id = response.headers["X-Gateway-Request-Id"]
    sandbox = key.get("sandbox") == "yes"
    sent = Sent(key["user_id"], key["key_id"], key["currency"], model, "sandbox" if sandbox else "openai", 0,
                Decimal("0"), sandbox)
    if response.status_code == 502:
        assert "fail" in content and not sandbox, response.text
        return sent, request_id
    assert response.status_code == 200, response.text
    if not stream:
        usage = response.json()["usage"]
        amount, currency = response.headers["X-Gateway-Cost"].split()
        assert currency.lower() == key["currency"]
        sent.tokens, sent.cost = usage["total_tokens"], Decimal(amount)
        return sent, request_id
    events = [json.loads(line[6:]) for line in response.text.splitlines()
              if line.startswith("data: {")]
    if sandbox:
        usage = next(e["usage"] for e in events if e.get("usage"))
        sent.tokens = usage["total_tokens"]
        return sent, request_id
    if "break" in content:  # the client got an error event; the provider had reported its usage before breaking
        assert events[-1]["error"]["code"] == "upstream_stream_broken"
        prompt, completion = _upstream_tokens(content)
    else:
        usage = next(e["usage"] for e in events if e.get("usage"))
        prompt, completion = usage["prompt_tokens"], usage["completion_tokens"]
    sent.tokens, sent.cost = prompt + completion, _price(model, prompt, completion, key["currency"])
    return sent, request_id


SURFACES = {  # issue 11's surfaces, metered through the same settle: path, body, tokens from the answer
    "responses": ("/v1/responses", lambda content: {"model": MODELS[0], "input": content, "max_output_tokens": 40},
                  lambda answer: answer["usage"]["total_tokens"]),
    "messages": ("/v1/messages", lambda content: {"model": MODELS[1], "max_tokens": 40,
                                                  "messages": [{"role": "user", "content": content}]},
                 lambda answer: answer["usage"]["input_tokens"] + answer["usage"]["output_tokens"]),
    "embeddings": ("/v1/embeddings", lambda content: {"model": EMBEDDING, "input": [content, content + " again"]},
                   lambda answer: answer["usage"]["total_tokens"]),
}


def _send_surface(http: httpx.Client, key: dict[str, str], surface: str, content: str) -> tuple[Sent, str]:
    path, body, tokens_of = SURFACES[surface]
    response = http.post(path, json=body(content), headers={"Authorization": f"Bearer {key['key']}"})
    assert response.status_code == 200, (surface, response.text)
    sandbox = key.get("sandbox") == "yes"
    amount, currency = response.headers["X-Gateway-Cost"].split()
    assert currency.lower() == key["currency"]
    model = body(content)["model"]
    sent = Sent(key["user_id"], key["key_id"], key["currency"], model, "sandbox" if sandbox else "openai",
                tokens_of(response.json()), Decimal(amount), sandbox)
    return sent, response.headers["X-Gateway-Request-Id"]


def _roll_up_until_caught_up() -> None:
    from gw_rollup.job import RollupJob

    for _ in range(10):
        if RollupJob().run().caught_up:
            return
    raise AssertionError("the rollup job did not catch up")


def test_every_analytics_view_agrees_with_what_the_clients_received(stack):
    from gw_rollup.job import RollupJob

    keys = stack["keys"]
    a1, a2 = _account("gt_alice", 2)
    [b1] = _account("gt_bob", 1)
    eur = {"key": keys["license_pro"]["key"], "user_id": keys["license_pro"]["user_id"], "currency": "eur",
           "key_id": key_id_for_hash(hash_key(keys["license_pro"]["key"]))}
    raw_sandbox, sandbox_record = apikeys.create_gw_key(user_id=a1["user_id"], key_name="gt sandbox", environment="test")
    sandbox = {"key": raw_sandbox, "key_id": sandbox_record.key_id, "user_id": a1["user_id"], "currency": "usd",
               "sandbox": "yes"}
    plan_of = {a1["key_id"]: "pro", a2["key_id"]: "pro", b1["key_id"]: "pro", eur["key_id"]: "license_pro",
               sandbox["key_id"]: "pro"}
    workload = []
    for n, key in enumerate([a1, a2, b1, eur, sandbox]):
        for i, (content, stream) in enumerate([("hello", False), ("tell me more", True), ("fail please", False),
                                               ("break the stream", True), ("a longer question here", False),
                                               ("fail on stream", True), ("short", True)]):
            if key is sandbox and ("fail" in content or "break" in content):
                continue  # the sandbox never goes upstream
            workload.append((key, MODELS[(n + i) % 2], f"{content} {n}", stream))
        for surface in SURFACES:
            workload.append((key, surface, f"{surface} question {n}", False))

    sent: list[Sent] = []
    ids: dict[str, Sent] = {}
    stop = threading.Event()
    job_errors: list[BaseException] = []

    go = threading.Semaphore(0)

    def trigger() -> None:  # rollup runs concurrently with the traffic and with each other, started by the workload
        while True:
            go.acquire()
            if stop.is_set():
                return
            try:
                RollupJob(max_records=7, part_size=13).run()
            except BaseException as exc:
                job_errors.append(exc)
                return

    triggers = [threading.Thread(target=trigger) for _ in range(2)]
    for t in triggers:
        t.start()
    try:
        with httpx.Client(base_url=stack["base"], timeout=30) as http:
            for n, (key, model, content, stream) in enumerate(workload):
                if model in SURFACES:
                    record, request_id = _send_surface(http, key, model, content)
                else:
                    record, request_id = _send(http, key, model, content, stream)
                sent.append(record)
                ids[request_id] = record
                if n % 6 == 5:
                    go.release(2)  # both runs start at once, mid-traffic
            # an admin refund of half of one paid JSON answer: a correction record, through the same pipeline
            paid_id, paid = next((i, s) for i, s in ids.items() if s.cost > 0 and s.currency == "usd")
            refund = http.post("/admin/usage/corrections",
                               headers={"Authorization": f"Bearer {keys['admin']['key']}"},
                               json={"user_id": paid.user, "request_id": paid_id, "kind": "refund",
                                     "amount": str(paid.cost / 2), "reason": "ground truth"})
            assert refund.status_code == 200, refund.text
            sent.append(Sent(paid.user, paid.key_id, paid.currency, paid.model, paid.provider, 0,
                             Decimal(str(refund.json()["cost_change"])), False, kind="correction"))
    finally:
        stop.set()
        go.release(len(triggers))
        for t in triggers:
            t.join()
    assert not job_errors, job_errors
    _roll_up_until_caught_up()

    with httpx.Client(base_url=stack["base"], timeout=30) as http:
        _compare(http, sent, keys, [a1, a2, b1, eur, sandbox], plan_of)


def _money(figures: dict[str, Any]) -> dict[str, Decimal]:
    return {c: Decimal(str(v)) for c, v in figures.items() if Decimal(str(v)) != 0}


def _expected_money(records: list[Sent]) -> dict[str, Decimal]:
    out: dict[str, Decimal] = defaultdict(Decimal)
    for r in records:
        out[r.currency] += r.cost
    return {c: v for c, v in out.items() if v != 0}


def _compare(http: httpx.Client, sent: list[Sent], keys: dict[str, Any], all_keys: list[dict[str, str]],
             plan_of: dict[str, str]) -> None:
    admin = {"Authorization": f"Bearer {keys['admin']['key']}"}
    requests = [s for s in sent if s.kind == "request"]
    assert len(requests) >= 30 and {s.currency for s in requests} == {"usd", "eur"}

    # the transaction analytics, unfiltered: every record, money per currency
    a = http.get("/admin/transaction-analytics", headers=admin).json()["analytics"]
    assert a["total_transactions"] == len(requests)
    assert a["total_credits_used"] == sum(s.tokens for s in sent)
    assert a["sandbox_transactions"] == sum(s.sandbox for s in requests) and a["corrections"] == 1
    assert {c: f["transactions"] for c, f in a["by_currency"].items()} == {
        c: sum(1 for s in requests if s.currency == c) for c in ("usd", "eur")}
    assert _money({c: f["revenue"] for c, f in a["by_currency"].items()}) == _expected_money(sent)
    for dimension, value_of in (("by_model", lambda s: s.model), ("by_provider", lambda s: s.provider),
                                ("by_user_tier", lambda s: plan_of[s.key_id])):
        counts: dict[str, int] = defaultdict(int)
        for s in requests:
            counts[value_of(s)] += 1
        assert {k: v["count"] for k, v in a[dimension].items()} == dict(counts), dimension
        for name, row in a[dimension].items():
            assert _money({c: f["revenue"] for c, f in row["by_currency"].items()}) == _expected_money(
                [s for s in sent if value_of(s) == name]), (dimension, name)

    # filtered by each user, model and provider: the same records
    for field, values in (("user_id", {s.user for s in sent}), ("model", {s.model for s in sent}),
                          ("provider", {s.provider for s in sent})):
        for value in values:
            mine = [s for s in sent if {"user_id": s.user, "model": s.model, "provider": s.provider}[field] == value]
            f = http.get("/admin/transaction-analytics", params={field: value}, headers=admin).json()["analytics"]
            assert f["total_transactions"] == sum(s.kind == "request" for s in mine), (field, value)
            assert _money({c: x["revenue"] for c, x in f["by_currency"].items()}) == _expected_money(mine), (field, value)

    # each user's activity stats and history
    for user in {s.user for s in sent}:
        mine = [s for s in sent if s.user == user]
        key = next(k for k in all_keys if k["user_id"] == user and k.get("sandbox") != "yes")
        headers = {"Authorization": f"Bearer {key['key']}"}
        stats = http.get("/activity/stats", headers=headers).json()["statistics"]
        assert stats["total_requests"] == sum(s.kind == "request" for s in mine), user
        assert stats["total_tokens"] == sum(s.tokens for s in mine), user
        assert _money(stats["cost_by_currency"]) == _expected_money(mine), user
        history = http.get("/activity/history", params={"event_type": "api_call"}, headers=headers).json()
        assert history["total"] == len(mine), user

    # each key's usage history (rollups), and its account's current usage (the account item's counters, which every
    # key of the account shares)
    for key in all_keys:
        mine = [s for s in sent if s.key_id == key["key_id"]]
        account = [s for s in sent if s.user == key["user_id"]]
        headers = {"Authorization": f"Bearer {key['key']}"}
        summary = http.get("/api/usage/history", params={"days": 1}, headers=headers).json()["summary"]
        assert summary["total_requests"] == sum(s.kind == "request" for s in mine), key["key_id"]
        assert summary["total_tokens"] == sum(s.tokens for s in mine), key["key_id"]
        assert Decimal(str(summary["total_cost"])) == sum((s.cost for s in mine), Decimal("0")), key["key_id"]
        assert summary["rollup_lag_seconds"] is not None
        month = http.get("/api/usage/current", headers=headers).json()["current_usage"]["current_month"]
        assert month["requests"] == sum(s.kind == "request" for s in account), key["key_id"]
        assert month["tokens"] == sum(s.tokens for s in account), key["key_id"]
        assert Decimal(str(month["cost"])) == sum((s.cost for s in account), Decimal("0")), key["key_id"]

    # the public ranking (sandbox tokens left out) and the monitor
    ranking = {m["model_id"]: m["token_count"] for m in http.get("/ranking/models").json()["data"]}
    expected: dict[str, int] = defaultdict(int)
    for s in sent:
        if not s.sandbox and s.tokens:
            expected[s.model] += s.tokens
    assert ranking == dict(expected)
    monitor = http.get("/admin/monitor", headers=admin).json()
    assert monitor["system"]["total_requests"] == len(requests)
    assert monitor["system"]["active_users"] == len({s.user for s in sent})
    assert monitor["rollups"]["lag_seconds"] == 0.0
    assert utcnow()  # the gateway clock ran throughout (no frozen time in this test)
