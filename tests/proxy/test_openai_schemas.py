"""Every body the OpenAI-compatible routes return validates against its schema in OpenAI's OpenAPI document
(vendored under tests/schemas with its MIT license): chat completions and each stream chunk, Responses and each
Response stream event, the model list and a model, images, embeddings, and error bodies. Real responses of the app,
answered by the sandbox and by each adapter's translation of a provider's real wire format (respx)."""

from __future__ import annotations

import httpx
import pytest
import respx

from tests.helpers import bearer
from tests.schemas.openai import assert_valid, assert_valid_stream_event, errors

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
ANTHROPIC = "https://api.anthropic.com/v1/messages"
WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
SCHEMA_FORMAT = {"type": "json_schema", "json_schema": {"name": "answer", "strict": True, "schema": {
    "type": "object", "properties": {"answer": {"type": "string"}, "score": {"type": "integer"}},
    "required": ["answer", "score"], "additionalProperties": False}}}


def test_the_validator_is_not_vacuous():
    assert errors("CreateChatCompletionResponse", {"id": "x", "object": "chat.completion", "created": 1, "model": "m",
                                                   "choices": [{"index": 0, "finish_reason": "stop",
                                                                "message": {"role": "assistant", "content": "hi"}}]})
    assert errors("ErrorResponse", {"error": {"message": "m", "type": "t", "code": "c"}})  # param is required


CHAT_BODIES = {
    "plain": {},
    "json_schema": {"response_format": SCHEMA_FORMAT},
    "tool_call": {"tools": [WEATHER], "tool_choice": "required"},
    "n2": {"n": 2},
}


@pytest.mark.parametrize("variant", sorted(CHAT_BODIES))
def test_sandbox_chat_completion_and_chunks(client, demo, variant):
    body = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "Weather in Rome?"}],
            **CHAT_BODIES[variant]}
    response = client.post("/v1/chat/completions", headers=bearer(demo["test"]["key"]), json=body)
    assert response.status_code == 200, response.text
    assert_valid("CreateChatCompletionResponse", response.json())
    stream = client.post("/v1/chat/completions", headers=bearer(demo["test"]["key"]),
                         json={**body, "stream": True, "stream_options": {"include_usage": True}})
    events = sse_events(stream.text)
    assert events[-1] == "[DONE]" and len(events) > 3
    for event in events[:-1]:
        assert_valid("CreateChatCompletionStreamResponse", event)


@respx.mock
def test_adapter_chat_completions_and_chunks(client, payer, providers):
    cases = [
        (OPENAI, httpx.Response(200, json=openai_completion()), "openai/gpt-4o-mini"),
        (ANTHROPIC, httpx.Response(200, json=anthropic_message()), "anthropic/claude-3.5-haiku"),
        (ANTHROPIC, httpx.Response(200, json=anthropic_tool_message()), "anthropic/claude-3.5-haiku"),
    ]
    for url, reply, model in cases:
        respx.post(url).mock(return_value=reply)
        response = client.post("/v1/chat/completions", headers=bearer(payer["key"]),
                               json={"model": model, "tools": [WEATHER], "messages": [{"role": "user", "content": "hi"}]})
        assert response.status_code == 200, response.text
        assert_valid("CreateChatCompletionResponse", response.json())
    streams = [
        (OPENAI, openai_sse(["Hel", "lo"]), "openai/gpt-4o-mini"),
        (ANTHROPIC, anthropic_sse(["Hel", "lo"]), "anthropic/claude-3.5-haiku"),
        (ANTHROPIC, anthropic_tool_sse(['{"city"', ': "Rome"}']), "anthropic/claude-3.5-haiku"),
    ]
    for url, content, model in streams:
        respx.post(url).mock(return_value=httpx.Response(200, content=content))
        response = client.post("/v1/chat/completions", headers=bearer(payer["key"]), json={
            "model": model, "stream": True, "stream_options": {"include_usage": True}, "tools": [WEATHER],
            "messages": [{"role": "user", "content": "hi"}]})
        events = sse_events(response.text)
        assert events[-1] == "[DONE]"
        for event in events[:-1]:
            assert_valid("CreateChatCompletionStreamResponse", event)


