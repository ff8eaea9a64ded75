"""The rollup job over 2,000 usage records (50 keys, 5 models): records per second and records per DynamoDB write;
then 13 runs triggered at once over 500 records, without and with the shard lease: records per second, conflicts.

Run: `.venv/bin/python -m bench.rollup [records] [keys] [models] [concurrent records]`. DynamoDB is moto in-process
(the records are written first, outside the measurement), so records/second is the job's own work plus moto's; the
write counts are what a deployed function makes: one TransactWriteItems call carries up to 99 rollup rows plus the
shard's checkpoint. A conflict is a part another run committed first (its transaction wrote nothing).
"""

from __future__ import annotations

import sys
import threading
import time
from decimal import Decimal
from typing import Any

from bench.harness import run_threads
from local import embedded, paths

paths.install()
embedded.set_local_env()

CONCURRENT_RUNS = 13


def _write(total: int, keys: int, models: int) -> list[dict[str, Any]]:
    from gateway_common import db
    from gateway_common.usage import UsageRecord

    providers = ("openai", "anthropic", "deepseek")
    table = db.table("UsageTable")
    with table.batch_writer() as batch:
        for i in range(total):
            model = f"{providers[i % models % 3]}/model-{i % models}"
            batch.put_item(Item=UsageRecord(
                user_id=f"user_{i % keys // 2}", request_id=f"req_{i:06d}", key_id=f"key_{i % keys}", plan_id=1 + i % 5,
                endpoint="/v1/chat/completions", model=model, provider=model.split("/")[0], prompt_tokens=100 + i % 50,
                completion_tokens=200 + i % 70, total_tokens=300 + i % 50 + i % 70, cost=Decimal("0.000123"),
                currency="eur" if i % 4 == 0 else "usd", latency_ms=150 + i % 300,
                created_at=f"2025-08-{9 + i % 2:02d}T07:{i % 60:02d}:00Z",
            ).item())
    return [dict(item) for item in table.query(
        KeyConditionExpression="user_id = :u", ExpressionAttributeValues={":u": "user_0"})["Items"]]


def _one_copy_per_table() -> None:
    """Bench only: moto's TransactWriteItems deep-copies a table once per item it writes there (99 copies of the
    rollups table per part), which would measure moto, not the job. Copy each table once per transaction instead
    (same rollback behaviour). The local runner's own fix (issue 12) copies only the items touched."""
    import copy
    import types

    from moto.dynamodb import models

    if isinstance(models.copy, types.SimpleNamespace):
        return
    cache = threading.local()
    original = models.DynamoDBBackend.transact_write_items

    def deepcopy(value: Any, memo: Any = None) -> Any:
        copies = getattr(cache, "copies", None)
        if copies is None or not isinstance(value, models.Table):
            return copy.deepcopy(value, memo)
        if id(value) not in copies:
            copies[id(value)] = copy.deepcopy(value)
        return copies[id(value)]

    def transact_write_items(self: Any, transact_items: Any) -> Any:
        cache.copies = {}
        try:
            return original(self, transact_items)
        finally:
            cache.copies = None

    models.copy = types.SimpleNamespace(deepcopy=deepcopy, copy=copy.copy)  # type: ignore[attr-defined]
    models.DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


def _fresh() -> Any:
    from moto import mock_aws

    from gateway_common import db
    from local import moto_atomic, tables

    mock = mock_aws()
    mock.start()
    _one_copy_per_table()
    moto_atomic.install()
    db.reset_clients()
    tables.create_all(db.client())
    return mock


def single(total: int, keys: int, models: int) -> None:
    from gateway_common import rollups
    from gw_rollup.job import RollupJob

    mock = _fresh()
    try:
        images = _write(total, keys, models)
        started = time.perf_counter()
        report = RollupJob().run()
        seconds = time.perf_counter() - started
    finally:
        mock.stop()
    sample = (images * (total // max(len(images), 1) + 1))[:total]
    started = time.perf_counter()
    rollups.aggregate(sample)
    aggregate_seconds = time.perf_counter() - started
    assert report.counted == total, report
    print(f"rollup job: {total} records, {keys} keys, {models} models (2 days)")
    print(f"  time                          {seconds:.2f} s")
    print(f"  records per second            {total / seconds:,.0f}   (moto: each transaction deep-copies the tables)")
    print(f"  in-memory aggregation alone   {total / aggregate_seconds:,.0f} records per second")
    print(f"  DynamoDB write calls          {report.transactions} TransactWriteItems (rows + checkpoint each)")
    print(f"  rollup rows written           {report.rows_written}")
    print(f"  records per DynamoDB write    {total / report.transactions:,.1f} per call, "
          f"{total / (report.rows_written + report.transactions):,.2f} per item written")


def concurrent(total: int, keys: int, models: int, *, lease: bool) -> dict[str, Any]:
    from gw_rollup.job import RollupJob

    mock = _fresh()
    reports: list[Any] = []
    errors: list[BaseException] = []
    try:
        _write(total, keys, models)
        barrier = threading.Barrier(CONCURRENT_RUNS)

        def run() -> None:
            try:
                barrier.wait()
                reports.append(RollupJob(lease=lease, max_records=500).run())
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        seconds = run_threads([threading.Thread(target=run) for _ in range(CONCURRENT_RUNS)])
    finally:
        mock.stop()
    assert not errors, errors
    counted = sum(r.counted for r in reports)
    assert counted == total, (counted, total)
    return {"seconds": seconds, "conflicts": sum(r.conflicts for r in reports),
            "transactions": sum(r.transactions for r in reports), "skipped": sum(r.leased_elsewhere for r in reports)}


def main(total: int = 2_000, keys: int = 50, models: int = 5, contended: int = 500) -> None:
    single(total, keys, models)
    print(f"\n{CONCURRENT_RUNS} runs triggered at once over {contended} records (batches of 500; every record counted "
          "exactly once in both)")
    print(f"  {'':28}{'records/s':>10}{'conflicts':>11}{'commits':>9}{'shards skipped':>16}{'wall':>8}")
    for name, lease in (("without lease (before)", False), ("with shard lease (after)", True)):
        r = concurrent(contended, keys, models, lease=lease)
        print(f"  {name:28}{contended / r['seconds']:>10,.0f}{r['conflicts']:>11}{r['transactions']:>9}"
              f"{r['skipped']:>16}{r['seconds']:>7.1f}s")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:5]))
