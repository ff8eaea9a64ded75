"""What the chat function's cold import leaves out, checked in a fresh interpreter (the figures are bench/proxy.py's)."""

from __future__ import annotations

import json
import subprocess
import sys

from local.paths import ROOT

PROBE = """
import json, sys
sys.path[:0] = {paths!r}
import gw_chat.app
import fastapi.openapi.models as openapi_models
from pydantic._internal import _config
from gw_chat import schemas

report = {{
    "openapi_models_built_at_import": openapi_models.OpenAPI.__pydantic_complete__,
    "default_restored": _config.config_defaults["defer_build"] is False,
    "own_models_built": schemas.ChatCompletionRequest.__pydantic_complete__,
    "heavy_modules": sorted(m for m in ("boto3", "s3transfer", "stripe", "jwt", "mangum", "click", "pydantic.v1")
                            if sys.modules.get(m) is not None),
}}
document = gw_chat.app.app.openapi()
report["openapi_paths"] = sorted(document["paths"])
report["openapi_models_built_after_use"] = openapi_models.OpenAPI.__pydantic_complete__
import httpx
from fastapi._compat import shared
from pydantic import v1
class Legacy(v1.BaseModel):
    pass
report["v1_model_seen_once_imported"] = shared.annotation_is_pydantic_v1(Legacy)
report["httpx_main_is_the_stub"] = httpx.main.__module__ == "httpx"
from opentelemetry import propagate
report["otel_propagators"] = sorted(propagate.get_global_textmap().fields)
print(json.dumps(report))
"""


def _probe() -> dict[str, object]:
    paths = [str(ROOT / "layers" / "common"), str(ROOT / "functions" / "chat")]
    result = subprocess.run([sys.executable, "-c", PROBE.format(paths=paths)], capture_output=True, text=True, cwd="/",
                            timeout=60, env={"PATH": "/usr/bin:/bin", "AWS_DEFAULT_REGION": "us-east-1"})
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_chat_import_defers_only_fastapis_own_models_and_skips_unused_libraries():
    """Unused libraries include httpx's command-line tool (click) and pydantic.v1 (FastAPI's check for v1 models)."""
    report = _probe()
    assert report["openapi_models_built_at_import"] is False, "FastAPI's OpenAPI models were built at import again"
    assert report["default_restored"] is True, "pydantic's defer_build default must be put back after FastAPI loads"
    assert report["own_models_built"] is True, "the gateway's own models keep pydantic's default (built when defined)"
    assert report["heavy_modules"] == [], f"the chat function's import pulls in {report['heavy_modules']}"
    # the deferred models still build when the document is asked for, and the document is whole
    assert report["openapi_models_built_after_use"] is True
    assert "/v1/chat/completions" in report["openapi_paths"] and "/chat/sessions/{session_id}" in report["openapi_paths"]
    # FastAPI's pydantic.v1 check still answers once pydantic.v1 is imported; httpx kept its stub for the CLI
    assert report["v1_model_seen_once_imported"] is True
    assert report["httpx_main_is_the_stub"] is True
    # OpenTelemetry (imported by FastAPI) was not made to look up propagators nothing uses
    assert report["otel_propagators"] == []


def test_an_opentelemetry_propagator_setting_in_the_environment_is_kept():
    paths = [str(ROOT / "layers" / "common")]
    code = (f"import sys; sys.path[:0] = {paths!r}; import gateway_common; from opentelemetry import propagate; "
            "print(sorted(propagate.get_global_textmap().fields))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd="/", timeout=60,
                            env={"PATH": "/usr/bin:/bin", "OTEL_PROPAGATORS": "tracecontext"})
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split() == ["['traceparent',", "'tracestate']"]
