"""Provider adapters against the real wire formats (respx): JSON and SSE for OpenAI-compatible and Anthropic APIs,
provider errors, retry after a 503, fallback from a dead route, a stream cut mid-way (error event, partial bill)."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

import httpx
import respx

from gateway_common import db, metering, users
from gateway_common.usage import recent_for_user
from tests.helpers import assert_error, bearer

from .wire import (
    anthropic_message,
    anthropic_sse,
    anthropic_tool_message,
    anthropic_tool_sse,
    openai_completion,
    openai_sse,
    sse_events,
)

OPENAI = "https://api.openai.com/v1/chat/completions"
OPENROUTER = "https://openrouter.ai/api/v1/chat/completions"
ANTHROPIC = "https://api.anthropic.com/v1/messages"
MINI_PROMPT = Decimal("0.00000015")
MINI_COMPLETION = Decimal("0.0000006")


def chat(client, key, **body):
    payload = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "Say hello"}], **body}
    return client.post("/v1/chat/completions", headers=bearer(key), json=payload)


def only_usage(user_id):
    records = recent_for_user(user_id)
    assert len(records) == 1, records
    return records[0]


@respx.mock
def test_openai_json_is_relayed_metered_and_charged_exactly(client, payer, providers):
    route = respx.post(OPENAI).mock(return_value=httpx.Response(200, json=openai_completion(prompt=12, completion=9)))
    response_format = {"type": "json_schema", "json_schema": {"name": "a", "strict": True, "schema": {"type": "object"}}}
    response = chat(client, payer["key"], max_tokens=50, temperature=0.2, response_format=response_format)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == "openai/gpt-4o-mini"
    assert body["choices"][0]["message"]["content"] == "Hello! How can I help you today?"
    assert body["usage"]["prompt_tokens"] == 12 and body["usage"]["total_tokens"] == 21
    assert response.headers["x-gateway-provider"] == "openai"
    sent = json.loads(route.calls.last.request.content)
    assert sent["model"] == "gpt-4o-mini" and sent["max_tokens"] == 50 and sent["temperature"] == 0.2
    assert sent["response_format"] == response_format  # OpenAI takes json_schema itself: it goes through as sent
    assert route.calls.last.request.headers["authorization"] == "Bearer sk-test-openai"

    cost = 12 * MINI_PROMPT + 9 * MINI_COMPLETION
    user = users.get_user(payer["user_id"])
    assert user.available == Decimal("10.00") - cost and user.reserved == 0
    record = only_usage(payer["user_id"])
    assert record["cost"] == cost and record["provider"] == "openai" and record["route"] == "openai:gpt-4o-mini"
    assert record["prompt_tokens"] == 12 and record["completion_tokens"] == 9 and record["estimated"] is False
    assert record["status"] == "success" and record["key_id"] == payer["key_id"]


@respx.mock
def test_openrouter_reported_cost_is_stored_beside_ours(client, payer, monkeypatch):
    monkeypatch.setenv("OPENROUTER_API_KEY", "sk-or-test")  # only OpenRouter configured: the model's second route
    route = respx.post(OPENROUTER).mock(return_value=httpx.Response(200, json=openai_completion(cost=0.0000072)))
    assert chat(client, payer["key"]).status_code == 200
    sent = json.loads(route.calls.last.request.content)
    assert sent["model"] == "openai/gpt-4o-mini" and sent["usage"] == {"include": True}
    assert route.calls.last.request.headers["x-title"] == "AI Gateway"
    record = only_usage(payer["user_id"])
    assert record["provider"] == "openrouter" and record["provider_cost"] == Decimal("0.0000072")
    assert record["cost"] == 12 * MINI_PROMPT + 9 * MINI_COMPLETION


@respx.mock
def test_openai_sse_is_relayed_with_usage_in_the_last_chunk(client, payer, providers):
    respx.post(OPENAI).mock(return_value=httpx.Response(200, content=openai_sse(["Hel", "lo", "!"], prompt=10, completion=3),
                                                        headers={"content-type": "text/event-stream"}))
    response = chat(client, payer["key"], stream=True, stream_options={"include_usage": True})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
    events = sse_events(response.text)
    assert events[-1] == "[DONE]"
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in events[:-1] if c["choices"])
    assert text == "Hello!"
    usage = events[-2]["usage"]
    assert events[-2]["choices"] == []
    assert (usage["prompt_tokens"], usage["completion_tokens"], usage["total_tokens"]) == (10, 3, 13)
    assert Decimal(str(usage["cost"])) == 10 * MINI_PROMPT + 3 * MINI_COMPLETION  # the charge, on the stream itself
    assert all(e["model"] == "openai/gpt-4o-mini" for e in events[:-1])
    record = only_usage(payer["user_id"])
    assert record["stream"] is True and record["completion_tokens"] == 3 and record["estimated"] is False
    assert record["cost"] == 10 * MINI_PROMPT + 3 * MINI_COMPLETION


@respx.mock
def test_stream_without_include_usage_sends_no_usage_chunk_but_still_meters(client, payer, providers):
    route = respx.post(OPENAI).mock(return_value=httpx.Response(200, content=openai_sse(["Hi"], prompt=10, completion=1)))
    events = sse_events(chat(client, payer["key"], stream=True).text)
    assert all(e == "[DONE]" or e["choices"] for e in events)
    assert json.loads(route.calls.last.request.content)["stream_options"] == {"include_usage": True}  # we always ask
    assert only_usage(payer["user_id"])["total_tokens"] == 11


@respx.mock
def test_anthropic_json_both_directions(client, payer, providers):
    route = respx.post(ANTHROPIC).mock(return_value=httpx.Response(200, json=anthropic_message(input_tokens=14, output_tokens=8)))
    response = client.post("/v1/chat/completions", headers=bearer(payer["key"]), json={
        "model": "anthropic/claude-3.5-haiku", "max_tokens": 200, "stop": "END",
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello"}],
    })
    assert response.status_code == 200, response.text
    sent = json.loads(route.calls.last.request.content)
    assert sent["model"] == "claude-3-5-haiku-20241022" and sent["system"] == "Be brief."
    assert sent["messages"] == [{"role": "user", "content": "Hello"}] and sent["max_tokens"] == 200
    assert sent["stop_sequences"] == ["END"]
    headers = route.calls.last.request.headers
    assert headers["x-api-key"] == "sk-ant-test" and headers["anthropic-version"] == "2023-06-01"
    body = response.json()
    assert body["object"] == "chat.completion" and body["choices"][0]["message"]["content"] == "Hi! I'm Claude."
    assert body["choices"][0]["finish_reason"] == "stop" and body["usage"]["total_tokens"] == 22
    assert response.headers["x-gateway-provider"] == "anthropic"
    assert only_usage(payer["user_id"])["cost"] == 14 * Decimal("0.0000008") + 8 * Decimal("0.000004")


@respx.mock
def test_anthropic_sse_events_become_openai_chunks(client, payer, providers):
    respx.post(ANTHROPIC).mock(return_value=httpx.Response(200, content=anthropic_sse(["Hello", " there"], 25, 15)))
    response = client.post("/v1/chat/completions", headers=bearer(payer["key"]), json={
        "model": "anthropic/claude-3.5-haiku", "stream": True, "stream_options": {"include_usage": True},
        "messages": [{"role": "user", "content": "Hi"}],
    })
    events = sse_events(response.text)
    assert events[-1] == "[DONE]"
    chunks = [e for e in events[:-1] if e["choices"]]
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == "Hello there"
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert {k: events[-2]["usage"][k] for k in ("prompt_tokens", "completion_tokens", "total_tokens")} == {
        "prompt_tokens": 25, "completion_tokens": 15, "total_tokens": 40}
    assert only_usage(payer["user_id"])["cost"] == 25 * Decimal("0.0000008") + 15 * Decimal("0.000004")


@respx.mock
def test_provider_400_is_a_clean_400_and_not_charged(client, payer, providers):
    respx.post(OPENAI).mock(return_value=httpx.Response(400, json={"error": {
        "message": "Invalid 'messages[0].content': string too long.", "type": "invalid_request_error", "code": None}}))
    response = chat(client, payer["key"])
    assert_error(response, 400, "openai", "string too long")
    assert users.get_user(payer["user_id"]).available == Decimal("10.00")
    record = only_usage(payer["user_id"])
    assert record["status"] == "error" and record["cost"] == 0


@respx.mock
def test_a_503_is_retried_then_succeeds_on_the_same_route(client, payer, providers):
    route = respx.post(OPENAI).mock(side_effect=[
        httpx.Response(503, json={"error": {"message": "The server is overloaded"}}),
        httpx.Response(200, json=openai_completion()),
    ])
    response = chat(client, payer["key"])
    assert response.status_code == 200 and route.call_count == 2
    assert response.headers["x-gateway-provider"] == "openai"
    assert only_usage(payer["user_id"])["status"] == "success"


@respx.mock
def test_a_dead_route_falls_back_to_the_next_one(client, payer, providers):
    dead = respx.post(OPENAI).mock(side_effect=httpx.ConnectError("connection refused"))
    live = respx.post(OPENROUTER).mock(return_value=httpx.Response(200, json=openai_completion(text="from openrouter")))
    response = chat(client, payer["key"])
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == "from openrouter"
    assert response.headers["x-gateway-provider"] == "openrouter"
    assert dead.call_count == 2 and live.call_count == 1  # one retry on the dead route, then fallback
    assert only_usage(payer["user_id"])["route"] == "openrouter:openai/gpt-4o-mini"


@respx.mock
def test_every_route_failing_is_a_502_naming_them_and_nothing_is_charged(client, payer, providers):
    respx.post(OPENAI).mock(return_value=httpx.Response(500, json={"error": {"message": "boom"}}))
    respx.post(OPENROUTER).mock(return_value=httpx.Response(429, json={"error": {"message": "Rate limit exceeded"}}))
    response = chat(client, payer["key"])
    body = assert_error(response, 502, "openai/gpt-4o-mini", "openai (HTTP 500)", "openrouter (HTTP 429)")
    assert body["error"]["code"] == "upstream_error"
    user = users.get_user(payer["user_id"])
    assert user.available == Decimal("10.00") and user.reserved == 0
    assert only_usage(payer["user_id"])["cost"] == 0


@respx.mock
def test_stream_cut_midway_sends_an_error_event_and_bills_what_was_produced(client, payer, providers):
    respx.post(OPENAI).mock(return_value=httpx.Response(200, content=openai_sse(["Once upon ", "a time"], done=False)))
    response = chat(client, payer["key"], stream=True)
    events = sse_events(response.text)
    assert "[DONE]" not in events
    assert events[-1]["error"]["code"] == "upstream_stream_broken" and "broke" in events[-1]["error"]["message"]
    assert "".join(e["choices"][0]["delta"].get("content", "") for e in events[:-1]) == "Once upon a time"
    record = only_usage(payer["user_id"])
    assert record["status"] == "partial" and record["estimated"] is True
    assert record["completion_tokens"] == 4  # "Once upon a time": 16 characters, about 4 tokens
    assert record["cost"] > 0
    user = users.get_user(payer["user_id"])
    assert user.reserved == 0 and user.available == Decimal("10.00") - record["cost"]


@respx.mock
def test_a_provider_echoing_our_key_in_its_error_never_shows_it_to_the_client(client, payer, providers):
    respx.post(OPENAI).mock(return_value=httpx.Response(401, json={"error": {"message": "Invalid key sk-test-openai"}}))
    respx.post(OPENROUTER).mock(return_value=httpx.Response(403, text="key sk-or-test is disabled"))
    response = chat(client, payer["key"])
    assert_error(response, 502, "Invalid key [provider key]", "key [provider key] is disabled")
    assert "sk-test-openai" not in response.text and "sk-or-test" not in response.text


@respx.mock
def test_upstream_error_before_the_first_chunk_is_a_plain_http_error(client, payer, providers):
    respx.post(OPENAI).mock(return_value=httpx.Response(401, json={"error": {"message": "Incorrect API key provided"}}))
    respx.post(OPENROUTER).mock(return_value=httpx.Response(401, json={"error": {"message": "No auth credentials found"}}))
    response = chat(client, payer["key"], stream=True)
    assert_error(response, 502, "Incorrect API key provided")
    assert metering.open_holds(payer["user_id"]) == {}  # the hold was released at once


@respx.mock
def test_every_route_rate_limited_upstream_is_a_429_with_retry_after_and_nothing_is_charged(client, payer, providers):
    openai_429 = respx.post(OPENAI).mock(return_value=httpx.Response(
        429, json={"error": {"message": "Rate limit reached for gpt-4o-mini"}}, headers={"retry-after-ms": "1500"}))
    openrouter_429 = respx.post(OPENROUTER).mock(return_value=httpx.Response(
        429, json={"error": {"message": "Rate limit exceeded"}}, headers={"Retry-After": "7"}))
    for done, stream in enumerate((False, True), start=1):
        response = chat(client, payer["key"], stream=stream)
        body = assert_error(response, 429, "rate-limited by its upstream providers", "not by your plan",
                            "openai (HTTP 429)", "openrouter (HTTP 429)")
        assert body["error"] == {**body["error"], "type": "rate_limit_error", "code": "upstream_rate_limited"}
        assert response.headers["retry-after"] == "2"  # the soonest: OpenAI's 1.5 s, rounded up
        # our own plan headers are still there, and each admitted request counted once
        assert int(response.headers["x-ratelimit-limit"]) - int(response.headers["x-ratelimit-remaining"]) == done
    # each provider asked for a longer wait than our backoff: no retry on the same route, straight to the next one
    assert openai_429.call_count == 2 and openrouter_429.call_count == 2
    user = users.get_user(payer["user_id"])
    assert user.available == Decimal("10.00") and user.reserved == 0
    records = recent_for_user(payer["user_id"])
    assert len(records) == 2 and all(r["cost"] == 0 and r["http_status"] == 429 and r["status"] == "error" for r in records)


@respx.mock
def test_upstream_429_without_retry_after_gets_the_default_and_a_mix_with_5xx_stays_502(client, payer, providers):
    from gateway_common.providers.routing import DEFAULT_RETRY_AFTER

    openai_route = respx.post(OPENAI).mock(return_value=httpx.Response(429, json={"error": {"message": "slow down"}}))
    openrouter = respx.post(OPENROUTER).mock(return_value=httpx.Response(429, text="Too Many Requests"))
    limited = chat(client, payer["key"])
    assert_error(limited, 429, "slow down", "Too Many Requests")
    assert limited.headers["retry-after"] == str(DEFAULT_RETRY_AFTER)
    assert openai_route.call_count == 2 and openrouter.call_count == 2  # no wait asked: one retry per route after backoff
    openrouter.mock(return_value=httpx.Response(503, text="upstream overloaded"))
    assert_error(chat(client, payer["key"]), 502, "openai (HTTP 429)", "openrouter (HTTP 503)")


def test_retry_after_header_forms():
    from datetime import UTC, datetime, timedelta
    from email.utils import format_datetime

    from gateway_common.providers.base import retry_after_seconds

    assert retry_after_seconds(httpx.Headers({"retry-after": "12"})) == 12
    assert retry_after_seconds(httpx.Headers({"retry-after-ms": "250", "retry-after": "9"})) == 0.25
    date = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 25 <= retry_after_seconds(httpx.Headers({"retry-after": date})) <= 31
    assert retry_after_seconds(httpx.Headers({"retry-after": "soon"})) is None
    assert retry_after_seconds(httpx.Headers({})) is None


@respx.mock
def test_anthropic_error_event_mid_stream_ends_with_an_error_event_and_bills_its_prompt_count(client, payer, providers):
    cut = anthropic_sse(["Once upon ", "a time"], input_tokens=25, complete=False)
    cut += b'event: error\ndata: {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}\n\n'
    respx.post(ANTHROPIC).mock(return_value=httpx.Response(200, content=cut))
    response = client.post("/v1/chat/completions", headers=bearer(payer["key"]), json={
        "model": "anthropic/claude-3.5-haiku", "stream": True, "messages": [{"role": "user", "content": "Tell a story"}]})
    events = sse_events(response.text)
    assert "[DONE]" not in events
    assert events[-1]["error"]["code"] == "upstream_stream_broken" and "Overloaded" in events[-1]["error"]["message"]
    assert "".join(e["choices"][0]["delta"].get("content", "") for e in events[:-1]) == "Once upon a time"
    record = only_usage(payer["user_id"])
    assert record["status"] == "partial" and record["estimated"] is True and record["http_status"] == 502
    assert record["prompt_tokens"] == 25 and record["completion_tokens"] == 4  # Anthropic's count; 16 chars ~ 4 tokens
    assert record["cost"] == 25 * Decimal("0.0000008") + 4 * Decimal("0.000004")
    user = users.get_user(payer["user_id"])
    assert user.reserved == 0 and user.available == Decimal("10.00") - record["cost"]


@respx.mock
def test_slow_routes_stop_at_the_request_time_budget_with_a_clean_502(client, payer, providers, monkeypatch):
    from gateway_common.providers import routing

    clock = {"now": 1000.0}
    monkeypatch.setattr(routing, "_clock", lambda: clock["now"])

    def slow(_request):  # each attempt "takes" 130 s and times out
        clock["now"] += 130
        raise httpx.ReadTimeout("read timed out")

    openai_route = respx.post(OPENAI).mock(side_effect=slow)
    openrouter = respx.post(OPENROUTER).mock(return_value=httpx.Response(200, json=openai_completion()))
    response = chat(client, payer["key"])
    assert_error(response, 502, "openai (no response): timed out", "240 s upstream time budget was spent")
    assert openai_route.call_count == 2 and openrouter.call_count == 0  # 260 s spent: no third attempt starts
    user = users.get_user(payer["user_id"])
    assert user.available == Decimal("10.00") and user.reserved == 0


@respx.mock
def test_an_attempt_gets_only_what_is_left_of_the_budget(client, payer, providers, monkeypatch):
    from gateway_common.providers import routing

    monkeypatch.setattr(routing, "UPSTREAM_BUDGET_SECONDS", 0.05)

    async def hang(_request):
        await asyncio.Event().wait()  # never answers: only the budget can end it

    respx.post(OPENAI).mock(side_effect=hang)
    respx.post(OPENROUTER).mock(side_effect=hang)
    assert_error(chat(client, payer["key"]), 502, "budget ran out", "budget was spent")


@respx.mock
def test_in_aws_only_the_route_tried_reads_its_key_and_an_unreadable_key_falls_back(client, payer, monkeypatch):
    from gateway_common.providers import config

    monkeypatch.setenv("GATEWAY_ENV", "aws")
    monkeypatch.setenv("OPENAI_API_KEY_PARAM", "/ai-gateway/providers/openai")
    monkeypatch.setenv("OPENROUTER_API_KEY_PARAM", "/ai-gateway/providers/openrouter")
    db.get_settings.cache_clear()
    fetched: list[str] = []
    store = {"OPENAI_API_KEY": "sk-from-ssm", "OPENROUTER_API_KEY": "sk-or-from-ssm"}

    def get_secret(name):
        fetched.append(name)
        if store.get(name) == "broken":
            raise RuntimeError("AccessDenied on the parameter")
        return store.get(name)

    monkeypatch.setattr(config, "get_secret", get_secret)
    openai_route = respx.post(OPENAI).mock(return_value=httpx.Response(200, json=openai_completion()))
    openrouter = respx.post(OPENROUTER).mock(return_value=httpx.Response(200, json=openai_completion(text="via openrouter")))
    try:
        assert chat(client, payer["key"]).headers["x-gateway-provider"] == "openai"
        assert fetched == ["OPENAI_API_KEY"]  # the fallback route's key was never fetched
        assert openai_route.calls.last.request.headers["authorization"] == "Bearer sk-from-ssm"

        store["OPENAI_API_KEY"] = "broken"
        fallback = chat(client, payer["key"])
        assert fallback.status_code == 200 and fallback.json()["choices"][0]["message"]["content"] == "via openrouter"
        assert openai_route.call_count == 1 and openrouter.calls.last.request.headers["authorization"] == "Bearer sk-or-from-ssm"

        store["OPENROUTER_API_KEY"] = "broken"
        assert_error(chat(client, payer["key"]), 502, "openai (no response): its key (OPENAI_API_KEY) could not be read",
                     "openrouter (no response): its key (OPENROUTER_API_KEY) could not be read")
    finally:
        db.get_settings.cache_clear()


@respx.mock
def test_images_reach_anthropic_as_image_blocks_and_the_reservation_counts_them(client, payer, providers, monkeypatch):
    from gateway_common import admission
    from gateway_common.providers.base import MEDIA_PART_TOKENS

    held: list[Decimal] = []
    admit = admission.admit
    monkeypatch.setattr(admission, "admit", lambda caller, res, **kw: (held.append(res.amount), admit(caller, res, **kw))[1])
    route = respx.post(ANTHROPIC).mock(return_value=httpx.Response(200, json=anthropic_message(input_tokens=1300)))
    schema = {"type": "json_schema", "json_schema": {"name": "answer", "schema": {"description": "d" * 300}}}
    response = client.post("/v1/chat/completions", headers=bearer(payer["key"]), json={
        "model": "anthropic/claude-3.5-haiku", "max_tokens": 100, "response_format": schema, "messages": [
            {"role": "user", "content": [
                {"type": "text", "text": "What is in these?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg", "detail": "high"}}]},
            {"role": "user", "content": "Be brief."}]})
    assert response.status_code == 200, response.text
    sent = json.loads(route.calls.last.request.content)
    assert sent["messages"] == [{"role": "user", "content": [
        {"type": "text", "text": "What is in these?"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
        {"type": "text", "text": "Be brief."}]}]
    # the hold covered the two images and the response schema, so the real 1300 prompt tokens fit inside it
    prompt_estimate = (held[0] - 100 * Decimal("0.000004")) / Decimal("0.0000008")
    assert prompt_estimate >= 2 * MEDIA_PART_TOKENS + len(json.dumps(schema)) // 3 > 1300
    assert only_usage(payer["user_id"])["prompt_tokens"] == 1300


@respx.mock
def test_responses_input_images_reach_the_provider(client, payer, providers):
    route = respx.post(OPENAI).mock(return_value=httpx.Response(200, json=openai_completion(text="A cat.")))
    response = client.post("/v1/responses", headers=bearer(payer["key"]), json={"model": "openai/gpt-4o-mini", "input": [
        {"role": "user", "content": [{"type": "input_text", "text": "What is this?"},
                                     {"type": "input_image", "image_url": "https://example.com/cat.jpg"}]}]})
    assert response.status_code == 200 and response.json()["output_text"] == "A cat."
    assert json.loads(route.calls.last.request.content)["messages"] == [{"role": "user", "content": [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg", "detail": "auto"}}]}]


WEATHER = {"type": "function", "function": {"name": "get_weather", "description": "Weather of a city",
                                            "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                                           "required": ["city"]}}}


@respx.mock
def test_anthropic_tools_translated_both_ways(client, payer, providers):
    """tools/tool_choice/tool calls/tool results reach Claude as tools/tool_use/tool_result; tool_use comes back as
    OpenAI tool_calls with JSON arguments."""
    route = respx.post(ANTHROPIC).mock(return_value=httpx.Response(200, json=anthropic_tool_message()))
    response = client.post("/v1/chat/completions", headers=bearer(payer["key"]), json={
        "model": "anthropic/claude-3.5-haiku", "tools": [WEATHER], "tool_choice": "required", "parallel_tool_calls": False,
        "messages": [
            {"role": "user", "content": "Weather in Paris, then Rome?"},
            {"role": "assistant", "content": "Checking Paris.", "tool_calls": [
                {"id": "toolu_prev", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]},
            {"role": "tool", "tool_call_id": "toolu_prev", "content": "18C, sunny"},
        ]})
    assert response.status_code == 200, response.text
    sent = json.loads(route.calls.last.request.content)
    assert sent["tools"] == [{"name": "get_weather", "description": "Weather of a city",
                              "input_schema": WEATHER["function"]["parameters"]}]
    assert sent["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}
    assert sent["messages"][1] == {"role": "assistant", "content": [
        {"type": "text", "text": "Checking Paris."},
        {"type": "tool_use", "id": "toolu_prev", "name": "get_weather", "input": {"city": "Paris"}}]}
    assert sent["messages"][2] == {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "toolu_prev", "content": "18C, sunny"}]}
    choice = response.json()["choices"][0]
    assert choice["finish_reason"] == "tool_calls" and choice["message"]["content"] is None
    assert choice["message"]["tool_calls"] == [{"id": "toolu_01A09q90qw90lq917835lq9", "type": "function",
                                                "function": {"name": "get_weather", "arguments": '{"city": "Rome"}'}}]


@respx.mock
def test_anthropic_streamed_tool_call_arguments_become_openai_deltas(client, payer, providers):
    respx.post(ANTHROPIC).mock(return_value=httpx.Response(200, content=anthropic_tool_sse(['{"ci', 'ty": "Ro', 'me"}'])))
    response = client.post("/v1/chat/completions", headers=bearer(payer["key"]), json={
        "model": "anthropic/claude-3.5-haiku", "tools": [WEATHER], "stream": True,
        "messages": [{"role": "user", "content": "Weather in Rome?"}]})
    chunks = [e for e in sse_events(response.text) if e != "[DONE]"]
    calls = [c["choices"][0]["delta"]["tool_calls"][0] for c in chunks if c["choices"][0]["delta"].get("tool_calls")]
    assert calls[0] == {"index": 0, "id": "toolu_stream", "type": "function", "function": {"name": "get_weather", "arguments": ""}}
    assert [c["function"]["arguments"] for c in calls[1:]] == ['{"ci', 'ty": "Ro', 'me"}']
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks) == "Let me check."
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


@respx.mock
def test_anthropic_json_schema_rides_on_a_forced_tool(client, payer, providers):
    schema = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}
    message = anthropic_tool_message(name="json_response", arguments={"answer": "42"})
    route = respx.post(ANTHROPIC).mock(return_value=httpx.Response(200, json=message))
    response = client.post("/v1/chat/completions", headers=bearer(payer["key"]), json={
        "model": "anthropic/claude-3.5-haiku", "messages": [{"role": "user", "content": "Answer?"}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "a", "schema": schema}}})
    sent = json.loads(route.calls.last.request.content)
    assert sent["tool_choice"] == {"type": "tool", "name": "json_response"} and sent["tools"][0]["input_schema"] == schema
    choice = response.json()["choices"][0]
    assert json.loads(choice["message"]["content"]) == {"answer": "42"} and choice["finish_reason"] == "stop"
    assert "tool_calls" not in choice["message"]


@respx.mock
def test_anthropic_cache_tokens_are_priced_at_cache_prices(client, payer, providers):
    """input 100 fresh + 1000 read from the cache + 200 written: priced 0.8/M, 0.08/M and 1/M (claude-3.5-haiku)."""
    message = anthropic_message(input_tokens=100, output_tokens=10)
    message["usage"].update({"cache_read_input_tokens": 1000, "cache_creation_input_tokens": 200})
    respx.post(ANTHROPIC).mock(return_value=httpx.Response(200, json=message))
    response = client.post("/v1/chat/completions", headers=bearer(payer["key"]), json={
        "model": "anthropic/claude-3.5-haiku", "messages": [{"role": "user", "content": "hi"}]})
    usage = response.json()["usage"]
    assert usage["prompt_tokens"] == 1300
    assert usage["prompt_tokens_details"] == {"cached_tokens": 1000, "cache_write_tokens": 200}
    expected = (100 * Decimal("0.0000008") + 1000 * Decimal("0.00000008") + 200 * Decimal("0.000001")
                + 10 * Decimal("0.000004"))
    assert only_usage(payer["user_id"])["cost"] == expected
    assert response.headers["x-gateway-cost"] == f"{expected} USD"


@respx.mock
def test_openai_cached_tokens_are_priced_at_the_cache_price(client, payer, providers):
    body = openai_completion(prompt=2000, completion=10)
    body["usage"]["prompt_tokens_details"]["cached_tokens"] = 1536
    respx.post(OPENAI).mock(return_value=httpx.Response(200, json=body))
    assert chat(client, payer["key"]).json()["usage"]["prompt_tokens_details"]["cached_tokens"] == 1536
    expected = 464 * MINI_PROMPT + 1536 * Decimal("0.000000075") + 10 * MINI_COMPLETION
    assert only_usage(payer["user_id"])["cost"] == expected


def test_n_above_one_moves_past_anthropic(client, payer, providers):
    with respx.mock:
        anthropic_route = respx.post(ANTHROPIC).mock(return_value=httpx.Response(200, json=anthropic_message()))
        openrouter = respx.post(OPENROUTER).mock(return_value=httpx.Response(200, json=openai_completion()))
        response = client.post("/v1/chat/completions", headers=bearer(payer["key"]), json={
            "model": "anthropic/claude-3.5-haiku", "n": 2, "messages": [{"role": "user", "content": "hi"}]})
    assert response.status_code == 200 and response.headers["x-gateway-provider"] == "openrouter"
    assert anthropic_route.call_count == 0 and json.loads(openrouter.calls.last.request.content)["n"] == 2


def test_the_openai_adapter_sends_exactly_one_output_cap():
    from gateway_common.providers import openai_compat
    from gateway_common.providers.config import PROVIDERS

    request = {"model": "x", "messages": [], "max_tokens": 100, "max_completion_tokens": 100}
    chat_model = openai_compat._body(PROVIDERS["openai"], "gpt-4o-mini", request, False)
    assert chat_model["max_tokens"] == 100 and "max_completion_tokens" not in chat_model
    reasoning = openai_compat._body(PROVIDERS["openai"], "o3-mini", request, False)
    assert reasoning["max_completion_tokens"] == 100 and "max_tokens" not in reasoning
    elsewhere = openai_compat._body(PROVIDERS["openrouter"], "openai/o3-mini", request, True)
    assert elsewhere["max_tokens"] == 100 and "max_completion_tokens" not in elsewhere


@respx.mock
def test_gpt_image_models_get_no_response_format_upstream(client, payer, providers):
    route = respx.post("https://api.openai.com/v1/images/generations").mock(return_value=httpx.Response(200, json={
        "created": 1713833628, "data": [{"b64_json": "iVBORw0KGgo="}],
        "usage": {"total_tokens": 100, "input_tokens": 50, "output_tokens": 50}}))
    response = client.post("/v1/images/generations", headers=bearer(payer["key"]), json={
        "model": "openai/gpt-image-1", "prompt": "a lighthouse", "response_format": "url", "background": "transparent",
        "output_format": "webp", "output_compression": 80, "moderation": "low", "quality": "high"})
    assert response.status_code == 200, response.text
    sent = json.loads(route.calls.last.request.content)
    assert "response_format" not in sent and sent["model"] == "gpt-image-1"
    assert (sent["background"], sent["output_format"], sent["output_compression"]) == ("transparent", "webp", 80)
    assert response.json()["data"][0]["b64_json"] == "iVBORw0KGgo="


@respx.mock
def test_a_streamed_image_request_is_one_plain_upstream_call_answered_as_openais_image_events(client, payer, providers):
    usage = {"total_tokens": 100, "input_tokens": 50, "output_tokens": 50,
             "input_tokens_details": {"text_tokens": 50, "image_tokens": 0}}
    route = respx.post("https://api.openai.com/v1/images/generations").mock(return_value=httpx.Response(200, json={
        "created": 1713833628, "data": [{"b64_json": "iVBORw0KGgo="}], "usage": usage}))
    response = client.post("/v1/images/generations", headers=bearer(payer["key"]), json={
        "model": "openai/gpt-image-1", "prompt": "a lighthouse", "stream": True, "partial_images": 2,
        "output_format": "webp", "size": "1536x1024"})
    assert response.headers["content-type"].startswith("text/event-stream") and response.headers["x-gateway-cost"]
    sent = json.loads(route.calls.last.request.content)
    assert "stream" not in sent and "partial_images" not in sent and sent["output_format"] == "webp"
    assert "event: image_generation.completed\n" in response.text
    assert sse_events(response.text) == [{
        "type": "image_generation.completed", "b64_json": "iVBORw0KGgo=", "created_at": 1713833628, "size": "1536x1024",
        "quality": "auto", "background": "auto", "output_format": "webp", "usage": usage}]
    assert only_usage(payer["user_id"])["cost"] > 0 and users.get_user(payer["user_id"]).reserved == 0
    dall_e = client.post("/v1/images/generations", headers=bearer(payer["key"]),
                         json={"model": "openai/dall-e-3", "prompt": "x", "stream": True})
    assert assert_error(dall_e, 400, "only GPT image models")["error"]["param"] == "stream"


@respx.mock
def test_files_claude_cannot_take_move_to_the_next_route_and_audio_too(client, payer, providers):
    claude = respx.post(ANTHROPIC).mock(return_value=httpx.Response(200, json=anthropic_message()))
    openrouter = respx.post(OPENROUTER).mock(return_value=httpx.Response(200, json=openai_completion(text="via openrouter")))
    for part in ({"type": "file", "file": {"file_data": "data:text/csv;base64,YSxiCg==", "filename": "a.csv"}},
                 {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}}):
        response = chat(client, payer["key"], model="anthropic/claude-3.5-haiku",
                        messages=[{"role": "user", "content": [{"type": "text", "text": "What is this?"}, part]}])
        assert response.status_code == 200, response.text
        assert response.headers["x-gateway-provider"] == "openrouter"
        assert json.loads(openrouter.calls.last.request.content)["messages"][0]["content"][1] == part
    assert not claude.called  # refused before any request: nothing sent without the part
