"""Chat history (CRUD, ?session_id= appends, users see only their own), model listings, the catalog refresh job."""

from __future__ import annotations

import json
import threading

import httpx
import respx

from gateway_common import catalog, db
from gw_catalog_refresh import logic as refresh
from tests.helpers import assert_error, bearer


def test_sessions_crud_and_chat_appends_the_exchange(client, demo):
    key = demo["test"]["key"]
    created = client.post("/chat/sessions", headers=bearer(key), json={"name": "Trip", "description": "Planning"})
    assert created.status_code == 200, created.text
    sid = created.json()["session_id"]
    assert isinstance(sid, int) and created.json()["name"] == "Trip"

    chat = client.post(f"/v1/chat/completions?session_id={sid}", headers=bearer(key),
                       json={"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "Where to go?"}]})
    assert chat.status_code == 200
    session = client.get(f"/chat/sessions/{sid}", headers=bearer(key)).json()["session"]
    assert session["message_count"] == 2
    assert [(m["id"], m["role"]) for m in session["messages"]] == [(1, "user"), (2, "assistant")]
    assert session["messages"][0]["content"] == "Where to go?"
    assert session["messages"][1]["content"] == chat.json()["choices"][0]["message"]["content"]

    listing = client.get("/chat/sessions?limit=10", headers=bearer(key)).json()
    assert listing["count"] == 1 and listing["data"][0]["id"] == sid and listing["data"][0]["message_count"] == 2

    other = demo["admin"]["key"]
    assert_error(client.get(f"/chat/sessions/{sid}", headers=bearer(other)), 404, "does not exist")
    assert_error(client.post(f"/v1/chat/completions?session_id={sid}", headers={"X-License-Key": demo["license_pro"]["key"]},
                             json={"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "x"}]}), 404)
    assert client.delete(f"/chat/sessions/{sid}", headers=bearer(key)).json()["success"] is True
    assert_error(client.get(f"/chat/sessions/{sid}", headers=bearer(key)), 404)
    assert client.get("/chat/sessions", headers=bearer(key)).json()["count"] == 0


def test_bad_session_input_is_a_clear_400(client, demo):
    assert_error(client.post("/chat/sessions", headers=bearer(demo["test"]["key"]), json={"nam": "x"}), 400, "nam")
    assert_error(client.get("/chat/sessions/abc", headers=bearer(demo["test"]["key"])), 400, "session_id")


def test_model_listings(client, demo):
    body = client.get("/models", params={"provider": "anthropic", "limit": 2, "offset": 0}).json()
    assert body["success"] is True and body["count"] == 2 and body["total"] >= 4
    assert all(m["provider"] == "anthropic" for m in body["data"])
    mini = next(m for m in client.get("/models?limit=1000").json()["data"] if m["id"] == "openai/gpt-4o-mini")
    assert mini["pricing"]["prompt"] == 1.5e-7 and mini["context_length"] == 128000
    via_chutes = client.get("/models", params={"provider": "chutes"}).json()["data"]
    assert via_chutes and all("chutes" in m["gateways"] for m in via_chutes)
    assert_error(client.get("/models", params={"provider": "nobody"}), 400, "Unknown provider")

    providers = client.get("/models/providers", params={"moderated_only": "true"}).json()
    assert {p["slug"] for p in providers["data"]} == {"openai", "anthropic", "google"}
    assert next(p for p in providers["data"] if p["slug"] == "openai")["model_count"] >= 6
    assert_error(client.get("/models/providers", params={"gateway": "x"}), 400, "gateway")

    openai_list = client.get("/v1/models", headers=bearer(demo["live"]["key"])).json()
    assert openai_list["object"] == "list" and {"id", "object", "created", "owned_by"} <= set(openai_list["data"][0])
    assert_error(client.get("/v1/models"), 401)


@respx.mock
def test_catalog_refresh_updates_prices_and_adds_models(client, dynamo, monkeypatch):
    monkeypatch.setenv("OPENROUTER_API_KEY", "sk-or-test")
    respx.get("https://openrouter.ai/api/v1/models").mock(return_value=httpx.Response(200, json={"data": [
        {"id": "openai/gpt-4o-mini", "name": "OpenAI: GPT-4o-mini", "context_length": 128000,
         "pricing": {"prompt": "0.0000002", "completion": "0.0000008", "request": "0", "image": "0"},
         "top_provider": {"context_length": 128000, "max_completion_tokens": 16384, "is_moderated": True},
         "architecture": {"modality": "text->text"}},
        {"id": "x-ai/grok-3-mini", "name": "xAI: Grok 3 Mini", "context_length": 131072,
         "pricing": {"prompt": "0.0000003", "completion": "0.0000005"}, "top_provider": {}},
        {"id": "openrouter/auto", "name": "Auto Router", "context_length": 2000000,
         "pricing": {"prompt": "-1", "completion": "-1"}},
    ]}))
    from gw_catalog_refresh.app import handler

    assert handler({"source": "aws.events"}, None) == {"providers": 1, "models_written": 2}
    models = catalog.models()
    assert models["openai/gpt-4o-mini"].pricing.prompt == catalog.Pricing(prompt="0.0000002").prompt
    assert [r.provider for r in models["openai/gpt-4o-mini"].routes][:2] == ["openai", "openrouter"]  # routes kept
    assert models["x-ai/grok-3-mini"].routes[0].provider == "openrouter"
    assert "openrouter/auto" not in models
    listed = {m["id"] for m in client.get("/models?limit=1000").json()["data"]}
    assert "x-ai/grok-3-mini" in listed


def test_catalog_refresh_without_credentials_does_nothing(dynamo):
    catalog.models()  # loaded
    assert refresh.refresh() == {"providers": 0, "models_written": 0}
    assert catalog._loaded and dynamo.scan(TableName=db.table_name(catalog.CATALOG_TABLE))["Items"] == []


def test_the_gateway_documents_examples_work_verbatim(client, demo):
    """The request bodies of the chat, responses and image sections of the gateway API document, as written, answer
    with the fields its example responses show (served by the sandbox: no provider credentials in tests)."""
    from gateway_common.usage import recent_for_user

    headers = bearer(demo["live"]["key"])
    chat = client.post("/v1/chat/completions", headers=headers, json={
        "model": "openai/gpt-4", "messages": [{"role": "user", "content": "Hello, world!"}], "max_tokens": 100,
        "temperature": 0.7})
    assert chat.status_code == 200, chat.text
    body = chat.json()
    assert body["object"] == "chat.completion" and body["model"] == "openai/gpt-4" and body["id"].startswith("chatcmpl-")
    assert body["choices"][0]["message"]["role"] == "assistant" and body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"]["total_tokens"] == body["usage"]["prompt_tokens"] + body["usage"]["completion_tokens"] > 0

    responses = client.post("/v1/responses", headers=headers, json={
        "model": "openai/gpt-4", "input": "Hello, world!", "max_tokens": 100, "temperature": 0.7,
        "response_format": {"type": "json_object"}})
    assert responses.status_code == 200, responses.text
    body = responses.json()
    assert body["object"] == "response" and body["model"] == "openai/gpt-4" and body["created"] == body["created_at"] > 0
    assert json.loads(body["output_text"])["reply"].startswith("Sandbox reply")  # JSON asked, JSON answered
    assert body["output"][0]["content"][0]["text"] == body["output_text"] and body["max_output_tokens"] == 100
    usage = body["usage"]
    assert usage["prompt_tokens"] == usage["input_tokens"] > 0 and usage["completion_tokens"] == usage["output_tokens"] > 0
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]

    image = client.post("/images/generate", headers=headers, json={
        "prompt": "A beautiful sunset over mountains", "model": "stability-ai/stable-diffusion-xl", "size": "1024x1024",
        "quality": "standard"})
    assert image.status_code == 200, image.text
    body = image.json()
    assert body["success"] is True and len(body["data"]) == 1
    assert body["data"][0]["url"].startswith("data:image/png;base64,")
    assert body["data"][0]["revised_prompt"] == "A beautiful sunset over mountains"
    assert body["cost"] == 0.002 and image.headers["x-gateway-cost"] == "0.002 USD"  # the catalog's per-image price
    assert sorted(r["endpoint"] for r in recent_for_user(demo["live"]["user_id"])) == [
        "/images/generate", "/v1/chat/completions", "/v1/responses"]


def test_a_stale_catalog_overlay_is_reread_in_the_background_not_on_the_request(dynamo, monkeypatch):
    clock = {"now": 1000.0}
    monkeypatch.setattr(catalog, "_clock", lambda: clock["now"])
    scans: list[str] = []
    def count(**_: object) -> None:
        scans.append(threading.current_thread().name)

    db.client().meta.events.register("before-call.dynamodb.Scan", count)  # the one client every thread shares

    def put(model_id: str) -> None:
        entry = catalog._bundled()[0]["openai/gpt-4o-mini"].model_copy(update={"id": model_id})
        db.table(catalog.CATALOG_TABLE).put_item(Item={"model_id": model_id, "data": json.dumps(entry.model_dump(mode="json"))})

    put("x-ai/first")
    catalog.clear_cache()
    assert "x-ai/first" in catalog.models() and scans == ["MainThread"]  # the process's first read is synchronous
    put("x-ai/second")
    clock["now"] += catalog.OVERLAY_TTL_SECONDS - 1
    assert "x-ai/second" not in catalog.models() and len(scans) == 1  # fresh: no read at all
    clock["now"] += 2
    assert "x-ai/second" not in catalog.models()  # stale: answered from the copy at hand...
    catalog.wait_for_refresh()
    assert scans[1:] == ["catalog-refresh"]  # ...while one background thread re-read it
    assert "x-ai/second" in catalog.models() and len(scans) == 2
    db.client().meta.events.unregister("before-call.dynamodb.Scan", count)


def test_anthropic_clients_get_anthropics_model_pages(client, demo):
    anthropic_headers = {"x-api-key": demo["live"]["key"], "anthropic-version": "2023-06-01"}
    ids = [m["id"] for m in client.get("/v1/models", headers=bearer(demo["live"]["key"])).json()["data"]]

    def page(**params):
        return client.get("/v1/models", headers=anthropic_headers, params=params).json()

    after = page(limit=3, after_id=ids[2])
    assert [m["id"] for m in after["data"]] == ids[3:6] and after["has_more"] and after["first_id"] == ids[3]
    before = page(limit=2, before_id=ids[3])
    assert [m["id"] for m in before["data"]] == ids[1:3] and before["has_more"]
    assert page(limit=2, before_id=ids[2])["has_more"] is False
    last = page(limit=1000)
    assert len(last["data"]) == len(ids) and last["has_more"] is False and last["data"][0]["type"] == "model"
    assert client.get("/v1/models", headers=anthropic_headers, params={"after_id": "nope"}).status_code == 400
    assert client.get("/v1/models", headers={"x-api-key": "gw_live_" + "x" * 40}).status_code == 401