RESPONSE_BODIES = {
    "plain": {"input": "Hello", "instructions": "Be brief", "metadata": {"team": "a"}},
    "json_schema": {"input": "Hello", "text": {"format": {"type": "json_schema", "name": "answer",
                                                           "schema": SCHEMA_FORMAT["json_schema"]["schema"]}}},
    "tool_call": {"input": [{"role": "user", "content": [{"type": "input_text", "text": "Weather?"}]}],
                  "tools": [{"type": "function", "name": "get_weather", "parameters": WEATHER["function"]["parameters"],
                             "strict": True}], "tool_choice": "required"},
    "capped": {"input": "one two three four five six", "max_output_tokens": 2},
}


@pytest.mark.parametrize("variant", sorted(RESPONSE_BODIES))
def test_sandbox_responses_and_stream_events(client, demo, variant):
    body = {"model": "openai/gpt-4o-mini", **RESPONSE_BODIES[variant]}
    response = client.post("/v1/responses", headers=bearer(demo["test"]["key"]), json=body)
    assert response.status_code == 200, response.text
    assert_valid("Response", response.json())
    stored = client.get(f"/v1/responses/{response.json()['id']}", headers=bearer(demo["test"]["key"]))
    assert_valid("Response", stored.json())
    stream = client.post("/v1/responses", headers=bearer(demo["test"]["key"]), json={**body, "stream": True})
    events = sse_events(stream.text)
    assert events[0]["type"] == "response.created" and events[-1]["type"] in ("response.completed", "response.incomplete")
    for event in events:
        assert_valid_stream_event(event)
    deleted = client.delete(f"/v1/responses/{response.json()['id']}", headers=bearer(demo["test"]["key"]))
    assert_valid("DeleteModelResponse", deleted.json())  # {id, object, deleted}: the same shape as a deleted model


@respx.mock
def test_adapter_responses_and_stream_events(client, payer, providers):
    respx.post(ANTHROPIC).mock(return_value=httpx.Response(200, json=anthropic_tool_message()))
    body = {"model": "anthropic/claude-3.5-haiku", "input": "Weather?",
            "tools": [{"type": "function", "name": "get_weather", "parameters": WEATHER["function"]["parameters"]}]}
    response = client.post("/v1/responses", headers=bearer(payer["key"]), json=body)
    assert response.json()["output"][0]["type"] == "function_call"
    assert_valid("Response", response.json())
    for content in (anthropic_tool_sse(['{"city": "Rome"}']), anthropic_sse(["Hi", " there"])):
        respx.post(ANTHROPIC).mock(return_value=httpx.Response(200, content=content))
        for event in sse_events(client.post("/v1/responses", headers=bearer(payer["key"]),
                                            json={**body, "stream": True}).text):
            assert_valid_stream_event(event)
    plain = {"model": "openai/gpt-4o-mini", "input": "x"}
    respx.post(OPENAI).mock(return_value=httpx.Response(200, json=openai_completion()))
    assert_valid("Response", client.post("/v1/responses", headers=bearer(payer["key"]), json=plain).json())
    respx.post(OPENAI).mock(return_value=httpx.Response(200, content=openai_sse(["Hi", " there"])))
    events = sse_events(client.post("/v1/responses", headers=bearer(payer["key"]), json={**plain, "stream": True}).text)
    assert events[-1]["type"] == "response.completed"
    for event in events:
        assert_valid_stream_event(event)
    respx.post(OPENAI).mock(return_value=httpx.Response(200, content=openai_sse(["Hi"], done=False)))
    broken = sse_events(client.post("/v1/responses", headers=bearer(payer["key"]),
                                    json={"model": "openai/gpt-4o-mini", "input": "x", "stream": True}).text)
    assert [e["type"] for e in broken[-2:]] == ["error", "response.failed"]
    for event in broken:
        assert_valid_stream_event(event)


