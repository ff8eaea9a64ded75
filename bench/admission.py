"""What admission and settle cost per request type: DynamoDB calls, sequential round trips, and write units.

Run: `.venv/bin/python -m bench.admission`. Each request type is sent once warm through the local gateway (same code
as `make run`) over a local fake OpenAI upstream; its DynamoDB calls are recorded at the botocore client with 10 ms of
simulated latency each (so calls made in parallel overlap, as they would against DynamoDB). Write units are computed
as DynamoDB bills them: an item write costs ceil(item size / 1 KB) units (the larger of the item before and after),
and a transactional write twice that. Index write units are not counted here (since admission stopped writing a
reservation marker, the only per-request one is the usage record's entry): bench/vs_litellm.py's meter reads every
index's projection and counts them. Item sizes follow DynamoDB's rules (attribute names + values, numbers at about
1 byte per 2 digits + 1).

Before this design (main at d3bb716) a warm chat with plan limits and credits made 6 calls in 2 round trips:
4 counter UpdateItems, a 2-item admission transaction, a 4-item settle transaction = 16 write units (+2 for the
reservation's index). The issue's budget: <= 2 round trips, <= 4 calls and <= 8 write units; each per-key cap or
TPM limit adds at most one call in the same round trip.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import httpx

from bench.harness import DynamoCallCounter, local_gateway, round_trips
from bench.proxy import fake_upstream_app

BODY = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "Hello"}], "max_tokens": 32}
_READER: Any = None


def attribute_size(value: dict[str, Any]) -> int:
    (kind, inner), = value.items()
    if kind == "S":
        return len(inner.encode())
    if kind == "N":
        digits = len(inner.lstrip("-").replace(".", "").lstrip("0")) or 1
        return math.ceil(digits / 2) + 1
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(len(k.encode()) + 1 + attribute_size(v) for k, v in inner.items())
    if kind == "L":
        return 3 + sum(1 + attribute_size(v) for v in inner)
    if kind in ("SS", "NS"):
        return sum(attribute_size({kind[0]: v}) for v in inner)
    return len(str(inner))


def item_size(item: dict[str, Any] | None) -> int:
    return sum(len(name.encode()) + attribute_size(value) for name, value in (item or {}).items())


def units(size: int) -> int:
    return max(math.ceil(size / 1024), 1)


class WriteRecorder:
    """Every write's table and key, with the item's size before (read at the call) and after (read at the end)."""

    def __init__(self) -> None:
        self.writes: list[dict[str, Any]] = []
        self.active = False
        self._lock = threading.Lock()

    def install(self) -> None:
        from gateway_common import db

        db.client().meta.events.register("provide-client-params.dynamodb", self._params)

    def _params(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        if not self.active:
            return
        name = model.name
        if name == "TransactWriteItems":
            for element in params["TransactItems"]:
                (kind, body), = element.items()
                self._add(body, kind, transactional=True)
        elif name in ("PutItem", "UpdateItem", "DeleteItem"):
            self._add(params, name, transactional=False)

    def _add(self, body: dict[str, Any], kind: str, *, transactional: bool) -> None:
        key = body.get("Key") or self._key_of(body["TableName"], body["Item"])
        before = self._read(body["TableName"], key)
        with self._lock:
            self.writes.append({"table": body["TableName"], "key": key, "kind": kind, "transactional": transactional,
                                "before": item_size(before)})

    @staticmethod
    def _reader() -> Any:
        """A client of its own: the recorder's reads must not count as the request's calls."""
        global _READER
        if _READER is None:
            import botocore.session

            from gateway_common.settings import get_settings

            settings = get_settings()
            _READER = botocore.session.get_session().create_client(
                "dynamodb", region_name=settings.region, endpoint_url=settings.dynamodb_endpoint_url)
        return _READER

    def _key_of(self, table: str, item: dict[str, Any]) -> dict[str, Any]:
        schema = self._reader().describe_table(TableName=table)["Table"]["KeySchema"]
        return {k["AttributeName"]: item[k["AttributeName"]] for k in schema}

    def _read(self, table: str, key: dict[str, Any]) -> dict[str, Any] | None:
        return self._reader().get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")

    def write_units(self) -> tuple[int, list[str]]:
        """(table write units, one line per write)."""
        table_units = 0
        lines = []
        for write in self.writes:
            after = item_size(self._read(write["table"], write["key"]))
            cost = units(max(write["before"], after)) * (2 if write["transactional"] else 1)
            table_units += cost
            short = write["table"].split("-")[-1]
            lines.append(f"{write['kind']:<7} {short:<18} {max(write['before'], after):>5} B -> {cost} WU"
                         + (" (in a transaction)" if write["transactional"] else ""))
        return table_units, lines


@contextmanager
def recording(counter: DynamoCallCounter, recorder: WriteRecorder) -> Iterator[list[tuple[str, float, float]]]:
    recorder.writes.clear()
    recorder.active = True
    try:
        with counter.measure() as calls:
            yield calls
    finally:
        recorder.active = False


def main() -> None:
    os.environ.setdefault("KEY_CACHE_TTL_SECONDS", "30")
    os.environ["OPENAI_API_KEY"] = "sk-bench"
    for name, value in (("AWS_ACCESS_KEY_ID", "local"), ("AWS_SECRET_ACCESS_KEY", "local"), ("AWS_DEFAULT_REGION", "us-east-1")):
        os.environ.setdefault(name, value)
    from local import paths

    paths.install()
    from tests.servers import gateway_server

    with gateway_server(fake_upstream_app()) as upstream:
        os.environ["OPENAI_BASE_URL"] = upstream + "/v1"
        with local_gateway() as (base, keys):
            from gateway_common import apikeys, ledger
            from gateway_common.models import KeyCaps

            admin = keys["admin"]
            ledger.credit(user_id=admin["user_id"], amount=Decimal("1000"), entry_id="bench:credits", reason="bench")
            capped, _ = apikeys.create_gw_key(user_id=admin["user_id"], key_name="capped", environment="live",
                                              caps=KeyCaps(requests_per_minute=1000))
            all_caps, _ = apikeys.create_gw_key(user_id=admin["user_id"], key_name="all caps", environment="live",
                                                caps=KeyCaps(requests_per_minute=1000, tokens_per_minute=10**6,
                                                             max_budget=Decimal(100)))
            chat = "/v1/chat/completions"

            def bearer(key: str) -> dict[str, str]:
                return {"Authorization": f"Bearer {key}"}

            cases = [
                ("chat, plan limits + credits (no key caps)", chat, bearer(admin["key"]), BODY),
                ("chat, key with a request cap", chat, bearer(capped), BODY),
                ("chat, key with request + TPM + budget caps", chat, bearer(all_caps), BODY),
                ("/api/chat, license (AI-included budget)", "/api/chat", {"X-License-Key": keys["license_pro"]["key"]},
                 {"messages": BODY["messages"], "max_tokens": 32}),
                ("chat, sandbox key (never charged)", chat, bearer(keys["test"]["key"]), BODY),
                ("GET /user/balance (endpoint limits)", "/user/balance", bearer(admin["key"]), None),
            ]
            counter, recorder = DynamoCallCounter(), WriteRecorder()
            counter.install()
            recorder.install()
            print("DynamoDB cost per request (warm; 10 ms simulated latency per call; write units as DynamoDB bills them)")
            print(f"{'request':<46} {'calls':>5} {'round trips':>11} {'table WU':>8}")
            with httpx.Client(base_url=base, timeout=30) as http:
                for name, path, headers, body in cases:
                    def send(path: str = path, headers: dict[str, str] = headers, body: Any = body) -> httpx.Response:
                        return http.get(path, headers=headers) if body is None else http.post(path, headers=headers, json=body)

                    send().raise_for_status()  # warm: key cache, stale attributes learnt
                    with counter.measure() as calls:  # calls and round trips, nothing else running in the hooks
                        send().raise_for_status()
                    with recording(counter, recorder):  # then the same request again, its writes sized
                        send().raise_for_status()
                    table_units, lines = recorder.write_units()
                    print(f"{name:<46} {len(calls):>5} {round_trips(calls):>11} {table_units:>8}")
                    for line in lines:
                        print(f"    {line}")
            print("before (main at d3bb716): chat with plan limits + credits = 6 calls, 2 round trips, 16 table WU + 2 index WU;"
                  " GET /user/balance = 4 calls (3 window counters + the balance read)")


if __name__ == "__main__":
    main()
