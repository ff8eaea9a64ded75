"""The Responses API: stream event sequence and its billing, store with a TTL, previous_response_id, GET/DELETE owner-only,
instructions, function tools and tool round trips, text.format json_schema."""

from __future__ import annotations

import json
from decimal import Decimal

import httpx
import respx

from gateway_common import db, timeutil, users
from gateway_common.usage import recent_for_user
from gw_chat import responses_store
from tests.helpers import assert_error, bearer

from .conftest import make_payer
from .wire import openai_completion, openai_sse, sse_events

OPENAI = "https://api.openai.com/v1/chat/completions"
MINI_PROMPT = Decimal("0.00000015")
MINI_COMPLETION = Decimal("0.0000006")


def create(client, key, **body):
    return client.post("/v1/responses", headers=bearer(key), json={"model": "openai/gpt-4o-mini", **body})


@respx.mock
def test_stream_follows_openais_event_sequence_and_is_billed_like_chat(client, payer, providers):
    route = respx.post(OPENAI).mock(return_value=httpx.Response(200, content=openai_sse(["Hel", "lo"], prompt=10, completion=2)))
    response = create(client, payer["key"], input="Hi", instructions="Be brief", max_output_tokens=30, stream=True,
                      reasoning={"effort": "low"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
    events = sse_events(response.text)
    assert [e["type"] for e in events] == [
        "response.created", "response.in_progress", "response.output_item.added", "response.content_part.added",
        "response.output_text.delta", "response.output_text.delta", "response.output_text.done",
        "response.content_part.done", "response.output_item.done", "response.completed"]
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert "event: response.created\n" in response.text  # named SSE events, as OpenAI sends them
    done = events[-1]["response"]
    assert done["output_text"] == "Hello" and done["usage"]["input_tokens"] == 10 and done["usage"]["output_tokens"] == 2
    cost = 10 * MINI_PROMPT + 2 * MINI_COMPLETION
    assert Decimal(str(done["usage"]["cost"])) == cost
    sent = json.loads(route.calls.last.request.content)
    assert sent["messages"][0] == {"role": "system", "content": "Be brief"} and sent["max_tokens"] == 30
    assert "max_output_tokens" not in sent and "max_completion_tokens" not in sent  # one output cap upstream
    assert sent["stream_options"] == {"include_usage": True}  # the provider's usage, whatever the client asked
    assert sent["reasoning_effort"] == "low"
    record = recent_for_user(payer["user_id"])[0]
    assert record["endpoint"] == "/v1/responses" and record["stream"] is True and record["cost"] == cost
    assert users.get_user(payer["user_id"]).reserved == 0


@respx.mock
def test_a_cut_stream_ends_with_an_error_event_and_bills_what_was_produced(client, payer, providers):
    respx.post(OPENAI).mock(return_value=httpx.Response(200, content=openai_sse(["one ", "two"], done=False)))
    events = sse_events(create(client, payer["key"], input="Hi", stream=True).text)
    assert [e["type"] for e in events[-2:]] == ["error", "response.failed"]
    assert events[-2]["code"] == "upstream_stream_broken"
    record = recent_for_user(payer["user_id"])[0]
    assert record["status"] == "partial" and record["completion_tokens"] > 0 and record["cost"] > 0
    assert users.get_user(payer["user_id"]).reserved == 0


def test_previous_response_id_continues_the_conversation(client, demo):
    key = demo["test"]["key"]
    first = create(client, key, input="My name is Ada", instructions="first instructions").json()
    second = create(client, key, input="What is my name?", previous_response_id=first["id"]).json()
    assert second["previous_response_id"] == first["id"]
    conversation = responses_store.conversation(demo["test"]["user_id"], second["id"])
    assert [m["role"] for m in conversation] == ["user", "assistant", "user", "assistant"]
    assert conversation[0]["content"] == "My name is Ada" and conversation[1]["content"] == first["output_text"]
    assert all(m["content"] != "first instructions" for m in conversation)  # instructions are not carried over


def test_a_long_conversation_is_stored_compressed_and_continues(client, demo):
    """A conversation past DynamoDB's 400 KB item limit as text (an agent loop on previous_response_id) still chains."""
    key = demo["test"]["key"]
    long_input = "the quick brown fox jumps over the lazy dog " * 10_000  # 440 KB, ~147k tokens: fits Claude's 200k
    first = create(client, key, model="anthropic/claude-sonnet-4", input=long_input, max_output_tokens=5)
    assert first.status_code == 200, first.text
    timeutil.shift_clock(61)  # the next minute: two such requests exceed the plan's tokens per minute
    second = create(client, key, model="anthropic/claude-sonnet-4", input="Summarize", max_output_tokens=5,
                    previous_response_id=first.json()["id"])
    timeutil.shift_clock(-61)
    assert second.status_code == 200, second.text
    conversation = responses_store.conversation(demo["test"]["user_id"], second.json()["id"])
    assert conversation[0]["content"] == long_input and len(conversation) == 4


def test_stored_responses_are_owner_only_and_expire(client, demo, payer):
    key = demo["test"]["key"]
    created = create(client, key, input="secret plans").json()
    assert client.get(f"/v1/responses/{created['id']}", headers=bearer(key)).json() == created
    other = make_payer("other", Decimal("1"), environment="test")
    for attempt in (client.get(f"/v1/responses/{created['id']}", headers=bearer(other["key"])),
                    client.delete(f"/v1/responses/{created['id']}", headers=bearer(other["key"]))):
        assert_error(attempt, 404, "no response with id")
    assert_error(create(client, other["key"], input="x", previous_response_id=created["id"]), 400, "not found")
    item = db.table("ResponsesTable").get_item(Key={"user_id": demo["test"]["user_id"], "response_id": created["id"]})["Item"]
    assert int(item["expires_at"]) == int(timeutil.now_ts()) + 30 * 86400  # the table's TTL attribute
    timeutil.shift_clock(30 * 86400 + 1)
    assert_error(client.get(f"/v1/responses/{created['id']}", headers=bearer(key)), 404)  # expired before the TTL sweep
    timeutil.shift_clock(-(30 * 86400 + 1))
    assert client.delete(f"/v1/responses/{created['id']}", headers=bearer(key)).json() == {
        "id": created["id"], "object": "response", "deleted": True}
    assert_error(client.delete(f"/v1/responses/{created['id']}", headers=bearer(key)), 404)


def test_ids_that_cannot_be_ours_are_404s_without_asking_dynamodb(client, demo, monkeypatch):
    """DynamoDB refuses sort keys over 1 KB with a ValidationException (moto does not): such ids never reach it."""
    key = bearer(demo["test"]["key"])
    table = db.table

    def no_responses_table(name):
        assert name != responses_store.RESPONSES, "asked DynamoDB"
        return table(name)

    monkeypatch.setattr(db, "table", no_responses_table)
    for rid in ("r" * 2000, "resp_" + "a" * 101, "resp_x.y"):
        assert_error(client.get(f"/v1/responses/{rid}", headers=key), 404, "no response with id")
        assert_error(client.delete(f"/v1/responses/{rid}", headers=key), 404)


def test_input_items_are_listed_as_openai_items_owner_only_and_paged(client, demo):
    from tests.schemas.openai import assert_valid

    key = demo["test"]["key"]
    first = create(client, key, input="Weather?", tools=[{"type": "function", "name": "get_weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}], tool_choice="required")
    call = first.json()["output"][0]
    second = create(client, key, previous_response_id=first.json()["id"], input=[
        {"role": "user", "content": [{"type": "input_text", "text": "Here:"}]},
        {"type": "function_call_output", "call_id": call["call_id"], "output": "18C"}]).json()
    url = f"/v1/responses/{second['id']}/input_items"
    listed = client.get(url, headers=bearer(key)).json()
    assert_valid("ResponseItemList", listed)
    assert [i["type"] for i in listed["data"]] == ["function_call_output", "message"]  # newest first, as OpenAI
    assert listed["data"][0]["output"] == "18C" and listed["has_more"] is False
    ascending = client.get(url, headers=bearer(key), params={"order": "asc", "limit": 1}).json()
    assert ascending["data"][0]["content"] == [{"type": "input_text", "text": "Here:"}] and ascending["has_more"]
    rest = client.get(url, headers=bearer(key), params={"order": "asc", "after": ascending["last_id"]}).json()
    assert [i["type"] for i in rest["data"]] == ["function_call_output"]
    assert_valid("ResponseItemList", client.get(f"/v1/responses/{first.json()['id']}/input_items",
                                                headers=bearer(key)).json())  # a string input: one user message
    other = make_payer("nosy", Decimal("1"), environment="test")
    assert_error(client.get(url, headers=bearer(other["key"])), 404, "no response with id")


def test_store_false_keeps_nothing(client, demo):
    created = create(client, demo["test"]["key"], input="x", store=False).json()
    assert created["store"] is False
    assert_error(client.get(f"/v1/responses/{created['id']}", headers=bearer(demo["test"]["key"])), 404)


@respx.mock
def test_function_tools_and_a_tool_round_trip(client, payer, providers):
    tool_call = openai_completion(text=None)
    tool_call["choices"][0]["message"]["tool_calls"] = [
        {"id": "call_abc", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Rome"}'}}]
    tool_call["choices"][0]["finish_reason"] = "tool_calls"
    route = respx.post(OPENAI).mock(return_value=httpx.Response(200, json=tool_call))
    tools = [{"type": "function", "name": "get_weather", "description": "Weather", "strict": True,
              "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]
    first = create(client, payer["key"], input="Weather in Rome?", tools=tools,
                   tool_choice={"type": "function", "name": "get_weather"}).json()
    assert first["output"] == [{"type": "function_call", "id": first["output"][0]["id"], "call_id": "call_abc",
                                "name": "get_weather", "arguments": '{"city":"Rome"}', "status": "completed"}]
    sent = json.loads(route.calls.last.request.content)
    assert sent["tools"] == [{"type": "function", "function": {"name": "get_weather", "description": "Weather", "strict": True,
                                                                "parameters": tools[0]["parameters"]}}]
    assert sent["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    route.mock(return_value=httpx.Response(200, json=openai_completion(text="18C and sunny")))
    second = create(client, payer["key"], previous_response_id=first["id"], tools=tools,
                    input=[{"type": "function_call_output", "call_id": "call_abc", "output": "18C, sunny"}]).json()
    assert second["output_text"] == "18C and sunny"
    messages = json.loads(route.calls.last.request.content)["messages"]
    assert messages[1] == {"role": "assistant", "content": "", "tool_calls": [
        {"id": "call_abc", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Rome"}'}}]}
    assert messages[2] == {"role": "tool", "tool_call_id": "call_abc", "content": "18C, sunny"}


def test_text_format_json_schema_gives_a_conforming_document(client, demo):
    schema = {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 3}},
              "required": ["city", "days"], "additionalProperties": False}
    response = create(client, demo["test"]["key"], input="Plan a trip",
                      text={"format": {"type": "json_schema", "name": "trip", "schema": schema, "strict": True}}).json()
    document = json.loads(response["output_text"])
    assert set(document) == {"city", "days"} and isinstance(document["days"], int) and document["days"] >= 3
    assert response["text"]["format"]["name"] == "trip"


@respx.mock
def test_input_files_reach_the_provider_as_file_parts(client, payer, providers):
    route = respx.post(OPENAI).mock(return_value=httpx.Response(200, json=openai_completion()))
    pdf = {"type": "input_file", "filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBERi0xLjQ="}
    response = create(client, payer["key"], input=[{"role": "user", "content": [
        {"type": "input_text", "text": "Summarize"}, pdf]}])
    assert response.status_code == 200, response.text
    assert json.loads(route.calls.last.request.content)["messages"][0]["content"] == [
        {"type": "text", "text": "Summarize"},
        {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0xLjQ=", "filename": "a.pdf"}}]
    by_id = create(client, payer["key"], input=[{"role": "user", "content": [{"type": "input_file", "file_id": "file-x"}]}])
    assert_error(by_id, 400, "input.0.content.0.file_data", "no uploads")  # the operator's provider files stay theirs
    chat_by_id = client.post("/v1/chat/completions", headers=bearer(payer["key"]), json={
        "model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": [
            {"type": "file", "file": {"file_id": "file-x"}}]}]})
    assert_error(chat_by_id, 400, "messages.0.content", "no uploads")
    assert route.call_count == 1


def test_hosted_tools_and_unknown_items_are_clear_400s(client, demo):
    key = demo["test"]["key"]
    assert_error(create(client, key, input="x", tools=[{"type": "web_search"}]), 400, "only function tools")
    assert_error(create(client, key, input=[{"type": "item_reference", "id": "x"}]), 400, "item_reference")
    assert_error(create(client, key, input=[{"role": "user", "content": [
        {"type": "input_file", "file_url": "https://example.com/a.pdf"}]}]), 400, "input.0.content.0.file_url")
    assert_error(create(client, key, input=[{"role": "user", "content": [{"type": "input_audio"}]}]), 400,
                 "input.0.content.0.type", "input_audio")
