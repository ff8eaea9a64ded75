"""End to end: the official `openai` client against the gateway served by uvicorn on 127.0.0.1 (moto DynamoDB
server, demo data). Without provider credentials the local gateway answers through the sandbox model."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from gateway_common import apikeys, plans, timeutil, users
from gateway_common.models import RateLimitOverride
from tests.servers import demo_gateway, gateway_server


@pytest.fixture(scope="module")
def gateway() -> Iterator[dict[str, Any]]:
    with demo_gateway() as stack:
        yield stack


def client_for(gateway: dict[str, Any], key: str) -> openai.OpenAI:
    return openai.OpenAI(api_key=key, base_url=gateway["base"] + "/v1", max_retries=0, timeout=30)


@pytest.fixture(scope="module")
def live(gateway: dict[str, Any]) -> openai.OpenAI:
    return client_for(gateway, gateway["keys"]["live"]["key"])


def test_models_list(live):
    ids = [m.id for m in live.models.list()]
    assert "openai/gpt-4o-mini" in ids and "anthropic/claude-3.5-haiku" in ids


def test_chat_completion(live):
    raw = live.chat.completions.with_raw_response.create(
        model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "Hello gateway"}], max_tokens=20)
    assert raw.headers["x-gateway-provider"] == "sandbox"
    completion = raw.parse()
    assert completion.model == "openai/gpt-4o-mini"
    assert completion.choices[0].message.content.endswith("Hello gateway")
    assert completion.usage.completion_tokens == 5 and completion.usage.total_tokens > 5


def test_chat_completion_stream_has_usage_in_the_last_chunk(live):
    stream = live.chat.completions.create(
        model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "one two three four five"}],
        stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.endswith("one two three four five")
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 8  # "Sandbox reply <digest>:" + five words


def test_responses_create_sets_output_text(live):
    response = live.responses.create(model="openai/gpt-4o-mini", input="Write a haiku", instructions="Be brief",
                                     max_output_tokens=50)
    assert response.object == "response" and response.status == "completed"
    assert response.output_text.endswith("Write a haiku")
    assert response.output[0].type == "message" and response.usage.output_tokens > 0


def test_images_generate(live):
    result = live.images.generate(model="openai/dall-e-3", prompt="a lighthouse at dawn", n=1, size="1024x1024")
    url = result.data[0].url
    assert url.startswith("data:image/png;base64,")
    assert base64.b64decode(url.split(",", 1)[1]).startswith(b"\x89PNG\r\n\x1a\n")


def test_images_generate_stream(sandbox):
    events = list(sandbox.images.generate(model="openai/gpt-image-1", prompt="a lighthouse", stream=True,
                                          partial_images=2, output_format="png"))
    assert [e.type for e in events] == ["image_generation.completed"]
    assert base64.b64decode(events[0].b64_json).startswith(b"\x89PNG\r\n\x1a\n") and events[0].usage.input_tokens == 2


def test_bad_key_raises_authentication_error(gateway):
    with pytest.raises(openai.AuthenticationError) as info:
        client_for(gateway, "gw_live_" + "x" * 40).chat.completions.create(
            model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    assert "no such key" in str(info.value)


def test_exhausted_limit_raises_rate_limit_error(gateway):
    user = users.create_user(username="limited", email="limited@example.com", plan_id=plans.get_plan("pro").id)
    users.set_rate_limit_override(user.user_id, RateLimitOverride(requests_per_minute=1, reason="e2e"))
    key, _ = apikeys.create_gw_key(user_id=user.user_id, key_name="sandbox", environment="test")
    limited = client_for(gateway, key)
    # the server runs in this process: its clock stands mid-minute, so both requests fall in one minute window however
    # slow the machine (on the real clock the second one could cross into the next minute and be admitted)
    timeutil.freeze_clock(time.time() // 60 * 60 + 20)
    try:
        limited.chat.completions.create(model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "first"}])
        with pytest.raises(openai.RateLimitError) as info:
            limited.chat.completions.create(model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "second"}])
    finally:
        timeutil.reset_clock()
    assert info.value.response.headers["retry-after"]
    assert "1 requests per minute" in str(info.value)


def test_bad_body_raises_bad_request_error(live):
    with pytest.raises(openai.BadRequestError) as info:
        live.chat.completions.create(model="openai/gpt-4o-mini", messages=[])
    assert "messages" in str(info.value)
    with pytest.raises(openai.BadRequestError) as unknown:
        live.chat.completions.create(model="nobody/none", messages=[{"role": "user", "content": "hi"}])
    assert "Unknown model" in str(unknown.value)


def test_upstream_rate_limit_raises_rate_limit_error_with_the_providers_retry_after(gateway, monkeypatch):
    """Every route of the model answers 429: the official client gets RateLimitError (what it retries on), with the
    provider's Retry-After, and nothing is charged."""
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from gateway_common.usage import recent_for_user

    async def limited(_request: Any) -> JSONResponse:
        return JSONResponse({"error": {"message": "Rate limit reached for gpt-4o-mini", "type": "requests"}},
                            status_code=429, headers={"retry-after": "3"})

    upstream = Starlette(routes=[Route("/v1/chat/completions", limited, methods=["POST"])])
    live_user = gateway["keys"]["live"]["user_id"]
    before = users.get_user(live_user)
    with gateway_server(upstream) as fake:
        monkeypatch.setenv("OPENAI_API_KEY", "sk-e2e")
        monkeypatch.setenv("OPENAI_BASE_URL", fake + "/v1")
        with pytest.raises(openai.RateLimitError) as info:
            client_for(gateway, gateway["keys"]["live"]["key"]).chat.completions.create(
                model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    assert info.value.response.headers["retry-after"] == "3"
    assert info.value.code == "upstream_rate_limited" and "Rate limit reached for gpt-4o-mini" in str(info.value)
    after = users.get_user(live_user)
    assert (after.available, after.reserved) == (before.available, before.reserved)  # nothing charged, nothing held
    limited_records = [r for r in recent_for_user(live_user, limit=100) if r["http_status"] == 429]
    assert [(r["status"], r["cost"], r["provider"], r["error_class"]) for r in limited_records] == [
        ("error", 0, "openai", "rate_limited")]  # the provider that failed, not "none"


@pytest.fixture(scope="module")
def sandbox(gateway: dict[str, Any]) -> openai.OpenAI:
    return client_for(gateway, gateway["keys"]["test"]["key"])


def test_responses_stream_and_previous_response_id(sandbox):
    first = sandbox.responses.create(model="openai/gpt-4o-mini", input="Remember the word lighthouse")
    with sandbox.responses.stream(model="openai/gpt-4o-mini", input="Which word?", previous_response_id=first.id) as stream:
        deltas = [event.delta for event in stream if event.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == final.output_text and final.output_text.endswith("Which word?")
    assert final.previous_response_id == first.id and final.usage.output_tokens > 0
    assert sandbox.responses.retrieve(final.id).output_text == final.output_text
    items = list(sandbox.responses.input_items.list(final.id))
    assert [(i.type, i.role, i.content[0].text) for i in items] == [("message", "user", "Which word?")]
    events = list(sandbox.responses.create(model="openai/gpt-4o-mini", input="hi", stream=True))
    assert events[0].type == "response.created" and events[-1].type == "response.completed"
    sandbox.responses.delete(first.id)
    with pytest.raises(openai.NotFoundError):
        sandbox.responses.retrieve(first.id)


def test_responses_function_tool_round_trip(sandbox):
    tools = [{"type": "function", "name": "get_weather", "strict": True, "description": "Weather of a city",
              "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
                             "additionalProperties": False}}]
    asked = sandbox.responses.create(model="openai/gpt-4o-mini", input="Weather?", tools=tools, tool_choice="required")
    call = asked.output[0]
    assert call.type == "function_call" and call.name == "get_weather" and "city" in call.arguments
    answered = sandbox.responses.create(model="openai/gpt-4o-mini", previous_response_id=asked.id, tools=tools,
                                        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "18C"}])
    assert answered.output[0].type == "message"


