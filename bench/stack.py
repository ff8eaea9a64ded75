"""The local stack as `make run` starts it (`python -m local.server`: the gateway, the moto DynamoDB server and the jobs,
three processes), pointed at a fake upstream in a fourth; plus CPU-time readings of any process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from local.processes import free_port

ROOT = Path(__file__).resolve().parent.parent
CHAT_BODY = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "Hello"}], "max_tokens": 32}
_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (its threads included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found.extend(int(c) for c in (task / "children").read_text().split())
    return found


def command_line(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


def wait_until_up(url: str, process: subprocess.Popen[Any], seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args} exited with status {process.returncode}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not answer within {seconds} s") from None
            time.sleep(0.1)  # waiting for a process to start


def stop(process: subprocess.Popen[Any]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def fake_upstream() -> Iterator[str]:
    """The fake OpenAI upstream in its own process; yields its base URL (…/v1)."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "bench.fake_upstream", str(port)], cwd=ROOT)
    try:
        wait_until_up(f"http://127.0.0.1:{port}/", process)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        stop(process)


@dataclass
class Gateway:
    base: str
    pid: int
    keys: dict[str, Any]
    headers: dict[str, str]

    def dynamodb_pid(self) -> int | None:
        return next((c for c in children(self.pid) if "local.dynamodb_server" in command_line(c)), None)


@contextmanager
def make_run(upstream: str, extra_env: dict[str, str] | None = None) -> Iterator[Gateway]:
    """`make run` (python -m local.server) with OpenAI pointed at ``upstream``; the admin demo account gets credits and
    limits that a long bench cannot exhaust (through the admin API). Yields the admin's headers with the base URL."""
    port = free_port()
    keys_file = Path(tempfile.mkdtemp(prefix="gw-bench-")) / "dev-keys.json"
    env = {**os.environ, "PORT": str(port), "GATEWAY_KEYS_FILE": str(keys_file), "LOG_LEVEL": "warning",
           "LOCAL_JOB_INTERVAL": "60", "OPENAI_API_KEY": "sk-bench", "OPENAI_BASE_URL": upstream,
           "KEY_CACHE_TTL_SECONDS": "30", "POWERTOOLS_LOG_LEVEL": "WARNING", **(extra_env or {})}
    env.pop("DYNAMODB_ENDPOINT_URL", None)
    process = subprocess.Popen([sys.executable, "-m", "local.server"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base + "/api/health", process)
        keys = json.loads(keys_file.read_text())
        admin = keys["admin"]
        headers = {"Authorization": f"Bearer {admin['key']}"}
        with httpx.Client(base_url=base, headers=headers, timeout=30) as http:
            http.post("/admin/add_credits", json={"user_id": admin["user_id"], "credits": "1000000",
                                                  "reason": "bench"}).raise_for_status()
            http.post("/admin/rate-limits", json={"user_id": admin["user_id"], "requests_per_minute": 10_000_000,
                                                  "requests_per_hour": 10_000_000, "requests_per_day": 10_000_000,
                                                  "reason": "bench"}).raise_for_status()
            response = http.post("/v1/chat/completions", json=CHAT_BODY)
            response.raise_for_status()
            assert response.headers["x-gateway-provider"] == "openai", response.headers
        yield Gateway(base, process.pid, keys, headers)
    finally:
        stop(process)