def test_models_images_and_embeddings(client, demo):
    key = demo["test"]["key"]
    assert_valid("ListModelsResponse", client.get("/v1/models", headers=bearer(key)).json())
    assert_valid("Model", client.get("/v1/models/anthropic/claude-3.5-haiku", headers=bearer(key)).json())
    for body in ({"model": "openai/dall-e-3", "prompt": "a lighthouse"},
                 {"model": "openai/gpt-image-1", "prompt": "a lighthouse", "background": "transparent",
                  "output_format": "png", "moderation": "low", "quality": "high", "n": 2}):
        response = client.post("/v1/images/generations", headers=bearer(key), json=body)
        assert response.status_code == 200, response.text
        assert_valid("ImagesResponse", response.json())
    response = client.post("/v1/embeddings", headers=bearer(key),
                           json={"model": "openai/text-embedding-3-small", "input": ["a", "b"]})
    assert_valid("CreateEmbeddingResponse", response.json())
    stream = client.post("/v1/images/generations", headers=bearer(key), json={
        "model": "openai/gpt-image-1", "prompt": "a lighthouse", "n": 2, "stream": True, "partial_images": 2,
        "background": "transparent", "quality": "high"})
    events = sse_events(stream.text)
    assert [e["type"] for e in events] == ["image_generation.completed"] * 2
    for event in events:
        assert_valid("ImageGenStreamEvent", event)
        assert_valid("ImageGenCompletedEvent", event)


@respx.mock
def test_adapter_images_and_embeddings(client, payer, providers):
    respx.post("https://api.openai.com/v1/images/generations").mock(side_effect=[
        httpx.Response(200, json={"created": 1713833628, "data": [
            {"url": "https://example.com/img.png", "revised_prompt": "a lighthouse at dawn"}]}),
        httpx.Response(200, json={"created": 1713833628, "data": [{"b64_json": "iVBORw0KGgo="}],
                                  "usage": {"total_tokens": 100, "input_tokens": 50, "output_tokens": 50,
                                            "input_tokens_details": {"text_tokens": 50, "image_tokens": 0}}})])
    for model in ("openai/dall-e-3", "openai/gpt-image-1"):
        response = client.post("/v1/images/generations", headers=bearer(payer["key"]),
                               json={"model": model, "prompt": "a lighthouse"})
        assert response.status_code == 200, response.text
        assert_valid("ImagesResponse", response.json())
    assert response.json()["usage"]["total_tokens"] == 100  # GPT image models' token usage is passed on
    respx.post("https://api.openai.com/v1/embeddings").mock(return_value=httpx.Response(200, json={
        "object": "list", "model": "text-embedding-3-small", "usage": {"prompt_tokens": 2, "total_tokens": 2},
        "data": [{"object": "embedding", "index": 0, "embedding": [0.1, 0.2]}]}))
    response = client.post("/v1/embeddings", headers=bearer(payer["key"]),
                           json={"model": "openai/text-embedding-3-small", "input": "a"})
    assert response.status_code == 200, response.text
    assert_valid("CreateEmbeddingResponse", response.json())  # (base64 vectors are strings: OpenAI's schema says array)


def test_error_bodies(client, demo):
    key = demo["test"]["key"]
    chat = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "x"}]}
    responses = [
        client.post("/v1/chat/completions", json=chat),  # 401
        client.post("/v1/chat/completions", headers=bearer(key), json={"model": "openai/gpt-4o-mini"}),  # 400
        client.post("/v1/chat/completions", headers=bearer(key), json={**chat, "model": "nope/nope"}),  # 400
        client.get("/v1/models/nope/nope", headers=bearer(key)),  # 404
        client.get("/v1/responses/resp_unknown", headers=bearer(key)),  # 404
        client.get("/v1/chat/completions", headers=bearer(key)),  # 405
        client.post("/v1/chat/completions", headers=bearer(demo["live"]["key"]),
                    json={**chat, "model": "openai/gpt-4", "messages": [{"role": "user", "content": "x" * 40000}]}),  # 400
    ]
    assert [r.status_code for r in responses] == [401, 400, 400, 404, 404, 405, 400]
    for response in responses:
        assert_valid("ErrorResponse", response.json())
    assert responses[1].json()["error"]["param"] == "messages"
    assert responses[6].json()["error"]["code"] == "context_length_exceeded"
