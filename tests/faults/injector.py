"""Faults injected at the botocore layer: what DynamoDB answers under load, as the gateway's own client receives it.

``before-send`` is the last event before the HTTP request (inside botocore's retry loop, so the configured standard
retry mode really retries what is injected). Two hooks around moto's own in-process stub:

- first: an error answer in place of DynamoDB's (ProvisionedThroughputExceededException, ThrottlingException,
  TransactionCanceledException with TransactionConflict reasons). The request is steered away from moto, so nothing
  is applied, as with DynamoDB;
- last: after moto applied the write, a ReadTimeoutError: the write happened, the client never heard (botocore then
  retries the same request, which finds its own write).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ReadTimeoutError
from botocore.retries.standard import ExponentialBackoff
from moto.core.botocore_stubber import MockRawResponse

from gateway_common import db

KINDS = ("throughput", "throttling", "conflict", "timeout_after_write")
_TYPES = {
    "throughput": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
    "throttling": "com.amazon.coral.availability#ThrottlingException",
}
_NOWHERE = "https://fault-injected.invalid/"  # moto's stub matches no route there and lets the answer below stand


@dataclass
class Fault:
    operation: str              # e.g. "TransactWriteItems", "UpdateItem"
    kind: str                   # one of KINDS
    times: int = 1              # how many matching attempts fail (botocore makes 3 attempts per call)
    when: Callable[[dict[str, Any]], bool] = lambda _: True  # on the request's parameters
    hits: int = 0


@dataclass
class Injector:
    faults: list[Fault] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)

    def add(self, operation: str, kind: str, *, times: int = 1,
            when: Callable[[dict[str, Any]], bool] = lambda _: True) -> Fault:
        assert kind in KINDS, kind
        fault = Fault(operation, kind, times, when)
        self.faults.append(fault)
        return fault

    def _due(self, request: Any, event_name: str, kinds: tuple[str, ...]) -> Fault | None:
        operation = event_name.rsplit(".", 1)[-1]
        params = json.loads(request.body or b"{}")
        for fault in self.faults:
            if fault.operation == operation and fault.kind in kinds and fault.hits < fault.times and fault.when(params):
                fault.hits += 1
                return fault
        return None

    def before(self, request: Any, event_name: str, **_: Any) -> AWSResponse | None:
        self.calls.append(event_name.rsplit(".", 1)[-1])
        fault = self._due(request, event_name, ("throughput", "throttling", "conflict"))
        if fault is None:
            return None
        operation = event_name.rsplit(".", 1)[-1]
        if fault.kind == "conflict" and operation != "TransactWriteItems":  # a single write meeting a transaction
            body = {"__type": "com.amazonaws.dynamodb.v20120810#TransactionConflictException",
                    "message": "Transaction is ongoing for the item"}
        elif fault.kind == "conflict":
            count = len(json.loads(request.body).get("TransactItems", [])) or 1
            reasons = [{"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"}]
            reasons += [{"Code": "None"}] * (count - 1)
            body = {"__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
                    "message": "Transaction cancelled, please refer cancellation reasons for specific reasons "
                               f"[{', '.join(r['Code'] for r in reasons)}]", "CancellationReasons": reasons}
        else:
            body = {"__type": _TYPES[fault.kind], "message": f"injected {fault.kind}"}
        request.url = _NOWHERE
        return AWSResponse(_NOWHERE, 400, {"x-amzn-RequestId": "injected", "Content-Type": "application/x-amz-json-1.0"},
                           MockRawResponse(json.dumps(body).encode()))

    def after(self, request: Any, event_name: str, **_: Any) -> None:
        if str(request.url) == _NOWHERE:
            return
        if self._due(request, event_name, ("timeout_after_write",)) is not None:
            raise ReadTimeoutError(endpoint_url=str(request.url))

    def hit(self) -> int:
        return sum(f.hits for f in self.faults)


@contextmanager
def injected() -> Iterator[Injector]:
    """Faults on the process's DynamoDB client while the block runs (botocore's retries then wait no time: the
    attempts are what is tested, not the backoff's jitter)."""
    injector = Injector()
    events = db.client().meta.events
    patch = pytest.MonkeyPatch()
    patch.setattr(ExponentialBackoff, "delay_amount", lambda self, context: 0)
    events.register_first("before-send.dynamodb", injector.before, unique_id="fault-before")
    events.register_last("before-send.dynamodb", injector.after, unique_id="fault-after")
    try:
        yield injector
    finally:
        patch.undo()
        events.unregister("before-send.dynamodb", unique_id="fault-before")
        events.unregister("before-send.dynamodb", unique_id="fault-after")


def touches(table_logical_id: str) -> Callable[[dict[str, Any]], bool]:
    """A ``when`` matching requests on one table of the template (transactions: any of their items)."""
    def match(params: dict[str, Any]) -> bool:
        name = db.table_name(table_logical_id)
        if params.get("TableName") == name:
            return True
        return any(name == next(iter(item.values())).get("TableName") for item in params.get("TransactItems", []))
    return match
