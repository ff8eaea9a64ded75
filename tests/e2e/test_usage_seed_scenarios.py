"""Acceptance 1 of issue 4: the three testing scenarios of seed 003, verbatim (host replaced), against the real local
server (`python -m local.server`, what `make run` starts) in a subprocess, with curl; then `make rollup`'s trigger."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
SEED_HOST = "https://api.chatello.io"

SCENARIO_1 = r"""
# Test per-minute limit (10 requests for Pro)
for i in {1..15}; do
  echo "Request $i:"
  curl -s https://api.chatello.io/api/limits/check \
    -H "X-License-Key: CHA-B21AF1CF-BD99A579-01F8A4C0-ECFA58EB" \
    | grep -E "(can_make_request|blocking_factors)"
done
"""
SCENARIO_2 = r"""
# Check budget status
curl -s https://api.chatello.io/api/usage/current \
  -H "X-License-Key: CHA-B21AF1CF-BD99A579-01F8A4C0-ECFA58EB" \
  | grep -A 5 "monthly_budget"
"""
SCENARIO_3_INVALID = r"""
# Invalid license key
curl -s https://api.chatello.io/api/usage/current \
  -H "X-License-Key: INVALID-KEY-TEST" \
  | grep error
"""
SCENARIO_3_MISSING = r"""
# Missing license key
curl -s https://api.chatello.io/api/usage/current
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    keys_file = tmp_path_factory.mktemp("keys") / "dev-keys.json"
    env = {**os.environ, "PORT": "0", "GATEWAY_KEYS_FILE": str(keys_file), "LOG_LEVEL": "warning",
           "LOCAL_JOB_INTERVAL": "3600"}
    env.pop("DYNAMODB_ENDPOINT_URL", None)
    process = subprocess.Popen([sys.executable, "-m", "local.server"], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 60
    try:
        base = _announced_base(process)  # the server binds port 0 and prints the port the OS gave it
        while True:
            if process.poll() is not None:
                raise RuntimeError("local server exited:\n" + (process.stdout.read() if process.stdout else ""))
            try:
                if httpx.get(base + "/api/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("local server did not answer within 60 s")
            time.sleep(0.2)  # waiting for a process to start, not timing a behaviour
        assert json.loads(keys_file.read_text())["license_pro"]["key"] == "CHA-B21AF1CF-BD99A579-01F8A4C0-ECFA58EB"
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def _announced_base(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    for line in process.stdout:
        found = re.search(r"AI gateway \(local\) on (http://127\.0\.0\.1:\d+)", line)
        if found:
            threading.Thread(target=process.stdout.read, daemon=True).start()  # keep draining: a full pipe blocks it
            return found.group(1)
    raise RuntimeError("local server exited before it announced its port")


def _run(script: str, base: str) -> str:
    out = subprocess.run(["/bin/bash", "-c", script.replace(SEED_HOST, base)], capture_output=True, text=True,
                         timeout=60, check=False)
    return out.stdout


def test_scenario_1_rate_limit_testing(server):
    output = _run(SCENARIO_1, server).strip().splitlines()
    assert len(output) == 30  # "Request i:" and the matching line, 15 times: checking never uses up the AI quota
    for i in range(15):
        assert output[2 * i] == f"Request {i + 1}:"
        body = json.loads(output[2 * i + 1])
        assert body["can_make_request"] is True and body["blocking_factors"] == []
        assert body["limits_status"]["requests_per_minute"] == {"passed": True, "current": 0, "limit": 10,
                                                                "percentage": None}


def test_scenario_2_budget_validation(server):
    output = _run(SCENARIO_2, server).strip()
    assert output, "grep found no monthly_budget"
    body = json.loads(output)
    assert body["current_usage"]["limits"]["monthly_budget"] == 4.0
    assert body["current_usage"]["limits"]["monthly_budget_eur"] == 4.0
    assert body["current_usage"]["usage_percentages"]["budget"] == 0.0


def test_scenario_3_error_handling(server):
    invalid = json.loads(_run(SCENARIO_3_INVALID, server).strip())
    assert invalid["status_code"] == 401 and "error" in invalid and "Invalid" in invalid["detail"]
    missing = json.loads(_run(SCENARIO_3_MISSING, server).strip())
    assert missing["status_code"] == 401 and "error" in missing and "Missing" in missing["detail"]


def test_make_rollup_runs_the_job_once_in_the_server(server):
    out = subprocess.run(["make", "-s", "rollup", f"PORT={server.rsplit(':', 1)[1]}"], cwd=ROOT, capture_output=True,
                         text=True, timeout=60, check=False)
    body = json.loads(out.stdout.strip().splitlines()[-1])
    assert body["job"] == "RollupFunction" and body["result"]["caught_up"] is True
