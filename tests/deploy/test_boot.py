"""Built artifacts boot as Lambda boots them (tests/deploy/lambda_runtime.py says how), against a moto server.

The build is the x86_64 variant of the same template (Architecture=x86_64, ARCH=x86_64): the deployed arm64 artifacts
carry aarch64 wheels (pydantic_core, cryptography…) that cannot load on this x86_64 machine. Booting those would
need qemu-user and an arm64 Python 3.13 root (debootstrap): minutes per session for an emulated interpreter, when
what this test can miss by building x86_64 (a wheel missing for aarch64 only) the arm64 build's own checks cover
(tests/deploy/test_sam.py: native modules, pinned versions, every requirement present).

Every function of the template runs here: the Mangum and scheduled ones through the real `awslambdaric` with their
sample event (events/) and, for HTTP functions, an event per route shaped as `sam local generate-event aws apigateway
aws-proxy` makes it; the chat function through its run.sh, as the Lambda Web Adapter starts it, with a streamed
completion through the official openai client. Init durations are printed at the end of the run.
"""

from __future__ import annotations

import copy
import fcntl
import json
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import openai
import pytest

from gateway_common import db
from gateway_common.observability import Metric
from local import seed, template
from local.paths import ROOT
from tests.deploy import builds, lambda_runtime, test_observability
from tests.payments import stripe_fakes
from tests.servers import moto_server

FUNCTIONS = template.functions()
ADAPTER = [f for f in FUNCTIONS if f.handler.endswith(".sh")]  # run by the Lambda Web Adapter
RUNTIME = [f for f in FUNCTIONS if not f.handler.endswith(".sh")]  # run by the python3.13 runtime (awslambdaric)
PARAMETERS = {name: str(p.get("Default", "")) for name, p in template.load()["Parameters"].items()}
PATH_VALUES = {"key_id": "key_boot", "plan_id": "free", "session_id": "sess_boot", "code": "BOOTCODE"}


def _report(world: dict[str, Any], line: str) -> None:
    with open(world["report"], "a") as out:
        fcntl.flock(out, fcntl.LOCK_EX)
        out.write(line + "\n")


@pytest.fixture(scope="module")
def world(x86_64_build: Path, tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Iterator[dict[str, Any]]:
    python = builds.find_python()
    assert python, "no python3.13 (PATH or pyenv)"
    here = tmp_path_factory.mktemp("lambda")
    runtime = lambda_runtime.install_runtime_client(here / "runtime", python)
    lang = lambda_runtime.make_interpreter(here / "lang", python)
    with moto_server() as endpoint:
        demo = seed.seed_demo()
        ssm = boto3.client("ssm", endpoint_url=endpoint, region_name="us-east-1",
                           aws_access_key_id="boot", aws_secret_access_key="boot")
        ssm.put_parameter(Name=PARAMETERS["StripeWebhookSecretParam"], Value=stripe_fakes.WEBHOOK_SECRET,
                          Type="SecureString")
        stream_arn = db.client().describe_table(TableName="UsageTable")["Table"]["LatestStreamArn"]
        yield {"build": x86_64_build, "runtime": runtime, "lang": lang, "endpoint": endpoint, "demo": demo,
               "stream_arn": stream_arn, "logs": here, "report": builds.session_dir(tmp_path_factory, worker_id) /
               "boot-report.txt"}


def _resolve(value: Any, world: dict[str, Any]) -> str:
    """A template environment value as CloudFormation would resolve it here (tables are named by logical id)."""
    if isinstance(value, dict):
        (kind, arg), = value.items()
        if kind == "Ref":
            return PARAMETERS.get(arg, arg)
        if kind == "Sub":
            return re.sub(r"\$\{([^}]+)\}", lambda m: PARAMETERS.get(m.group(1), m.group(1)), arg)
        if kind == "GetAtt" and arg == "UsageTable.StreamArn":
            return str(world["stream_arn"])
        raise AssertionError(f"unresolved template value {value}")
    return str(value)


def _environment(function: template.FunctionDef, world: dict[str, Any]) -> dict[str, str]:
    variables = {**template.load()["Globals"]["Function"]["Environment"]["Variables"],
                 **((function.properties.get("Environment") or {}).get("Variables") or {})}
    env = {name: _resolve(value, world) for name, value in variables.items()}
    env.pop("AWS_LAMBDA_EXEC_WRAPPER", None)  # the Web Adapter's /opt/bootstrap: the test plays the adapter's part
    env.update({"DYNAMODB_ENDPOINT_URL": world["endpoint"], "AWS_ENDPOINT_URL": world["endpoint"],
                "PRIVY_APP_ID": "boot-test-app"})
    memory = int(function.properties.get("MemorySize") or template.load()["Globals"]["Function"]["MemorySize"])
    return lambda_runtime.lambda_env(env, f"ai-gateway-boot-{function.logical_id}", memory)


def _sample_event(function: template.FunctionDef, demo: dict[str, dict[str, str]]) -> dict[str, Any]:
    text = (ROOT / "events" / f"{function.logical_id}.json").read_text()
    for name, info in demo.items():
        text = text.replace(f"{{{{{name}_key}}}}", info["key"]).replace(f"{{{{{name}_user_id}}}}", info["user_id"])
    event = json.loads(text)
    if "{{stripe_signature}}" in text:
        signature = stripe_fakes.sign(event["body"])
        event["headers"]["Stripe-Signature"] = signature
        event["multiValueHeaders"]["Stripe-Signature"] = [signature]
    return event  # type: ignore[no-any-return]


def _route_event(sample: dict[str, Any], method: str, path: str, demo: dict[str, dict[str, str]]) -> dict[str, Any]:
    """An API Gateway proxy event for one route, shaped as `sam local generate-event aws apigateway aws-proxy`."""
    values = {**PATH_VALUES, "user_id": demo["live"]["user_id"], "license_key": demo["license_pro"]["key"]}
    names = re.findall(r"\{(\w+)\}", path)
    concrete = re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], path)
    event = copy.deepcopy(sample)
    headers = {"Accept": "application/json", "Content-Type": "application/json",
               "Authorization": f"Bearer {demo['admin']['key']}", "Host": "abc123.execute-api.us-east-1.amazonaws.com",
               "X-Forwarded-For": "203.0.113.10", "X-Forwarded-Proto": "https", "X-Forwarded-Port": "443"}
    event.update({
        "resource": path, "path": concrete, "httpMethod": method, "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": None, "multiValueQueryStringParameters": None,
        "pathParameters": {n: values[n] for n in names} or None,
        "body": "{}" if method in ("POST", "PUT", "PATCH") else None, "isBase64Encoded": False,
    })
    event["requestContext"] = {**sample["requestContext"], "resourcePath": path, "httpMethod": method,
                               "path": f"/v1{concrete}", "requestId": f"boot-{method}-{path}"}
    return event


