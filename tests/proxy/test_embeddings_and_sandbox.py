"""/v1/embeddings (metered like chat, float/base64, deterministic sandbox vectors), the sandbox as a faithful model
(output cap, json_schema, forced tool calls, unique ids, context overflow), bare model ids."""

from __future__ import annotations

import base64
import json
import math
import struct
from decimal import Decimal

import httpx
import respx
from jsonschema import validate

from gateway_common import catalog, users
from gateway_common.usage import recent_for_user
from tests.helpers import assert_error, bearer

OPENAI_EMBEDDINGS = "https://api.openai.com/v1/embeddings"
OPENROUTER_EMBEDDINGS = "https://openrouter.ai/api/v1/embeddings"
SMALL_PRICE = Decimal("0.00000002")


def embed(client, key, **body):
    return client.post("/v1/embeddings", headers=bearer(key), json={"model": "openai/text-embedding-3-small", **body})


@respx.mock
def test_embeddings_are_metered_like_chat(client, payer, providers):
    vectors = [[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]]
    route = respx.post(OPENAI_EMBEDDINGS).mock(return_value=httpx.Response(200, json={
        "object": "list", "model": "text-embedding-3-small", "usage": {"prompt_tokens": 7, "total_tokens": 7},
        "data": [{"object": "embedding", "index": 1, "embedding": vectors[1]},
                 {"object": "embedding", "index": 0, "embedding": vectors[0]}]}))
    response = embed(client, payer["key"], input=["first", "second"], encoding_format="base64")
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    decoded = [list(struct.unpack("<3f", base64.b64decode(d["embedding"]))) for d in data]
    assert [[round(x, 6) for x in v] for v in decoded] == vectors  # in input order, as float32
    sent = json.loads(route.calls.last.request.content)
    assert sent["model"] == "text-embedding-3-small" and sent["encoding_format"] == "float"
    record = recent_for_user(payer["user_id"])[0]
    assert record["endpoint"] == "/v1/embeddings" and record["prompt_tokens"] == 7 and record["cost"] == 7 * SMALL_PRICE
    user = users.get_user(payer["user_id"])
    assert user.available == Decimal("10.00") - 7 * SMALL_PRICE and user.reserved == 0


@respx.mock
def test_embeddings_fall_back_to_an_openai_compatible_route_and_failures_charge_nothing(client, payer, providers):
    dead = respx.post(OPENAI_EMBEDDINGS).mock(side_effect=httpx.ConnectError("connection refused"))
    fallback = respx.post(OPENROUTER_EMBEDDINGS).mock(return_value=httpx.Response(200, json={
        "object": "list", "model": "openai/text-embedding-3-small", "usage": {"prompt_tokens": 3, "total_tokens": 3},
        "data": [{"object": "embedding", "index": 0, "embedding": [0.5, 0.25]}]}))
    served = embed(client, payer["key"], input="hello", dimensions=2)
    assert served.status_code == 200, served.text
    assert served.headers["x-gateway-provider"] == "openrouter" and served.json()["data"][0]["embedding"] == [0.5, 0.25]
    assert dead.call_count == 2 and json.loads(fallback.calls.last.request.content) == {
        "model": "openai/text-embedding-3-small", "input": "hello", "dimensions": 2, "encoding_format": "float"}
    fallback.mock(return_value=httpx.Response(500, json={"error": {"message": "boom"}}))
    assert_error(embed(client, payer["key"], input="hello"), 502, "openai (", "openrouter (HTTP 500)")
    records = recent_for_user(payer["user_id"])
    assert sorted((r["status"], r["cost"]) for r in records) == [("error", 0), ("success", 3 * SMALL_PRICE)]
    user = users.get_user(payer["user_id"])
    assert user.available == Decimal("10.00") - 3 * SMALL_PRICE and user.reserved == 0


@respx.mock
def test_sandbox_keys_embed_in_the_sandbox_even_with_providers_configured(client, demo, providers):
    upstream = respx.post(OPENAI_EMBEDDINGS).mock(return_value=httpx.Response(500))
    response = embed(client, demo["test"]["key"], input="hello")
    assert response.status_code == 200 and response.headers["x-gateway-provider"] == "sandbox"
    assert not upstream.called


def test_sandbox_vectors_are_deterministic_unit_vectors_of_the_models_dimension(client, demo):
    key = demo["test"]["key"]
    first = embed(client, key, input="hello").json()["data"][0]["embedding"]
    again = embed(client, key, input=["hello", "other"]).json()["data"]
    assert len(first) == 1536 and again[0]["embedding"] == first and again[1]["embedding"] != first
    assert math.isclose(sum(x * x for x in first), 1.0, rel_tol=1e-9)
    large = client.post("/v1/embeddings", headers=bearer(key),
                        json={"model": "openai/text-embedding-3-large", "input": "hello"}).json()
    assert len(large["data"][0]["embedding"]) == 3072
    assert len(embed(client, key, input="hello", dimensions=256).json()["data"][0]["embedding"]) == 256


