"""The rollup job over 10,000 usage records (50 keys, 5 models): records per second and records per DynamoDB write.

Run: `.venv/bin/python -m bench.rollup [records] [keys] [models]`. DynamoDB is moto in-process (the records are written
first, outside the measurement), so records/second is the job's own work plus moto's; the write counts are what a
deployed function makes: one TransactWriteItems call carries up to 99 rollup rows plus the shard's checkpoint.
"""

from __future__ import annotations

import sys
import time
from decimal import Decimal

from local import embedded, paths

paths.install()
embedded.set_local_env()


def main(total: int = 10_000, keys: int = 50, models: int = 5) -> None:
    from moto import mock_aws

    from gateway_common import db
    from gateway_common.usage import UsageRecord
    from local import moto_atomic, tables

    with mock_aws():
        moto_atomic.install()
        db.reset_clients()
        tables.create_all(db.client())
        from gw_rollup.job import RollupJob

        providers = ("openai", "anthropic", "deepseek")
        table = db.table("UsageTable")
        with table.batch_writer() as batch:
            for i in range(total):
                model = f"{providers[i % models % 3]}/model-{i % models}"
                batch.put_item(Item=UsageRecord(
                    user_id=f"user_{i % keys // 2}", request_id=f"req_{i:06d}", key_id=f"key_{i % keys}", plan_id=1 + i % 5,
                    endpoint="/v1/chat/completions", model=model, provider=model.split("/")[0], prompt_tokens=100 + i % 50,
                    completion_tokens=200 + i % 70, total_tokens=300 + i % 50 + i % 70, cost=Decimal("0.000123"),
                    latency_ms=150 + i % 300, created_at=f"2025-08-{9 + i % 2:02d}T07:{i % 60:02d}:00Z",
                ).item())
        images = [dict(item) for item in table.query(
            KeyConditionExpression="user_id = :u", ExpressionAttributeValues={":u": "user_0"})["Items"]]
        started = time.perf_counter()
        report = RollupJob().run()
        seconds = time.perf_counter() - started
    from gateway_common import rollups

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


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:4]))
