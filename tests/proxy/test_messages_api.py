"""The Anthropic Messages API: Claude natively (the request reaches Anthropic as Anthropic sent it), other models
translated to the OpenAI format (tools included), Anthropic's SSE events and error shape, x-api-key or Bearer."""

from __future__ import annotations

import json
from decimal import Decimal

import httpx
import respx

from gateway_common import users
from gateway_common.usage import recent_for_user

from .wire import (
    anthropic_message,
    anthropic_sse,
    anthropic_tool_message,
    anthropic_tool_sse,
    openai_completion,
    openai_sse,
    sse_events,
)

ANTHROPIC = "https://api.anthropic.com/v1/messages"
OPENAI = "https://api.openai.com/v1/chat/completions"
TOOL = {"name": "get_weather", "description": "Weather of a city",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}


def post(client, key, body, *, header="x-api-key", path="/v1/messages"):
    headers = {"x-api-key": key} if header == "x-api-key" else {"Authorization": f"Bearer {key}"}
    return client.post(path, headers={**headers, "anthropic-version": "2023-06-01"}, json=body)


@respx.mock
def test_claude_goes_to_anthropic_and_comes_back_in_anthropics_shape(client, payer, providers):
    reply = anthropic_message(text="Bonjour", input_tokens=20, output_tokens=3)
    reply["usage"]["cache_read_input_tokens"] = 100
    route = respx.post(ANTHROPIC).mock(return_value=httpx.Response(200, json=reply))
    response = post(client, payer["key"], {
        "model": "claude-3-5-haiku-20241022", "max_tokens": 64, "system": [{"type": "text", "text": "Be French."}],
        "stop_sequences": ["END"], "messages": [{"role": "user", "content": [{"type": "text", "text": "Hello"}]}]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["type"] == "message" and body["id"].startswith("msg_") and body["content"] == [{"type": "text", "text": "Bonjour"}]
    assert body["stop_reason"] == "end_turn"
    assert body["usage"] == {"input_tokens": 20, "output_tokens": 3, "cache_read_input_tokens": 100,
                             "cache_creation_input_tokens": 0}
    sent = json.loads(route.calls.last.request.content)
    assert sent["model"] == "claude-3-5-haiku-20241022" and sent["max_tokens"] == 64 and sent["system"] == "Be French."
    assert sent["messages"] == [{"role": "user", "content": "Hello"}] and sent["stop_sequences"] == ["END"]
    record = recent_for_user(payer["user_id"])[0]
    assert record["endpoint"] == "/v1/messages" and record["model"] == "anthropic/claude-3.5-haiku"
    assert record["cost"] == 20 * Decimal("0.0000008") + 100 * Decimal("0.00000008") + 3 * Decimal("0.000004")


@respx.mock
def test_other_models_are_translated_with_their_tools(client, payer, providers):
    completion = openai_completion(text=None)
    completion["choices"][0]["message"]["tool_calls"] = [
        {"id": "call_9", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}}]
    completion["choices"][0]["finish_reason"] = "tool_calls"
    route = respx.post(OPENAI).mock(return_value=httpx.Response(200, json=completion))
    response = post(client, payer["key"], {
        "model": "openai/gpt-4o-mini", "max_tokens": 100, "tools": [TOOL], "tool_choice": {"type": "any"},
        "messages": [
            {"role": "user", "content": "Weather in Paris, then Oslo"},
            {"role": "assistant", "content": [
                {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "12C"},
                                         {"type": "text", "text": "and Oslo?"}]}]}, header="bearer")
    assert response.status_code == 200, response.text
    assert response.json()["content"] == [{"type": "tool_use", "id": "call_9", "name": "get_weather", "input": {"city": "Oslo"}}]
    assert response.json()["stop_reason"] == "tool_use"
    sent = json.loads(route.calls.last.request.content)
    assert sent["tools"] == [{"type": "function", "function": {"name": "get_weather", "description": "Weather of a city",
                                                                "parameters": TOOL["input_schema"]}}]
    assert sent["tool_choice"] == "required" and sent["max_tokens"] == 100
    assert sent["messages"][1]["tool_calls"][0]["function"] == {"name": "get_weather", "arguments": '{"city": "Paris"}'}
    assert sent["messages"][2] == {"role": "tool", "tool_call_id": "toolu_1", "content": "12C"}
    assert sent["messages"][3] == {"role": "user", "content": "and Oslo?"}


@respx.mock
def test_stream_is_anthropics_event_sequence_with_tool_input_deltas(client, payer, providers):
    respx.post(ANTHROPIC).mock(return_value=httpx.Response(200, content=anthropic_tool_sse(['{"city": ', '"Rome"}'])))
    response = post(client, payer["key"], {"model": "anthropic/claude-3.5-haiku", "max_tokens": 50, "stream": True,
                                           "tools": [TOOL], "messages": [{"role": "user", "content": "Weather?"}]})
    names = [line[7:] for line in response.text.splitlines() if line.startswith("event: ")]
    assert names == ["message_start", "ping", "content_block_start", "content_block_delta", "content_block_stop",
                     "content_block_start", "content_block_delta", "content_block_delta", "content_block_stop",
                     "message_delta", "message_stop"]
    events = sse_events(response.text)
    assert events[5]["content_block"] == {"type": "tool_use", "id": "toolu_stream", "name": "get_weather", "input": {}}
    assert [e["delta"]["partial_json"] for e in events[6:8]] == ['{"city": ', '"Rome"}']
    assert events[9]["delta"]["stop_reason"] == "tool_use" and events[9]["usage"]["output_tokens"] == 42
    assert events[9]["usage"]["cost"] > 0
    assert users.get_user(payer["user_id"]).reserved == 0


@respx.mock
def test_a_cut_stream_ends_with_anthropics_error_event_and_bills_what_was_produced(client, payer, providers):
    respx.post(ANTHROPIC).mock(return_value=httpx.Response(200, content=anthropic_sse(["Once ", "upon"], complete=False)))
    response = post(client, payer["key"], {"model": "anthropic/claude-3.5-haiku", "max_tokens": 50, "stream": True,
                                           "messages": [{"role": "user", "content": "A story"}]})
    names = [line[7:] for line in response.text.splitlines() if line.startswith("event: ")]
    assert names[-2:] == ["content_block_stop", "error"] and "message_stop" not in names
    assert sse_events(response.text)[-1]["error"]["type"] == "api_error"
    record = recent_for_user(payer["user_id"])[0]
    assert record["status"] == "partial" and record["completion_tokens"] > 0 and record["cost"] > 0
    assert users.get_user(payer["user_id"]).reserved == 0


@respx.mock
def test_images_a_tool_returns_reach_claude_in_the_tool_result_and_others_in_a_user_message(client, payer, providers):
    claude = respx.post(ANTHROPIC).mock(return_value=httpx.Response(200, json=anthropic_message()))
    gpt = respx.post(OPENAI).mock(return_value=httpx.Response(200, json=openai_completion()))
    screenshot = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}
    messages = [
        {"role": "user", "content": "What is on screen?"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "screenshot", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1",
                                      "content": [{"type": "text", "text": "taken"}, screenshot]},
                                     {"type": "text", "text": "Describe it."}]}]
    for model in ("anthropic/claude-3.5-haiku", "openai/gpt-4o-mini"):
        response = post(client, payer["key"], {"model": model, "max_tokens": 50, "messages": messages,
                                               "tools": [{**TOOL, "name": "screenshot"}]})
        assert response.status_code == 200, response.text
    to_claude = json.loads(claude.calls.last.request.content)["messages"][2]["content"]
    assert to_claude == [{"type": "tool_result", "tool_use_id": "toolu_1",
                          "content": [{"type": "text", "text": "taken"}, screenshot]},
                         {"type": "text", "text": "Describe it."}]
    to_gpt = json.loads(gpt.calls.last.request.content)["messages"]
    assert to_gpt[2] == {"role": "tool", "tool_call_id": "toolu_1", "content": "taken"}
    assert to_gpt[3]["role"] == "user" and to_gpt[3]["content"][1] == {
        "type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
    assert to_gpt[4] == {"role": "user", "content": "Describe it."}


@respx.mock
def test_pdf_documents_reach_claude_as_documents_and_others_as_file_parts(client, payer, providers):
    claude = respx.post(ANTHROPIC).mock(return_value=httpx.Response(200, json=anthropic_message()))
    gpt = respx.post(OPENAI).mock(return_value=httpx.Response(200, json=openai_completion()))
    pdf = {"type": "document", "title": "report.pdf",
           "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0xLjQ="}}
    note = {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "A plain note"}}
    content = [pdf, note, {"type": "text", "text": "Summarize both."}]
    for model in ("anthropic/claude-3.5-haiku", "openai/gpt-4o-mini"):
        response = post(client, payer["key"], {"model": model, "max_tokens": 50,
                                               "messages": [{"role": "user", "content": content}]})
        assert response.status_code == 200, response.text
    assert json.loads(claude.calls.last.request.content)["messages"][0]["content"] == [
        {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0xLjQ="},
         "title": "report.pdf"},
        {"type": "text", "text": "A plain note"}, {"type": "text", "text": "Summarize both."}]
    assert json.loads(gpt.calls.last.request.content)["messages"][0]["content"][0] == {
        "type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0xLjQ=", "filename": "report.pdf"}}
    url_pdf = {"type": "document", "source": {"type": "url", "url": "https://example.com/a.pdf"}}
    refused = post(client, payer["key"], {"model": "openai/gpt-4o-mini", "max_tokens": 5,
                                          "messages": [{"role": "user", "content": [url_pdf]}]})
    assert refused.status_code == 400 and "messages.0.content.0.source" in refused.json()["error"]["message"]


