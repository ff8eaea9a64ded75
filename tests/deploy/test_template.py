"""What template.yaml promises an operator, read from the template itself (no build, no AWS), and checkov clean."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway_common.providers.config import PROVIDERS
from local import template
from local.paths import ROOT

RESOURCES: dict[str, dict[str, Any]] = template.load()["Resources"]
PARAMETERS: dict[str, dict[str, Any]] = template.load()["Parameters"]
CHECKOV = Path(os.environ.get("CHECKOV", ROOT / ".venv-checkov" / "bin" / "checkov"))
# tables whose content the stack rebuilds by itself (the catalog refresh job): no Retain needed
REBUILDABLE = {"CatalogTable"}


def _of_type(kind: str) -> dict[str, dict[str, Any]]:
    return {name: res for name, res in RESOURCES.items() if res["Type"] == kind}


def test_api_access_log_is_json_with_what_an_operator_needs_and_no_key():
    api = RESOURCES["GatewayApi"]["Properties"]
    setting = api["AccessLogSetting"]
    assert setting["DestinationArn"] == {"GetAtt": "ApiAccessLogGroup.Arn"}
    fields = json.loads(setting["Format"].replace("\n", ""))
    values = set(fields.values())
    for needed in ("$context.requestId", "$context.resourcePath", "$context.status", "$context.responseLatency"):
        assert needed in values, needed
    # the raw path carries a license key on /api/usage/{license_key}; headers and the API key carry keys too
    leaking = [v for v in values if v in ("$context.path", "$context.identity.apiKey") or "header" in v.lower()
               or "authorizer" in v]
    assert not leaking, leaking
    group = RESOURCES["ApiAccessLogGroup"]["Properties"]
    assert group["RetentionInDays"] == {"Ref": "LogRetentionDays"}


def test_every_function_logs_to_its_own_group_with_the_retention_parameter():
    assert PARAMETERS["LogRetentionDays"]["Default"] == 30
    for function in template.functions():
        group_id = function.properties["LoggingConfig"]["LogGroup"]["Ref"]
        group = RESOURCES[group_id]
        assert group["Type"] == "AWS::Logs::LogGroup"
        assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}, function.logical_id
        name = function.properties["FunctionName"]["Sub"]
        assert group["Properties"]["LogGroupName"]["Sub"] == f"/aws/lambda/{name}", function.logical_id


def test_stateful_tables_are_retained_and_every_table_has_point_in_time_recovery():
    tables = _of_type("AWS::DynamoDB::Table")
    for name in ("UsersTable", "ApiKeysTable", "CountersTable", "LedgerTable", "UsageTable", "AuditTable",
                 "BillingTable", "ReservationsTable", "RollupsTable"):
        assert name in tables, name
    for name, table in tables.items():
        assert table["Properties"]["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}, name
        if name not in REBUILDABLE:
            assert table.get("DeletionPolicy") == "Retain" and table.get("UpdateReplacePolicy") == "Retain", name


def test_stage_names_every_named_resource():
    assert re.fullmatch(PARAMETERS["Stage"]["AllowedPattern"], PARAMETERS["Stage"]["Default"])
    name_keys = {"AWS::Serverless::Function": "FunctionName", "AWS::DynamoDB::Table": "TableName",
                 "AWS::Logs::LogGroup": "LogGroupName", "AWS::CloudWatch::Alarm": "AlarmName",
                 "AWS::SNS::Topic": "TopicName", "AWS::CloudWatch::Dashboard": "DashboardName",
                 "AWS::Serverless::LayerVersion": "LayerName", "AWS::Serverless::Api": "Name",
                 "AWS::WAFv2::WebACL": "Name"}
    seen = set()
    for name, res in RESOURCES.items():
        key = name_keys.get(res["Type"])
        if key is None:
            continue
        value = res["Properties"][key]
        assert isinstance(value, dict) and "${Stage}" in value["Sub"], f"{name}.{key} is not named by the stage"
        assert (res["Type"], value["Sub"]) not in seen, value
        seen.add((res["Type"], value["Sub"]))


def test_chat_reserved_concurrency_and_the_waf_are_parameters():
    chat = RESOURCES["ChatFunction"]["Properties"]
    assert chat["ReservedConcurrentExecutions"] == {
        "If": ["HasChatReservedConcurrency", {"Ref": "ChatReservedConcurrency"}, {"Ref": "AWS::NoValue"}]}
    assert PARAMETERS["EnableWaf"]["Default"] == "false"
    acl = RESOURCES["WebAcl"]
    assert acl["Condition"] == "WafEnabled" and RESOURCES["WebAclAssociation"]["Condition"] == "WafEnabled"
    rate = [r for r in acl["Properties"]["Rules"] if "RateBasedStatement" in r["Statement"]]
    assert rate and rate[0]["Statement"]["RateBasedStatement"] == {"Limit": {"Ref": "WafRateLimitPerIp"},
                                                                  "AggregateKeyType": "IP"}


def test_every_alarm_notifies_the_topic_whose_email_is_a_parameter():
    alarms = _of_type("AWS::CloudWatch::Alarm")
    assert len(alarms) >= 6
    for name, alarm in alarms.items():
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}], name
    subscription = RESOURCES["AlarmEmailSubscription"]
    assert subscription["Condition"] == "HasAlarmEmail"
    assert subscription["Properties"]["Endpoint"] == {"Ref": "AlarmEmail"}


def _alarm_metrics(alarm: dict[str, Any]) -> list[tuple[str, str, list[Any]]]:
    props = alarm["Properties"]
    if "MetricName" in props:
        return [(props["Namespace"], props["MetricName"], props.get("Dimensions", []))]
    return [(q["MetricStat"]["Metric"]["Namespace"], q["MetricStat"]["Metric"]["MetricName"],
             q["MetricStat"]["Metric"].get("Dimensions", [])) for q in props["Metrics"] if "MetricStat" in q]


def test_alarms_cover_5xx_throttles_every_table_every_provider_rollup_webhooks_and_expired_holds():
    watched = [m for alarm in _of_type("AWS::CloudWatch::Alarm").values() for m in _alarm_metrics(alarm)]
    names = {(ns, metric) for ns, metric, _ in watched}
    assert ("AWS/ApiGateway", "5XXError") in names
    for ns_metric in (("AIGateway", "RollupLagSeconds"), ("AIGateway", "WebhookFailures"),
                      ("AIGateway", "ExpiredReservations")):
        assert ns_metric in names, ns_metric
    throttled = {d[0]["Value"]["Ref"] for ns, metric, d in watched if metric in ("ReadThrottleEvents", "WriteThrottleEvents")}
    assert throttled == set(_of_type("AWS::DynamoDB::Table")), set(_of_type("AWS::DynamoDB::Table")) - throttled
    upstream = {d[1]["Value"] for ns, metric, d in watched if metric == "UpstreamErrors"}
    assert upstream == {slug for slug, config in PROVIDERS.items() if config.kind != "sandbox"}
    for alarm in _of_type("AWS::CloudWatch::Alarm").values():  # metric math alarms take 10 metrics at most
        assert len(_alarm_metrics(alarm)) <= 10


def test_checkov_config_lists_each_skipped_check_once_with_its_reason():
    text = (ROOT / ".checkov.yaml").read_text()
    config = yaml.safe_load(text)
    assert config["file"] == ["template.yaml"] and config["skip-download"] is True
    lines = [line for line in text.splitlines() if re.match(r"\s*- CKV", line)]
    ids = [line.split("#")[0].strip(" -") for line in lines]
    assert ids == config["skip-check"] and len(ids) == len(set(ids))
    for line in lines:
        reason = line.split("#", 1)[1].strip() if "#" in line else ""
        assert len(reason) > 30, f"say why: {line}"


@pytest.mark.skipif(not CHECKOV.exists(), reason="checkov lives in .venv-checkov, which `make test` installs and runs")
def test_checkov_passes_on_the_template():
    result = subprocess.run([str(CHECKOV), "--config-file", ".checkov.yaml"], cwd=ROOT, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "Failed checks: 0" in result.stdout


def test_samconfig_profiles_dev_and_prod_name_their_stage_and_only_template_parameters():
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    for profile, stage in (("default", "dev"), ("prod", "prod")):
        assert config[profile]["global"]["parameters"]["stack_name"] == f"ai-gateway-{stage}"
        for command in ("deploy", "sync") if profile == "default" else ("deploy",):
            text = config[profile][command]["parameters"]["parameter_overrides"]
            overrides = dict(pair.split("=", 1) for pair in shlex.split(text))
            assert overrides["Stage"] == stage
            assert set(overrides) <= set(PARAMETERS), set(overrides) - set(PARAMETERS)
    assert config["default"]["sync"]["parameters"]["watch"] is True


def _dashboard_searches() -> dict[str, str]:
    """The dashboard's SEARCH expressions, by metric name."""
    body = RESOURCES["Dashboard"]["Properties"]["DashboardBody"]["Sub"]
    found = {}
    for widget in json.loads(body)["widgets"]:
        for entry in widget["properties"].get("metrics", []):
            if isinstance(entry[0], dict):
                match = re.search(r'MetricName=\\?"(\w+)\\?"', entry[0]["expression"])
                if match:
                    found[match.group(1)] = entry[0]["expression"]
    return found


