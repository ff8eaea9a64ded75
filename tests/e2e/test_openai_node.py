"""End to end: the official openai Node SDK (from npm, pinned by tests/e2e/node/package-lock.json) against the gateway
served by uvicorn on 127.0.0.1: chat, a chat stream with usage, a Responses stream.

``npm ci`` installs the locked SDK into the gitignored tests/e2e/node/node_modules on first use (the registry is
reachable; a later run with the same lockfile reuses the install). Skipped, saying why, when node or npm is missing."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.servers import demo_gateway

NODE_DIR = Path(__file__).with_name("node")


def _installed() -> bool:
    """npm ci when node_modules is absent or older than the lockfile."""
    marker = NODE_DIR / "node_modules" / ".package-lock.json"
    if marker.exists() and marker.stat().st_mtime >= (NODE_DIR / "package-lock.json").stat().st_mtime:
        return True
    done = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts"], cwd=NODE_DIR,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return True


@pytest.fixture(scope="module")
def node_results() -> Iterator[dict[str, Any]]:
    if not (shutil.which("node") and shutil.which("npm")):
        pytest.skip("node and npm are needed for the Node SDK test (apt-get install nodejs npm)")
    _installed()
    with demo_gateway() as stack:
        done = subprocess.run(["node", "client.mjs", stack["base"], stack["keys"]["test"]["key"]], cwd=NODE_DIR,
                              capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr[-3000:]
        yield json.loads(done.stdout.strip().splitlines()[-1])


def test_chat(node_results):
    chat = node_results["chat"]
    assert chat["model"] == "openai/gpt-4o-mini" and chat["text"].endswith("Hello from Node")
    assert chat["usage"]["completion_tokens"] == 6


def test_chat_stream_with_usage(node_results):
    stream = node_results["stream"]
    assert stream["text"].endswith("one two three four five") and stream["usage"]["completion_tokens"] == 8


def test_responses_stream(node_results):
    responses = node_results["responses"]
    assert responses["types"][0] == "response.created" and responses["types"][-1] == "response.completed"
    assert "response.output_text.delta" in responses["types"]
    assert responses["deltas"] == responses["outputText"] and responses["outputText"].endswith("Write a haiku")
    assert responses["status"] == "completed" and responses["usage"]["output_tokens"] > 0
