"""The process's botocore clients are built once and kept across invocations (issue 12): the rollup job used to build
a boto3 session and a Streams client on every scheduled run (main's gw_rollup.job now keeps it; this counts it)."""

from __future__ import annotations

from collections import Counter
from types import SimpleNamespace
from typing import Any

import botocore.session

from gateway_common import db
from tests.usage.factory import usage_record, write_records


def test_the_rollup_job_builds_its_clients_once_across_invocations(dynamo, monkeypatch):
    from gw_rollup.app import handler

    built: Counter[str] = Counter()
    create_client = botocore.session.Session.create_client

    def counting(self: Any, service_name: str, *args: Any, **kwargs: Any) -> Any:
        built[service_name] += 1
        return create_client(self, service_name, *args, **kwargs)

    monkeypatch.setattr(botocore.session.Session, "create_client", counting)
    db.reset_clients()
    context = SimpleNamespace(function_name="RollupFunction", get_remaining_time_in_millis=lambda: 120_000,
                              aws_request_id="test", invoked_function_arn="arn:aws:lambda:us-east-1:0:function:x")
    counted = 0
    for run in range(3):
        write_records([usage_record("user1", "key1", model="openai/gpt-4o-mini", provider="openai", tokens=(1, 2),
                                    cost="0.001", latency_ms=10 + run, status="success")])
        counted += handler({}, context)["counted"]
    assert counted == 3  # each run read the stream through the kept client
    assert built == Counter({"dynamodb": 1, "dynamodbstreams": 1})
    from gw_rollup.job import streams_client

    assert streams_client() is streams_client()
    db.reset_clients()  # tests switch endpoints: a reset builds anew
    streams_client()
    assert built["dynamodbstreams"] == 2