def test_dashboard_shows_every_function_and_every_table_of_the_stage():
    """Lambda errors, throttles and durations and DynamoDB throttles are searched by the stage's name prefix, so a
    function or table added to the template is on the dashboard as soon as it is named like the others."""
    prefix = "ai-gateway-${Stage}-"
    searches = _dashboard_searches()
    for metric, namespace in (("Errors", "{AWS/Lambda,FunctionName}"), ("Throttles", "{AWS/Lambda,FunctionName}"),
                              ("Duration", "{AWS/Lambda,FunctionName}"), ("ReadThrottleEvents", "{AWS/DynamoDB,TableName}"),
                              ("WriteThrottleEvents", "{AWS/DynamoDB,TableName}")):
        assert metric in searches, f"the dashboard does not show {metric}"
        assert searches[metric].startswith(f"SEARCH('{namespace} ") and f" {prefix}'" in searches[metric], searches[metric]
    for function in template.functions():
        assert function.properties["FunctionName"]["Sub"].startswith(prefix), function.logical_id
    for name in _of_type("AWS::DynamoDB::Table"):
        assert RESOURCES[name]["Properties"]["TableName"]["Sub"].startswith(prefix), name


def test_readme_deploy_section_names_every_template_parameter():
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("\n## Deploy"):]
    section = section[:section.find("\n## ", 1)] if "\n## " in section[1:] else section
    missing = [name for name in PARAMETERS if not re.search(rf"\b{name}\b", section)]
    assert not missing, f"README, Deploy: say what {missing} are for"
