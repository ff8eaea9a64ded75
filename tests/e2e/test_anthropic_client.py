"""End to end: the official `anthropic` client against the gateway served by uvicorn on 127.0.0.1 (moto DynamoDB
server, demo data): messages, stream, tools and count_tokens, through the sandbox and through a local fake Anthropic."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import anthropic
import pytest

from gateway_common import users
from tests.servers import demo_gateway

TOOL = {"name": "get_weather", "description": "Weather of a city",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}


@pytest.fixture(scope="module")
def gateway() -> Iterator[dict[str, Any]]:
    with demo_gateway() as stack:
        yield stack


@pytest.fixture(scope="module")
def claude(gateway: dict[str, Any]) -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key=gateway["keys"]["test"]["key"], base_url=gateway["base"], max_retries=0, timeout=30)


def test_messages(claude):
    message = claude.messages.create(model="claude-3-5-haiku-20241022", max_tokens=100,
                                     system="Be brief.", messages=[{"role": "user", "content": "Hello Claude"}])
    assert message.role == "assistant" and message.content[0].type == "text"
    assert message.content[0].text.endswith("Hello Claude") and message.stop_reason == "end_turn"
    assert message.usage.input_tokens > 0 and message.usage.output_tokens == 5


def test_stream(claude):
    with claude.messages.stream(model="anthropic/claude-3.5-haiku", max_tokens=100,
                                messages=[{"role": "user", "content": "one two three four five"}]) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text.endswith("one two three four five") and final.content[0].text == text
    assert final.usage.output_tokens == 8


def test_output_cap_is_honoured(claude):
    message = claude.messages.create(model="anthropic/claude-3.5-haiku", max_tokens=3,
                                     messages=[{"role": "user", "content": "one two three four five"}])
    assert message.stop_reason == "max_tokens" and message.usage.output_tokens == 3


def test_tools_round_trip(claude):
    asked = claude.messages.create(model="openai/gpt-4o-mini", max_tokens=200, tools=[TOOL],
                                   tool_choice={"type": "tool", "name": "get_weather"},
                                   messages=[{"role": "user", "content": "Weather in Rome?"}])
    use = next(block for block in asked.content if block.type == "tool_use")
    assert asked.stop_reason == "tool_use" and use.name == "get_weather" and "city" in use.input
    with claude.messages.stream(model="anthropic/claude-3.5-haiku", max_tokens=200, tools=[TOOL],
                                tool_choice={"type": "any"},
                                messages=[{"role": "user", "content": "Weather?"}]) as stream:
        streamed = stream.get_final_message()
    assert streamed.content[0].type == "tool_use" and set(streamed.content[0].input) == {"city"}
    answered = claude.messages.create(model="openai/gpt-4o-mini", max_tokens=200, tools=[TOOL], messages=[
        {"role": "user", "content": "Weather in Rome?"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": use.id, "name": use.name, "input": use.input}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "18C, sunny"}]}])
    assert answered.content[0].type == "text" and answered.stop_reason == "end_turn"


def test_count_tokens(claude):
    counted = claude.messages.count_tokens(model="anthropic/claude-3.5-haiku", tools=[TOOL],
                                           messages=[{"role": "user", "content": "Hello Claude"}])
    assert counted.input_tokens > 0


def test_errors_raise_the_sdks_exceptions(gateway, claude):
    with pytest.raises(anthropic.AuthenticationError):
        anthropic.Anthropic(api_key="gw_live_nope", base_url=gateway["base"], max_retries=0).messages.create(
            model="anthropic/claude-3.5-haiku", max_tokens=5, messages=[{"role": "user", "content": "x"}])
    with pytest.raises(anthropic.BadRequestError) as raised:
        claude.messages.create(model="nobody/nothing", max_tokens=5, messages=[{"role": "user", "content": "x"}])
    assert raised.value.body["error"]["type"] == "invalid_request_error"


def test_bearer_auth_charges_a_live_key(gateway):
    live = gateway["keys"]["live"]
    client = anthropic.Anthropic(auth_token=live["key"], base_url=gateway["base"], max_retries=0)
    before = users.get_user(live["user_id"]).available
    client.messages.create(model="anthropic/claude-3.5-haiku", max_tokens=20, messages=[{"role": "user", "content": "hi"}])
    assert users.get_user(live["user_id"]).available < before <= Decimal("25.00")


def test_a_claude_code_shaped_request(claude):
    """What Claude Code sends: the beta endpoint (?beta=true, anthropic-beta), cache breakpoints on system, tools and
    tool results, thinking, metadata.user_id, tool results as block lists; it streams."""
    cached = {"type": "ephemeral"}
    with claude.beta.messages.stream(
        model="claude-sonnet-4-20250514", max_tokens=32000, betas=["interleaved-thinking-2025-05-14"],
        thinking={"type": "enabled", "budget_tokens": 1024}, metadata={"user_id": "user_abc_session_1"},
        system=[{"type": "text", "text": "You are Claude Code.", "cache_control": cached}],
        tools=[{**TOOL, "cache_control": cached}],
        messages=[{"role": "user", "content": [{"type": "text", "text": "Weather in Rome?"}]},
                  {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "get_weather",
                                                     "input": {"city": "Rome"}}]},
                  {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "cache_control": cached,
                                                "content": [{"type": "text", "text": "18C"}]}]}]) as stream:
        final = stream.get_final_message()
    assert final.content[0].type == "text" and final.stop_reason == "end_turn" and final.usage.output_tokens > 0


def test_models_list_and_retrieve(claude):
    """Anthropic's model shapes, paged by id as the SDK pages them (limit, after_id, has_more, last_id)."""
    from gateway_common import catalog

    page = claude.models.list(limit=5)
    assert len(page.data) == 5 and page.has_more and page.last_id == page.data[-1].id
    ids = [model.id for model in claude.models.list(limit=5)]  # auto-pagination walks every page
    assert ids == sorted(catalog.models()) and page.data[0].type == "model"
    model = claude.models.retrieve("anthropic/claude-3.5-haiku")
    assert (model.id, model.display_name) == ("anthropic/claude-3.5-haiku", catalog.get_model(model.id).name)
    with pytest.raises(anthropic.NotFoundError):
        claude.models.retrieve("nobody/nothing")