@respx.mock
def test_a_stream_from_an_openai_format_model_carries_the_providers_usage(client, payer, providers):
    route = respx.post(OPENAI).mock(return_value=httpx.Response(200, content=openai_sse(["Hel", "lo"], prompt=11, completion=2)))
    response = post(client, payer["key"], {"model": "openai/gpt-4o-mini", "max_tokens": 50, "stream": True,
                                           "messages": [{"role": "user", "content": "Hi"}]})
    assert json.loads(route.calls.last.request.content)["stream_options"] == {"include_usage": True}
    events = sse_events(response.text)
    assert "".join(e["delta"]["text"] for e in events if e["type"] == "content_block_delta") == "Hello"
    delta = next(e for e in events if e["type"] == "message_delta")
    assert (delta["usage"]["input_tokens"], delta["usage"]["output_tokens"]) == (11, 2)
    assert delta["usage"]["cost"] == float(11 * Decimal("0.00000015") + 2 * Decimal("0.0000006"))


@respx.mock
def test_the_stop_sequence_that_ended_claudes_answer_comes_back(client, payer, providers):
    from tests.schemas.openai import assert_valid

    stopped = anthropic_message(text="Step one")
    stopped.update(stop_reason="stop_sequence", stop_sequence="STEP 2")
    route = respx.post(ANTHROPIC).mock(return_value=httpx.Response(200, json=stopped))
    stops = ["STEP 2", "a", "b", "c", "d"]
    body = {"model": "anthropic/claude-3.5-haiku", "max_tokens": 50, "stop_sequences": stops,
            "messages": [{"role": "user", "content": "Steps?"}]}
    answer = post(client, payer["key"], body).json()
    assert (answer["stop_reason"], answer["stop_sequence"]) == ("stop_sequence", "STEP 2")
    assert json.loads(route.calls.last.request.content)["stop_sequences"] == stops  # all five reach Claude
    chat = client.post("/v1/chat/completions", headers={"Authorization": f"Bearer {payer['key']}"}, json={
        "model": "anthropic/claude-3.5-haiku", "messages": [{"role": "user", "content": "Steps?"}]}).json()
    assert chat["choices"][0]["finish_reason"] == "stop" and chat["choices"][0]["stop_sequence"] == "STEP 2"
    assert_valid("CreateChatCompletionResponse", chat)  # an extra field OpenAI's clients ignore
    sse = anthropic_sse(["Step one"]).replace(b'"stop_reason": "end_turn", "stop_sequence": null',
                                              b'"stop_reason": "stop_sequence", "stop_sequence": "STEP 2"')
    route.mock(return_value=httpx.Response(200, content=sse))
    events = sse_events(post(client, payer["key"], {**body, "stream": True}).text)
    delta = next(e for e in events if e["type"] == "message_delta")["delta"]
    assert delta == {"stop_reason": "stop_sequence", "stop_sequence": "STEP 2"}