def test_models_retrieve_by_an_id_with_a_slash(live):
    model = live.models.retrieve("anthropic/claude-3.5-haiku")
    assert model.id == "anthropic/claude-3.5-haiku" and model.owned_by == "anthropic"
    with pytest.raises(openai.NotFoundError):
        live.models.retrieve("nobody/nothing")


def test_embeddings_create(sandbox):
    result = sandbox.embeddings.create(model="openai/text-embedding-3-small", input=["a lighthouse", "a harbour"])
    assert [len(d.embedding) for d in result.data] == [1536, 1536] and result.usage.prompt_tokens > 0
    again = sandbox.embeddings.create(model="text-embedding-3-small", input="a lighthouse")  # bare id; base64 on the wire
    assert again.data[0].embedding == pytest.approx(result.data[0].embedding, rel=1e-6)


def test_chat_completions_parse_and_tools(sandbox):
    from pydantic import BaseModel

    class Trip(BaseModel):
        city: str
        days: int

    parsed = sandbox.chat.completions.parse(model="openai/gpt-4o-mini", response_format=Trip,
                                            messages=[{"role": "user", "content": "Plan a trip"}])
    assert isinstance(parsed.choices[0].message.parsed, Trip)
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
    completion = sandbox.chat.completions.create(model="openai/gpt-4o-mini", tools=tools, tool_choice="required",
                                                 messages=[{"role": "user", "content": "Weather?"}])
    call = completion.choices[0].message.tool_calls[0]
    assert completion.choices[0].finish_reason == "tool_calls" and call.function.name == "get_weather"
    stream = sandbox.chat.completions.create(model="openai/gpt-4o-mini", tools=tools, tool_choice="required", stream=True,
                                             messages=[{"role": "user", "content": "Weather?"}])
    arguments = "".join(c.choices[0].delta.tool_calls[0].function.arguments or "" for c in stream
                        if c.choices and c.choices[0].delta.tool_calls)
    assert arguments == call.function.arguments