def test_embedding_requests_that_cannot_be_served_are_400s(client, demo):
    key = demo["test"]["key"]
    assert_error(embed(client, key, input="x", dimensions=5000), 400, "dimensions")
    assert_error(embed(client, key, input=[]), 400, "input")
    assert_error(embed(client, key, input=["ok", "word " * 7000]), 400, "input.1", "8191")
    assert embed(client, key, input=["word " * 3000] * 4).status_code == 200  # 4 inputs of ~5000 tokens: one request
    assert_error(client.post("/v1/embeddings", headers=bearer(key), json={"model": "openai/gpt-4o-mini", "input": "x"}),
                 400, "not an embedding model")


def chat(client, key, **body):
    payload = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "one two three four five"}], **body}
    return client.post("/v1/chat/completions", headers=bearer(key), json=payload)


def test_sandbox_honours_the_output_cap(client, demo):
    body = chat(client, demo["test"]["key"], max_tokens=4).json()
    assert body["usage"]["completion_tokens"] == 4 and body["choices"][0]["finish_reason"] == "length"
    assert len(body["choices"][0]["message"]["content"].split()) == 4


def test_sandbox_json_schema_output_conforms(client, demo):
    schema = {"type": "object", "additionalProperties": False, "required": ["name", "tags", "rating", "kind", "when"],
              "properties": {"name": {"type": "string"}, "tags": {"type": "array", "items": {"type": "string"}},
                             "rating": {"type": "number", "minimum": 1, "maximum": 5}, "kind": {"enum": ["a", "b"]},
                             "when": {"$ref": "#/$defs/when"}},
              "$defs": {"when": {"type": "object", "properties": {"day": {"type": "integer"}}, "required": ["day"]}}}
    body = chat(client, demo["test"]["key"],
                response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": schema}})
    validate(json.loads(body.json()["choices"][0]["message"]["content"]), schema)


def test_sandbox_calls_the_tool_the_request_requires(client, demo):
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {
        "type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}}},
             {"type": "function", "function": {"name": "other", "parameters": {"type": "object", "properties": {}}}}]
    key = demo["test"]["key"]
    named = chat(client, key, tools=tools, tool_choice={"type": "function", "function": {"name": "other"}}).json()
    assert named["choices"][0]["message"]["tool_calls"][0]["function"] == {"name": "other", "arguments": "{}"}
    required = chat(client, key, tools=tools, tool_choice="required").json()["choices"][0]
    assert required["finish_reason"] == "tool_calls" and required["message"]["content"] is None
    assert json.loads(required["message"]["tool_calls"][0]["function"]["arguments"]).keys() == {"q"}
    assert chat(client, key, tools=tools).json()["choices"][0]["message"].get("tool_calls") is None  # auto: text


def test_sandbox_ids_are_unique_for_identical_prompts(client, demo):
    ids = {chat(client, demo["test"]["key"]).json()["id"] for _ in range(3)}
    assert len(ids) == 3


def test_a_context_overflow_is_refused_like_providers_and_charges_nothing(client, demo):
    response = chat(client, demo["live"]["key"], model="openai/gpt-4",
                    messages=[{"role": "user", "content": "word " * 8000}])
    body = assert_error(response, 400, "8191-token context window")
    assert body["error"]["code"] == "context_length_exceeded"
    user = users.get_user(demo["live"]["user_id"])
    assert user.available == Decimal("25.00") and user.reserved == 0


def test_bare_model_ids_resolve_when_unambiguous(client, demo, monkeypatch):
    key = demo["test"]["key"]
    assert chat(client, key, model="gpt-4o-mini").json()["model"] == "openai/gpt-4o-mini"
    assert chat(client, key, model="claude-3-5-haiku-20241022").json()["model"] == "anthropic/claude-3.5-haiku"
    for alias, model in (("claude-3-5-haiku-latest", "anthropic/claude-3.5-haiku"),
                         ("claude-sonnet-4-0", "anthropic/claude-sonnet-4"), ("claude-3-haiku", "anthropic/claude-3-haiku")):
        assert chat(client, key, model=alias).json()["model"] == model  # Anthropic's aliases of dated snapshots
    assert_error(chat(client, key, model="claude-9-latest"), 400, "unknown model")
    twin = catalog.models()["openai/gpt-4o-mini"].model_copy(update={"id": "azure/gpt-4o-mini", "provider": "azure"})
    models = {**catalog.models(), twin.id: twin}
    monkeypatch.setattr(catalog, "models", lambda: models)
    body = assert_error(chat(client, key, model="gpt-4o-mini"), 400, "ambiguous", "azure/gpt-4o-mini", "openai/gpt-4o-mini")
    assert body["error"]["param"] == "model"


def test_n_choices_are_reserved_n_times(client, dynamo):
    """n=8 can produce 8 times the output: admission reserves that, so a balance that covers one choice refuses eight."""
    from .conftest import make_payer

    payer = make_payer("tight", Decimal("0.01"))  # gpt-4, 100 output tokens at 0.00006: 0.006 per choice
    body = {"model": "openai/gpt-4", "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}]}
    assert chat(client, payer["key"], **body).status_code == 200
    assert_error(chat(client, payer["key"], **body, n=8), 402)


def test_cache_counts_above_the_prompt_never_make_a_negative_charge():
    entry = catalog.get_model("anthropic/claude-3.5-haiku")
    assert catalog.token_cost(entry, 100, 0, cached_tokens=500, cache_write_tokens=500) == 100 * Decimal("0.00000008")
    assert catalog.token_cost(entry, 100, 0, cached_tokens=-50) == 100 * Decimal("0.0000008")