THINKING = {"type": "thinking", "thinking": "The user wants Rome's weather.", "signature": "EqQBCgIYAhIM1gbcDa9GJwZA"}


@respx.mock
def test_extended_thinking_reaches_claude_and_its_signed_blocks_come_back_and_are_resent(client, payer, providers):
    reply = anthropic_tool_message()
    reply["content"] = [THINKING, *reply["content"]]
    route = respx.post(ANTHROPIC).mock(return_value=httpx.Response(200, json=reply))
    thinking = {"type": "enabled", "budget_tokens": 1024}
    question = {"role": "user", "content": "Weather in Rome?"}
    body = {"model": "anthropic/claude-sonnet-4", "max_tokens": 2048, "thinking": thinking, "tools": [TOOL]}
    answer = post(client, payer["key"], {**body, "messages": [question]}).json()
    assert answer["content"][0] == THINKING and answer["content"][1]["type"] == "tool_use"
    assert json.loads(route.calls.last.request.content)["thinking"] == thinking
    use = answer["content"][1]
    turn = [question, {"role": "assistant", "content": answer["content"]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use["id"], "content": "18C"}]}]
    post(client, payer["key"], {**body, "messages": turn})
    resent = json.loads(route.calls.last.request.content)["messages"][1]["content"]
    assert resent[0] == THINKING and resent[1]["type"] == "tool_use"  # signed thinking first, as Claude requires
    gpt = respx.post(OPENAI).mock(return_value=httpx.Response(200, json=openai_completion()))
    assert post(client, payer["key"], {**body, "model": "openai/gpt-4o-mini", "messages": turn}).status_code == 200
    sent = json.loads(gpt.calls.last.request.content)
    assert "thinking" not in sent and all("thinking_blocks" not in m for m in sent["messages"])


