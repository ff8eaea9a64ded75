"""No full key in any log line: the legacy GET /api/usage/{license_key} through real uvicorn with its access log on
(as `make run` serves it), and the API Gateway access-log format of template.yaml."""

from __future__ import annotations

import logging

import httpx

from gateway_common.redaction import install_log_filters
from local import template
from tests.servers import gateway_server


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def test_a_key_in_the_url_never_reaches_the_uvicorn_access_log(dynamo, demo, gateway_app):
    key = demo["license_pro"]["key"]
    captured = _Lines()
    access = logging.getLogger("uvicorn.access")
    with gateway_server(gateway_app, log_level="info") as base:
        install_log_filters()  # what local/server.py does before serving
        access.addHandler(captured)
        try:
            assert httpx.get(f"{base}/api/usage/{key}", timeout=10).status_code == 200
            assert httpx.get(f"{base}/api/usage/current?key={demo['live']['key']}", timeout=10).status_code == 401
        finally:
            access.removeHandler(captured)
    assert any("GET /api/usage/[redacted]" in line and "200" in line for line in captured.lines), captured.lines
    text = "\n".join(captured.lines)
    assert key not in text and key[4:12] not in text and demo["live"]["key"] not in text


def _access_log_formats(node: object) -> list[str]:
    found: list[str] = []
    if isinstance(node, dict):
        for name, value in node.items():
            if name == "AccessLogSetting" and isinstance(value, dict) and isinstance(value.get("Format"), str):
                found.append(value["Format"])
            else:
                found.extend(_access_log_formats(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(_access_log_formats(value))
    return found


def test_the_api_gateway_access_log_logs_the_route_template_not_the_raw_path():
    """``$context.path`` is the request's path as sent (``/Prod/api/usage/CHA-…``); ``$context.resourcePath`` is the
    route (``/api/usage/{license_key}``). Only the latter may be logged (the format itself is issue 14's)."""
    formats = _access_log_formats(template.load())
    assert formats, "template.yaml has no API Gateway access log (AccessLogSetting.Format)"
    for log_format in formats:
        assert "$context.resourcePath" in log_format and "$context.requestId" in log_format, log_format
        assert "$context.path" not in log_format.replace("$context.resourcePath", ""), log_format
        assert "$context.requestOverride" not in log_format and "$context.authorizer" not in log_format
