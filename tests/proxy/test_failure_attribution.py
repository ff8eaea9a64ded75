"""Issue 17: a failed upstream call is recorded with the providers it tried and the last one's error class (it was
recorded with provider "none"), and its 502 carries X-Gateway-Request-Id, the id of that usage record."""

from __future__ import annotations

import httpx
import respx

from gateway_common.usage import recent_for_user
from tests.helpers import bearer

from .wire import openai_sse

OPENAI = "https://api.openai.com/v1/chat/completions"
OPENROUTER = "https://openrouter.ai/api/v1/chat/completions"
BODY = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "Say hello"}], "max_tokens": 20}


def test_a_502_names_its_request_and_the_record_names_the_providers_tried(client, payer, providers):
    with respx.mock:
        respx.post(OPENAI).mock(return_value=httpx.Response(503, json={"error": {"message": "overloaded"}}))
        respx.post(OPENROUTER).mock(return_value=httpx.Response(500, json={"error": {"message": "boom"}}))
        response = client.post("/v1/chat/completions", headers=bearer(payer["key"]), json=BODY)
    assert response.status_code == 502, response.text
    request_id = response.headers["X-Gateway-Request-Id"]
    [record] = recent_for_user(payer["user_id"])
    assert record["request_id"] == request_id and record["status"] == "error" and record["http_status"] == 502
    assert record["provider"] == "openrouter" and record["providers_tried"] == ["openai", "openrouter"]
    assert record["error_class"] == "server_error" and record["cost"] == 0


def test_a_provider_400_and_a_broken_stream_are_attributed_too(client, payer, providers):
    with respx.mock:
        respx.post(OPENAI).mock(return_value=httpx.Response(400, json={"error": {"message": "bad"}}))
        refused = client.post("/v1/chat/completions", headers=bearer(payer["key"]), json=BODY)
    assert refused.status_code == 400 and refused.headers["X-Gateway-Request-Id"].startswith("req_")
    with respx.mock:
        respx.post(OPENAI).mock(return_value=httpx.Response(200, content=openai_sse(["Once upon"], done=False)))
        broken = client.post("/v1/chat/completions", headers=bearer(payer["key"]), json={**BODY, "stream": True})
    assert "upstream_stream_broken" in broken.text
    records = {r["request_id"]: r for r in recent_for_user(payer["user_id"])}
    assert records[refused.headers["X-Gateway-Request-Id"]]["providers_tried"] == ["openai"]
    assert records[refused.headers["X-Gateway-Request-Id"]]["error_class"] == "bad_request"
    stream_record = records[broken.headers["X-Gateway-Request-Id"]]
    assert stream_record["provider"] == "openai" and stream_record["error_class"] == "stream_broken"
    assert stream_record["status"] == "partial"


SURFACES = [  # issue 11's surfaces fail through the same settle: the same record, the same header
    ("/v1/messages", {"model": "openai/gpt-4o-mini", "max_tokens": 20, "messages": [{"role": "user", "content": "hi"}]},
     OPENAI),
    ("/v1/responses", {"model": "openai/gpt-4o-mini", "input": "hi", "max_output_tokens": 20}, OPENAI),
    ("/v1/embeddings", {"model": "openai/text-embedding-3-small", "input": "hi"}, "https://api.openai.com/v1/embeddings"),
]


def test_every_surface_names_its_failed_request_and_the_provider(client, payer, providers):
    for path, body, upstream in SURFACES:
        with respx.mock:
            respx.post(upstream).mock(return_value=httpx.Response(503, json={"error": {"message": "overloaded"}}))
            respx.post(OPENROUTER).mock(return_value=httpx.Response(503, json={"error": {"message": "overloaded"}}))
            respx.post("https://openrouter.ai/api/v1/embeddings").mock(
                return_value=httpx.Response(503, json={"error": {"message": "overloaded"}}))
            response = client.post(path, headers=bearer(payer["key"]), json=body)
        assert response.status_code >= 500, (path, response.text)
        request_id = response.headers["X-Gateway-Request-Id"]
        record = next(r for r in recent_for_user(payer["user_id"], limit=100) if r["request_id"] == request_id)
        assert record["endpoint"] == path and record["status"] == "error" and record["cost"] == 0, path
        assert record["provider"] != "none" and record["providers_tried"][0] == "openai", (path, record)
        assert record["error_class"] == "server_error", path


def test_a_broken_stream_is_attributed_on_the_responses_and_messages_streams(client, payer, providers):
    streams = [("/v1/responses", {"model": "openai/gpt-4o-mini", "input": "hi", "stream": True}),
               ("/v1/messages", {"model": "openai/gpt-4o-mini", "max_tokens": 20, "stream": True,
                                 "messages": [{"role": "user", "content": "hi"}]})]
    for path, body in streams:
        with respx.mock:
            respx.post(OPENAI).mock(return_value=httpx.Response(200, content=openai_sse(["Once upon"], done=False)))
            broken = client.post(path, headers=bearer(payer["key"]), json=body)
        assert broken.status_code == 200, broken.text
        record = next(r for r in recent_for_user(payer["user_id"], limit=100)
                      if r["request_id"] == broken.headers["X-Gateway-Request-Id"])
        assert (record["provider"], record["error_class"], record["status"]) == ("openai", "stream_broken", "partial"), path