@respx.mock
def test_streamed_thinking_is_relayed_as_anthropics_thinking_block(client, payer, providers):
    events = [
        ("message_start", {"type": "message_start", "message": {
            "id": "msg_t", "type": "message", "role": "assistant", "content": [], "model": "claude-sonnet-4-20250514",
            "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": 30, "output_tokens": 1}}}),
        ("content_block_start", {"type": "content_block_start", "index": 0,
                                 "content_block": {"type": "thinking", "thinking": "", "signature": ""}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                 "delta": {"type": "thinking_delta", "thinking": "Let me "}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                 "delta": {"type": "thinking_delta", "thinking": "think."}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                 "delta": {"type": "signature_delta", "signature": "EqQBsig"}}),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("content_block_start", {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "Hi"}}),
        ("content_block_stop", {"type": "content_block_stop", "index": 1}),
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                           "usage": {"output_tokens": 40}}),
        ("message_stop", {"type": "message_stop"}),
    ]
    sse = "".join(f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in events).encode()
    respx.post(ANTHROPIC).mock(return_value=httpx.Response(200, content=sse))
    response = post(client, payer["key"], {"model": "anthropic/claude-sonnet-4", "max_tokens": 2048, "stream": True,
                                           "thinking": {"type": "enabled", "budget_tokens": 1024},
                                           "messages": [{"role": "user", "content": "Hi"}]})
    got = [e for e in sse_events(response.text) if e["type"].startswith("content_block")]
    assert got[0]["content_block"] == {"type": "thinking", "thinking": "", "signature": ""}
    assert [e["delta"] for e in got[1:4]] == [{"type": "thinking_delta", "thinking": "Let me "},
                                              {"type": "thinking_delta", "thinking": "think."},
                                              {"type": "signature_delta", "signature": "EqQBsig"}]
    assert got[4] == {"type": "content_block_stop", "index": 0} and got[5]["index"] == 1
    assert got[6]["delta"] == {"type": "text_delta", "text": "Hi"}


