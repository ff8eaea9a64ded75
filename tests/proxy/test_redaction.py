"""Provider keys never reach a client or a log: an upstream (respx) that echoes our key, fully or in part, on the
400 path, the 502 path, before a stream starts and in the middle of one (the SSE error event), with the logs read."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from types import SimpleNamespace

import httpx
import pytest
import respx
from fastapi import APIRouter
from mangum import Mangum

from gateway_common import web
from gateway_common.observability import logger
from gateway_common.redaction import MIN_RUN, redact, redact_path, register_secret
from local.paths import ROOT
from tests.helpers import bearer
from tests.servers import gateway_server

from .wire import anthropic_sse, openai_sse, sse_events

OPENAI = "https://api.openai.com/v1/chat/completions"
OPENROUTER = "https://openrouter.ai/api/v1/chat/completions"
ANTHROPIC = "https://api.anthropic.com/v1/messages"
ANTHROPIC_KEY = "sk-ant-api03-Q7vRk2LmW9xZp4TnB8cYd1FgH6jKs3Ue5Ai0Ow"
OPENAI_KEY = "sk-proj-N4bV8cX2zL6kJ9hG3fD7sA1qW5eR0tY"
OPENROUTER_KEY = "sk-or-v1-7f3e9a1c5b8d2e4f6a0b9c8d7e6f5a4b"


@pytest.fixture
def real_looking_keys(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", ANTHROPIC_KEY)
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    monkeypatch.setenv("OPENROUTER_API_KEY", OPENROUTER_KEY)


@pytest.fixture
def log_lines():
    stream = io.StringIO()
    previous = logger.registered_handler.setStream(stream)
    yield stream
    logger.registered_handler.setStream(previous)


def runs_of(key: str) -> list[str]:
    """Every MIN_RUN-character piece of a key: none may appear in what the client or the log sees."""
    return [key[i:i + MIN_RUN] for i in range(len(key) - MIN_RUN + 1)]


def assert_no_piece(text: str, *keys: str) -> None:
    for key in keys:
        leaked = [piece for piece in runs_of(key) if piece in text]
        assert not leaked, (leaked, text)


def test_redact_covers_whole_keys_partial_runs_and_credential_shapes(real_looking_keys):
    assert redact(f"overloaded (key {ANTHROPIC_KEY})") == "overloaded (key [provider key])"
    assert redact(f"bad key {ANTHROPIC_KEY[:28]}") == "bad key [provider key]"
    # a piece from the middle of the key has no sk- shape: it is caught as a run of the configured key
    assert redact(f"saw {ANTHROPIC_KEY[20:30]} here") == "saw [provider key] here"
    assert redact(f"saw {ANTHROPIC_KEY[20:27]} here") == f"saw {ANTHROPIC_KEY[20:27]} here"  # 7 characters pass
    # shapes, configured or not
    assert redact("Authorization: Bearer abc123def456ghi") == "Authorization: [redacted]"
    assert redact("someone's sk-live-0123456789abcdef leaked") == "someone's [redacted] leaked"
    assert redact("gw_live_" + "A" * 43) == "[redacted]"
    assert redact("masked gw_live_abcd…wxyz and key_0123abcd stay") == "masked gw_live_abcd…wxyz and key_0123abcd stay"


def test_secrets_fetched_at_run_time_are_filtered_too(monkeypatch):
    fetched = "ssm-fetched-9Zq8Xw7Vu6Ts5Rp"
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert redact(f"echo {fetched[3:15]}") == f"echo {fetched[3:15]}"
    register_secret(fetched)
    assert redact(f"echo {fetched[3:15]}") == "echo [provider key]"


def test_key_looking_path_segments_are_masked():
    assert redact_path("/api/usage/CHA-B21AF1CF-BD99A579-01F8A4C0-ECFA58EB") == "/api/usage/[redacted]"
    assert redact_path("/api/usage/gw_live_" + "x" * 43) == "/api/usage/[redacted]"
    assert redact_path("/user/api-keys/key_0123abcd") == "/user/api-keys/key_0123abcd"


@respx.mock
def test_a_partial_echo_on_the_400_path_never_reaches_the_client_or_the_log(client, payer, real_looking_keys, log_lines):
    respx.post(OPENAI).mock(return_value=httpx.Response(400, json={"error": {
        "message": f"Invalid request for key {OPENAI_KEY[:28]}… (fragment {OPENAI_KEY[12:30]})"}}))
    response = client.post("/v1/chat/completions", headers=bearer(payer["key"]), json={
        "model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})
    assert response.status_code == 400, response.text
    assert "[provider key]" in response.json()["detail"]
    assert_no_piece(response.text, OPENAI_KEY)
    assert_no_piece(log_lines.getvalue(), OPENAI_KEY)


@respx.mock
def test_full_and_partial_echoes_on_the_502_path_json_and_stream(client, payer, real_looking_keys, log_lines):
    respx.post(OPENAI).mock(return_value=httpx.Response(401, json={"error": {"message": f"Invalid key {OPENAI_KEY}"}}))
    respx.post(OPENROUTER).mock(return_value=httpx.Response(
        503, text=f"upstream overloaded; Authorization: Bearer {OPENROUTER_KEY[:20]} ({OPENROUTER_KEY[9:37]})"))
    for stream in (False, True):
        response = client.post("/v1/chat/completions", headers=bearer(payer["key"]), json={
            "model": "openai/gpt-4o-mini", "stream": stream, "messages": [{"role": "user", "content": "hi"}]})
        assert response.status_code == 502, response.text
        assert "openai (HTTP 401)" in response.json()["detail"]
        assert_no_piece(response.text, OPENAI_KEY, OPENROUTER_KEY)
    assert "upstream failure" in log_lines.getvalue()
    assert_no_piece(log_lines.getvalue(), OPENAI_KEY, OPENROUTER_KEY)


@respx.mock
def test_a_key_echoed_in_an_error_event_mid_stream_is_redacted_in_the_sse_error(client, payer, real_looking_keys,
                                                                                log_lines):
    cut = anthropic_sse(["Once upon ", "a time"], complete=False)
    echo = {"type": "error", "error": {"type": "overloaded_error",
                                       "message": f"overloaded (key {ANTHROPIC_KEY}; {ANTHROPIC_KEY[14:40]})"}}
    cut += f"event: error\ndata: {json.dumps(echo)}\n\n".encode()
    respx.post(ANTHROPIC).mock(return_value=httpx.Response(200, content=cut))
    response = client.post("/v1/chat/completions", headers=bearer(payer["key"]), json={
        "model": "anthropic/claude-3.5-haiku", "stream": True, "messages": [{"role": "user", "content": "Tell a story"}]})
    events = sse_events(response.text)
    assert events[-1]["error"]["code"] == "upstream_stream_broken"
    assert "overloaded (key [provider key]; [provider key])" in events[-1]["error"]["message"]
    assert_no_piece(response.text, ANTHROPIC_KEY)
    assert_no_piece(log_lines.getvalue(), ANTHROPIC_KEY)


@respx.mock
def test_an_openai_compatible_stream_error_mid_way_is_redacted(client, payer, real_looking_keys):
    started = openai_sse(["Hello"], done=False)
    started += f'data: {json.dumps({"error": {"message": f"quota of {OPENAI_KEY[5:33]} exceeded"}})}\n\n'.encode()
    respx.post(OPENAI).mock(return_value=httpx.Response(200, content=started))
    response = client.post("/v1/chat/completions", headers=bearer(payer["key"]), json={
        "model": "openai/gpt-4o-mini", "stream": True, "messages": [{"role": "user", "content": "hi"}]})
    events = sse_events(response.text)
    assert events[-1]["error"]["code"] == "upstream_stream_broken" and "[provider key]" in events[-1]["error"]["message"]
    assert_no_piece(response.text, OPENAI_KEY)


def test_the_logger_filters_extra_fields_and_tracebacks(real_looking_keys, log_lines):
    try:
        raise RuntimeError(f"boom with {ANTHROPIC_KEY[3:30]}")
    except RuntimeError:
        logger.exception("failed", extra={"header": f"Bearer {OPENAI_KEY}"})
    text = log_lines.getvalue()
    assert "failed" in text and "RuntimeError" in text
    assert_no_piece(text, ANTHROPIC_KEY, OPENAI_KEY)


class _Formatted(logging.Handler):
    """Each record as a text formatter writes it, and what a JSON formatter (Lambda's) reads: the exception itself."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(logging.Formatter().format(record))
        if record.exc_info and record.exc_info[1] is not None:
            self.lines.append(str(record.exc_info[1]))


def _failing_app():
    router = APIRouter()

    @router.get("/boom")
    def boom() -> dict[str, str]:
        raise RuntimeError(f"upstream said: invalid key {ANTHROPIC_KEY} (prefix {OPENAI_KEY[:26]})")

    return web.create_app("boom", [router])


def test_an_unhandled_exception_logged_by_mangum_or_uvicorn_is_redacted(real_looking_keys, log_lines):
    """Starlette re-raises after our 500 answer, and the server logs the traceback on its own logger (Mangum in every
    Lambda HTTP function, uvicorn for chat): the traceback is kept, the keys in it are not."""
    app = _failing_app()
    captured = _Formatted()
    logging.getLogger("mangum.http").addHandler(captured)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        event = json.loads((ROOT / "events" / "HealthFunction.json").read_text())
        event.update(path="/boom", resource="/boom")
        answer = Mangum(app, lifespan="off")(event, SimpleNamespace(aws_request_id="req-boom"))
        assert answer["statusCode"] == 500 and "Internal server error" in answer["body"]
        with gateway_server(app, log_level="info") as base:  # uvicorn's logging setup drops handlers: add ours now
            logging.getLogger("uvicorn.error").addHandler(captured)
            assert httpx.get(f"{base}/boom", timeout=10).status_code == 500
    finally:
        for name in ("mangum.http", "uvicorn.error"):
            logging.getLogger(name).removeHandler(captured)
        loop.close()
        asyncio.set_event_loop(None)
    text = "\n".join(captured.lines)
    assert text.count("RuntimeError: upstream said: invalid key [provider key]") == 2, text  # one per server
    assert "Traceback" in text and "in boom" in text
    assert_no_piece(text, ANTHROPIC_KEY, OPENAI_KEY)
    assert_no_piece(log_lines.getvalue(), ANTHROPIC_KEY, OPENAI_KEY)  # our own "unhandled error" line
    assert "unhandled error" in log_lines.getvalue()


@respx.mock
def test_the_responses_and_messages_surfaces_redact_echoes_too(client, payer, real_looking_keys, log_lines):
    """The other surfaces built on the same adapters: a refused request (400), a failed one (502) and a stream cut
    mid-way with an echo, in Anthropic's error shape on /v1/messages and OpenAI's on /v1/responses."""
    echo = f"Invalid key {OPENAI_KEY} ({OPENAI_KEY[3:31]})"
    chat = respx.post(OPENAI)
    respx.post(OPENROUTER).mock(return_value=httpx.Response(503, text=f"overloaded; Bearer {OPENROUTER_KEY}"))
    messages = {"model": "openai/gpt-4o-mini", "max_tokens": 20, "messages": [{"role": "user", "content": "hi"}]}
    responses = {"model": "openai/gpt-4o-mini", "input": "hi", "max_output_tokens": 20}
    seen = []
    for status in (400, 401):
        chat.mock(return_value=httpx.Response(status, json={"error": {"message": echo}}))
        for path, body in (("/v1/messages", messages), ("/v1/responses", responses)):
            response = client.post(path, headers=bearer(payer["key"]), json=body)
            assert response.status_code == (400 if status == 400 else 502), response.text
            assert "[provider key]" in response.text
            seen.append(response.text)
    cut = openai_sse(["Hello"], done=False)
    cut += f'data: {json.dumps({"error": {"message": echo}})}\n\n'.encode()
    chat.mock(return_value=httpx.Response(200, content=cut))
    for path, body, error in (("/v1/messages", messages, "event: error"), ("/v1/responses", responses, '"type":"error"')):
        response = client.post(path, headers=bearer(payer["key"]), json={**body, "stream": True})
        assert response.status_code == 200 and error in response.text and "[provider key]" in response.text
        seen.append(response.text)
    assert_no_piece("\n".join(seen), OPENAI_KEY, OPENROUTER_KEY)
    assert_no_piece(log_lines.getvalue(), OPENAI_KEY, OPENROUTER_KEY)


def test_both_error_shapes_are_a_last_gate(real_looking_keys):
    """Whatever path builds a message, the OpenAI envelope and Anthropic's error body filter it on the way out."""
    from gateway_common.errors import envelope
    from gw_chat.messages_api import error_body

    text = f"failed for {ANTHROPIC_KEY[2:30]} / Bearer {OPENAI_KEY}"
    for body in (envelope(502, text), error_body(502, text)):
        assert_no_piece(json.dumps(body), ANTHROPIC_KEY, OPENAI_KEY)
        assert "[provider key]" in json.dumps(body)
