"""Metrics: every name the code emits is on the template's dashboard and every AIGateway metric on the dashboard is
emitted; all of them go through gateway_common.observability as EMF, with low-cardinality dimensions only."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

from gateway_common import observability
from gateway_common.observability import Metric
from local import template
from local.paths import ROOT

CODE = [*sorted((ROOT / "layers" / "common").rglob("*.py")), *sorted((ROOT / "functions").rglob("*.py"))]
OBSERVABILITY = ROOT / "layers" / "common" / "gateway_common" / "observability.py"
HELPERS = ("response", "ai_call", "upstream", "webhook_event")
ALLOWED_DIMENSIONS = {"service", "provider", "currency", "event_type", "outcome"}


def metric_references(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    def is_metric_enum(node: ast.AST) -> bool:  # Metric or observability.Metric
        return (isinstance(node, ast.Name) and node.id == "Metric") or (
            isinstance(node, ast.Attribute) and node.attr == "Metric")

    return {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute) and is_metric_enum(node.value)}


def emitted_by_code() -> set[str]:
    names: set[str] = set()
    for path in CODE:
        names |= {Metric[member].value for member in metric_references(path)}
    return names


def on_dashboard() -> set[str]:
    body = template.load()["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Sub"]
    document = json.loads(re.sub(r"\$\{[^}]+\}", "x", body))
    names = set()
    for widget in document["widgets"]:
        for entry in widget["properties"].get("metrics", []):
            if isinstance(entry[0], dict) and "{AIGateway," in entry[0]["expression"]:
                names |= set(re.findall(r'MetricName="(\w+)"', entry[0]["expression"]))
            elif entry[0] == "AIGateway":
                names.add(entry[1])
    return names


def test_every_metric_the_code_emits_is_on_the_dashboard_and_the_reverse():
    code, dashboard = emitted_by_code(), on_dashboard()
    assert code - dashboard == set(), f"emitted but not on the dashboard: {sorted(code - dashboard)}"
    assert dashboard - code == set(), f"on the dashboard but never emitted: {sorted(dashboard - code)}"
    assert code == {m.value for m in Metric}


def test_metrics_go_through_the_observability_module_and_its_helpers_are_used():
    for path in CODE:
        if path == OBSERVABILITY:
            continue
        text = path.read_text()
        assert "add_metric(" not in text and "single_metric(" not in text, f"{path}: emit through observability"
    callers = "\n".join(p.read_text() for p in CODE if p != OBSERVABILITY)
    for helper in HELPERS:
        assert re.search(rf"\b{helper}\(", callers), f"observability.{helper} is never called"


def _emf(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.startswith('{"_aws"')]


def test_emf_lines_carry_the_namespace_service_and_unit(monkeypatch, capsys):
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    observability.response(429)
    observability.upstream("anthropic", 812.5, failed=True)
    lines = _emf(capsys.readouterr().out)
    by_name = {d["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"]: d for d in lines}
    assert set(by_name) == {"Requests", "Responses4xx", "RateLimited", "UpstreamRequests", "UpstreamLatency",
                            "UpstreamErrors"}
    latency = by_name["UpstreamLatency"]
    assert latency["UpstreamLatency"] == [812.5] and latency["provider"] == "anthropic"
    assert latency["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "AIGateway"
    assert latency["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Unit"] == "Milliseconds"
    assert sorted(latency["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0]) == ["provider", "service"]
    assert by_name["Requests"]["service"] == observability.SERVICE


def test_metrics_stay_quiet_locally_unless_asked(monkeypatch, capsys):
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    monkeypatch.setenv("GATEWAY_ENV", "local")
    observability.response(200)
    assert _emf(capsys.readouterr().out) == []
    monkeypatch.setenv("GATEWAY_ENV", "aws")
    observability.response(200)
    assert len(_emf(capsys.readouterr().out)) == 1


@pytest.mark.parametrize("surface", ["chat", "webhook_refused"])
def test_a_real_request_emits_only_low_cardinality_dimensions(surface, client, demo, monkeypatch, capsys):
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", "whsec_" + "0" * 32)
    if surface == "chat":
        response = client.post("/v1/chat/completions", headers={"Authorization": f"Bearer {demo['live']['key']}"},
                               json={"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})
        assert response.status_code == 200, response.text
        expected = {"Requests", "AIRequests", "TokensIn", "TokensOut", "CostCharged", "UpstreamRequests",
                    "UpstreamLatency"}
    else:
        response = client.post("/api/stripe/webhook", content=b'{"id": "evt_x"}', headers={"Stripe-Signature": "t=1,v1=00"})
        assert response.status_code == 400
        expected = {"Requests", "Responses4xx", "WebhookEvents", "WebhookFailures"}
    lines = _emf(capsys.readouterr().out)
    names = {d["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"] for d in lines}
    assert expected <= names, names
    for line in lines:
        dimensions = set(line["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0])
        assert dimensions <= ALLOWED_DIMENSIONS, line
        assert demo["live"]["user_id"] not in json.dumps(line) and demo["live"]["key"] not in json.dumps(line)