def test_errors_are_in_anthropics_shape(client, demo):
    key = demo["test"]["key"]
    cases = [
        (post(client, "gw_live_nope", {"model": "x", "max_tokens": 1, "messages": [{"role": "user", "content": "x"}]}),
         401, "authentication_error"),
        (post(client, key, {"model": "anthropic/claude-3.5-haiku", "messages": [{"role": "user", "content": "x"}]}),
         400, "invalid_request_error"),  # max_tokens is required, as Anthropic says
        (post(client, key, {"model": "nope", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}),
         400, "invalid_request_error"),
    ]
    for response, status, kind in cases:
        assert response.status_code == status, response.text
        assert response.json()["type"] == "error" and response.json()["error"]["type"] == kind
        assert response.json()["error"]["message"]
    assert "max_tokens" in cases[1][0].json()["error"]["message"]


def test_count_tokens_charges_nothing(client, demo):
    key = demo["live"]["key"]
    before = users.get_user(demo["live"]["user_id"]).available
    short = post(client, key, {"model": "anthropic/claude-3.5-haiku", "messages": [{"role": "user", "content": "hi"}]},
                 path="/v1/messages/count_tokens").json()["input_tokens"]
    longer = post(client, key, {"model": "anthropic/claude-3.5-haiku", "tools": [TOOL],
                                "messages": [{"role": "user", "content": "hi " * 300}]},
                  path="/v1/messages/count_tokens").json()["input_tokens"]
    assert 0 < short < longer
    assert users.get_user(demo["live"]["user_id"]).available == before and not recent_for_user(demo["live"]["user_id"])


@respx.mock
def test_prompt_cache_breakpoints_reach_claude(client, payer, providers):
    route = respx.post(ANTHROPIC).mock(return_value=httpx.Response(200, json=anthropic_message()))
    ephemeral = {"type": "ephemeral"}
    post(client, payer["key"], {
        "model": "anthropic/claude-3.5-haiku", "max_tokens": 20,
        "system": [{"type": "text", "text": "A long system prompt", "cache_control": ephemeral}],
        "messages": [{"role": "user", "content": [{"type": "text", "text": "A long document", "cache_control": ephemeral},
                                                  {"type": "text", "text": "Question?"}]}]})
    sent = json.loads(route.calls.last.request.content)
    assert sent["system"] == [{"type": "text", "text": "A long system prompt", "cache_control": ephemeral}]
    assert sent["messages"][0]["content"] == [{"type": "text", "text": "A long document", "cache_control": ephemeral},
                                              {"type": "text", "text": "Question?"}]


def test_count_tokens_is_rate_limited_like_any_endpoint(client, demo, monkeypatch):
    from gateway_common import db

    monkeypatch.setenv("GATEWAY_ENDPOINT_LIMITS", json.dumps({"POST /v1/messages/count_tokens": {"minute": 2}}))
    db.get_settings.cache_clear()
    body = {"model": "anthropic/claude-3.5-haiku", "messages": [{"role": "user", "content": "hi"}]}
    answers = [post(client, demo["test"]["key"], body, path="/v1/messages/count_tokens") for _ in range(3)]
    db.get_settings.cache_clear()
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[2].json()["error"]["type"] == "rate_limit_error" and int(answers[2].headers["retry-after"]) > 0


def test_no_credits_is_anthropics_billing_error(client, dynamo):
    from .conftest import make_payer

    broke = make_payer("broke", Decimal("0"))
    response = post(client, broke["key"], {"model": "anthropic/claude-3.5-haiku", "max_tokens": 5,
                                           "messages": [{"role": "user", "content": "x"}]})
    assert response.status_code == 402 and response.json()["error"]["type"] == "billing_error"