def test_every_function_of_the_template_is_booted_here():
    assert {f.logical_id for f in RUNTIME + ADAPTER} == {f.logical_id for f in FUNCTIONS}
    assert [f.logical_id for f in ADAPTER] == ["ChatFunction"], "a new Web Adapter function needs its boot test"
    for function in FUNCTIONS:
        assert (ROOT / "events" / f"{function.logical_id}.json").exists(), f"events/{function.logical_id}.json"


@pytest.mark.parametrize("function", RUNTIME, ids=lambda f: f.logical_id)
def test_function_boots_with_the_runtime_client_and_answers_its_events(function, world):
    build = world["build"]
    demo = world["demo"]
    sample = _sample_event(function, demo)
    events = [("sample", sample)]
    if function.routes:
        events += [(f"{m} {p}", _route_event(sample, m, p, demo)) for m, p in function.routes]
    log = world["logs"] / f"{function.logical_id}.log"
    with lambda_runtime.booted(function.logical_id, build / function.logical_id, build / "CommonLayer",
                               world["runtime"], world["lang"], function.handler, _environment(function, world),
                               log) as (api, process, init):
        answers = {name: api.invoke(event, process) for name, event in events}
    size = sum(p.stat().st_size for p in (build / function.logical_id).rglob("*") if p.is_file())
    _report(world, f"{function.logical_id:26} init {init[0] * 1000:6.0f} ms wall {init[1] * 1000:5.0f} ms CPU   "
                   f"artifact {size / 1024:8.0f} KB unzipped (x86_64 build)")
    for name, (kind, payload) in answers.items():
        assert kind == "response", f"{function.logical_id} {name}: {json.dumps(payload)[:1500]}"
        if not function.routes:
            continue
        status = payload["statusCode"]
        if name == "sample":
            assert 200 <= status < 300, f"{function.logical_id} sample event: {payload}"
        else:
            assert status < 500 or _unconfigured(payload), f"{function.logical_id} {name}: {payload}"
            assert "No such endpoint" not in (payload.get("body") or ""), f"{function.logical_id} does not serve {name}"
    # metrics go out as EMF lines on stdout, as in AWS (GATEWAY_ENV=aws): every response, and what a job's code emits
    emf = [json.loads(line) for line in log.read_text().splitlines() if line.startswith('{"_aws"')]
    emitted = {metric["Name"] for line in emf if line.get("service") == "ai-gateway-dev"
               for metric in line["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    expected = {"Requests"} if function.routes else set()
    for path in (ROOT / function.code_uri).rglob("*.py"):
        expected |= {Metric[member].value for member in test_observability.metric_references(path)}
    assert expected <= emitted, f"{function.logical_id} did not emit {expected - emitted}: {log.read_text()[-2000:]}"


def _unconfigured(payload: dict[str, Any]) -> bool:
    """A 503 naming the setting a deployment lacks (no Stripe key in this boot world) is the designed answer."""
    if payload["statusCode"] != 503:
        return False
    error = json.loads(payload.get("body") or "{}").get("error") or {}
    return error.get("code") == "service_unavailable" and "setting" in (error.get("message") or "")


_LISTENING = re.compile(rb"Uvicorn running on http://127\.0\.0\.1:(\d+)")


def _listening_port(log: Path) -> int | None:
    """The port uvicorn bound (it logs it, port 0 resolved): no free port picked first and bound later by another
    worker in between."""
    found = _LISTENING.search(log.read_bytes()) if log.exists() else None
    return int(found.group(1)) if found else None


def test_chat_function_boots_through_run_sh_and_streams_a_completion(world):
    """As the Lambda Web Adapter runs it: /var/task/gw_chat/run.sh, ready once its port answers, then HTTP."""
    function = ADAPTER[0]
    build = world["build"]
    # run.sh takes a port number (AWS_LWA_PORT), not a socket: 0 lets uvicorn bind any free port, read back from its log
    env = {**_environment(function, world), "AWS_LWA_PORT": "0"}
    command = lambda_runtime.lambda_command(build / function.logical_id, build / "CommonLayer", world["runtime"],
                                            world["lang"], f"exec /var/task/{function.handler}")
    log = world["logs"] / "ChatFunction.log"
    started = time.monotonic()
    with open(log, "wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        ready, ready_cpu, port = None, 0.0, None
        while ready is None and time.monotonic() - started < 60 and process.poll() is None:
            port = port or _listening_port(log)
            try:
                if port is None:
                    raise httpx.ConnectError("not listening yet")
                httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
                ready = time.monotonic() - started
                ready_cpu = lambda_runtime.cpu_seconds(process.pid)
            except httpx.TransportError:
                time.sleep(0.02)
        assert ready is not None, log.read_text()[-3000:]
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=world["demo"]["test"]["key"], max_retries=0)
        stream = client.chat.completions.create(model="openai/gpt-4o-mini", stream=True,
                                                messages=[{"role": "user", "content": "one two three"}],
                                                stream_options={"include_usage": True})
        chunks = list(stream)
        # the call is settled (and its metrics emitted) after the last chunk is sent: wait for it, then stop
        while "AIRequests" not in log.read_text() and process.poll() is None and time.monotonic() - started < 120:
            time.sleep(0.05)
    finally:
        process.kill()
        process.wait(timeout=10)
    size = sum(p.stat().st_size for p in (build / function.logical_id).rglob("*") if p.is_file())
    _report(world, f"{'ChatFunction (run.sh)':26} init {ready * 1000:6.0f} ms wall {ready_cpu * 1000:5.0f} ms CPU   "
                   f"artifact {size / 1024:8.0f} KB unzipped (x86_64 build)")
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert len(chunks) > 2 and text, chunks
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    emf = [json.loads(line) for line in log.read_text().splitlines() if line.startswith('{"_aws"')]
    assert any("AIRequests" in line for line in emf), log.read_text()[-2000:]


def test_the_process_sees_only_the_artifact_the_layer_and_the_runtime(world):
    """What `python -m awslambdaric` sees: no site-packages of any other Python, no dev venv."""
    build = world["build"]
    command = lambda_runtime.lambda_command(
        build / "HealthFunction", build / "CommonLayer", world["runtime"], world["lang"],
        "exec /var/lang/bin/python3.13 -c 'import json, sys; print(json.dumps([sys.path, sys.prefix, sys.base_prefix]))'")
    env = _environment(next(f for f in FUNCTIONS if f.logical_id == "HealthFunction"), world)
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    paths, prefix, base = json.loads(result.stdout)
    assert paths[:4] == ["", "/var/task", "/opt/python", "/var/runtime"], paths  # "" is -c's, as -m puts the cwd
    others = [p for p in paths if p not in ("", "/var/task", "/opt/python", "/var/runtime") and not p.startswith(base)]
    assert prefix == "/var/lang"
    assert all(Path(p).name == "site-packages" for p in others), others  # the empty venv's own, nothing else
    assert not any(Path(p).exists() and any(Path(p).iterdir()) for p in others), others
