"""Acceptance 3: rollups equal the sum of the records, exactly once through crashes, concurrent runs and shard splits."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

import pytest
from boto3.dynamodb.types import TypeSerializer

from gateway_common import db, rollups
from gateway_common.timeutil import now_ts
from gw_rollup.job import RollupJob, parents_first
from tests.usage.factory import totals, usage_record, write_records

MODELS = ("openai/gpt-4o-mini", "anthropic/claude-3-haiku", "deepseek/deepseek-chat")


def _records(n: int) -> list[Any]:
    return [
        usage_record(f"user{i % 3}", f"key{i % 4}", model=MODELS[i % 3], provider=MODELS[i % 3].split("/")[0],
                     tokens=(i % 7 + 1, i % 5 + 2), cost=f"0.00{i % 9 + 1}", latency_ms=100 + i,
                     status="error" if i % 10 == 0 else "success")
        for i in range(n)
    ]


def _expected(records: list[Any]) -> dict[tuple[str, str], dict[str, Any]]:
    sums: dict[tuple[str, str], dict[str, Any]] = defaultdict(lambda: defaultdict(int))
    for r in records:
        day = r.created_at[:10]
        for pk in (f"key#{r.key_id}", f"user#{r.user_id}", f"model#{r.model}", f"provider#{r.provider}", "global"):
            row = sums[(pk, f"day#{day}")]
            row["requests"] += 1
            row["total_tokens"] += r.total_tokens
            row["prompt_tokens"] += r.prompt_tokens
            row["latency_ms"] += r.latency_ms
            row["errors"] += r.status != "success"
            row["cost_eur"] += r.cost
    return sums


def _assert_rollups_match(records: list[Any]) -> None:
    expected = _expected(records)
    for (pk, sk), want in expected.items():
        got = totals(pk, sk)
        for name, value in want.items():
            assert Decimal(got.get(name, 0)) == Decimal(value), (pk, sk, name, got)
    day = records[0].created_at[:10]
    assert totals("global", f"month#{day[:7]}")["requests"] == len(records)
    assert totals("global", "all")["requests"] == len(records)
    by_model = rollups.breakdown("global", "model", day, day)[day]
    assert sum(t.requests for t in by_model.values()) == len(records)


def test_totals_equal_the_sum_of_the_records(dynamo):
    records = _records(60)
    write_records(records)
    report = RollupJob().run()
    assert report.counted == 60 and report.caught_up and report.lag_seconds == 0.0
    _assert_rollups_match(records)
    # A second run finds nothing new; a TTL-style deletion (REMOVE event) is not counted.
    db.table("UsageTable").delete_item(Key={"user_id": records[0].user_id, "sk": records[0].sk})
    again = RollupJob().run()
    assert again.counted == 0 and again.records == 1
    _assert_rollups_match(records)


def test_many_records_become_few_writes(dynamo):
    records = _records(300)
    write_records(records)
    report = RollupJob().run()
    assert report.counted == 300
    assert report.rows_written < 300  # aggregated in memory: far fewer rows than records x rows per record
    assert report.transactions == -(-report.rows_written // 99)


def test_records_arriving_while_a_run_writes_wait_for_the_next_run(dynamo):
    """A run ends at the tip it found: it does not chase a busy stream one record (~23 rows) per transaction until its
    timeout. What arrived meanwhile is counted, exactly once, by the next run, in one batch."""
    first, arriving, arrived = _records(30), [_records(1) for _ in range(5)], []

    def traffic(shard_id: str, index: int, parts: int) -> None:
        if arriving:
            arrived.extend(arriving.pop())  # a request settles while the run commits
            write_records(arrived[-1:])

    write_records(first)
    report = RollupJob(after_commit=traffic).run()
    assert report.counted == 30 and report.transactions == 1 and report.caught_up
    assert len(arriving) == 4  # one commit, so one record arrived during the run
    late = _records(4)
    write_records(late)
    again = RollupJob().run()
    assert again.counted == 5 and again.transactions == 1
    _assert_rollups_match(first + arrived + late)


class Crash(Exception):
    pass


@pytest.mark.parametrize("crash_at", ["first part", "last part"])
def test_killed_after_writing_then_run_again_gives_the_same_totals(dynamo, crash_at):
    records = _records(40)
    write_records(records)

    def die(shard_id: str, index: int, parts: int) -> None:
        if (crash_at == "first part" and index == 0) or (crash_at == "last part" and index == parts - 1):
            raise Crash(f"killed after part {index + 1}/{parts}")

    with pytest.raises(Crash):
        RollupJob(part_size=10, after_commit=die).run()
    RollupJob(part_size=10).run()
    _assert_rollups_match(records)
    assert RollupJob().run().counted == 0


def test_a_run_with_another_part_size_finishes_a_killed_batch_exactly(dynamo):
    """The batch in progress is cut with the part size stored beside pending_end, not the resuming run's own (a deploy
    may change it between the two runs): otherwise parts would be rebuilt differently, counted twice or never."""
    records = _records(40)
    write_records(records)

    def die(shard_id: str, index: int, parts: int) -> None:
        if index == 1:
            raise Crash("killed after part 2")

    with pytest.raises(Crash):
        RollupJob(part_size=10, after_commit=die).run()
    report = RollupJob().run()  # part size 99
    assert report.counted == 40 and report.transactions > 1  # finished the ten-row parts, one transaction each
    _assert_rollups_match(records)
    checkpoint = [i for i in db.table("StreamCheckpointsTable").scan()["Items"]
                  if not i["shard_id"].startswith(("job#", "lease#"))]
    assert len(checkpoint) == 1 and "pending_end" not in checkpoint[0] and "part_size" not in checkpoint[0]
    assert "key_version" not in checkpoint[0]


def test_a_transaction_conflict_with_a_concurrent_run_is_retried(dynamo, monkeypatch):
    """DynamoDB cancels a transaction that meets another one on the same row (TransactionConflict): nothing of it is
    written, so the job reloads the checkpoint and retries instead of failing the invocation."""
    from botocore.exceptions import ClientError

    from gw_rollup import job as job_module

    records = _records(20)
    write_records(records)
    real_client = db.client()
    conflicts = iter([True])

    class Conflicting:
        def __getattr__(self, name: str) -> Any:
            return getattr(real_client, name)

        def transact_write_items(self, TransactItems: list[Any]) -> Any:
            if next(conflicts, False):
                reasons = [{"Code": "None"}] * (len(TransactItems) - 1) + [{"Code": "None"}]
                reasons[0] = {"Code": "TransactionConflict"}
                raise ClientError({"Error": {"Code": "TransactionCanceledException", "Message": "conflict"},
                                   "CancellationReasons": reasons}, "TransactWriteItems")
            return real_client.transact_write_items(TransactItems=TransactItems)

    monkeypatch.setattr(job_module.db, "client", lambda: Conflicting())
    report = RollupJob().run()
    assert report.conflicts == 1 and report.counted == 20
    monkeypatch.undo()
    _assert_rollups_match(records)


# Two runs at once: deterministic, in test_rollup_resume.py (a competing run started through ``after_commit`` or right
# after a read, one test per checkpoint guard); racing threads caught a broken condition in only 7-8 runs of 10.


# ------------------------------------------------------------------ shards (fake stream: moto has one shard)

_serializer = TypeSerializer()


class FakeStreams:
    """A stream with a closed parent shard and its child; records what was read, in order."""

    def __init__(self, shards: dict[str, dict[str, Any]], created_ts: float | None = None) -> None:
        self.shards = shards  # id -> {"parent": id|None, "records": [image], "closed": bool}
        self.reads: list[str] = []
        self.created_ts = created_ts
        seq = 100
        for shard in shards.values():
            shard["seqs"] = []
            for _ in shard["records"]:
                seq += 1
                shard["seqs"].append(str(seq))

    def describe_stream(self, **kwargs: Any) -> dict[str, Any]:
        # Children listed before parents, as nothing guarantees the order.
        shards = [{"ShardId": sid, **({"ParentShardId": s["parent"]} if s["parent"] else {})}
                  for sid, s in reversed(list(self.shards.items()))]
        return {"StreamDescription": {"Shards": shards}}

    def get_shard_iterator(self, **kwargs: Any) -> dict[str, Any]:
        shard = self.shards[kwargs["ShardId"]]
        position = 0
        if kwargs["ShardIteratorType"] == "AFTER_SEQUENCE_NUMBER":
            position = shard["seqs"].index(kwargs["SequenceNumber"]) + 1
        return {"ShardIterator": f"{kwargs['ShardId']}|{position}"}

    def get_records(self, ShardIterator: str, Limit: int) -> dict[str, Any]:
        shard_id, position = ShardIterator.split("|")
        shard, start = self.shards[shard_id], int(position)
        chunk = list(zip(shard["seqs"], shard["records"], strict=True))[start:start + 3]
        self.reads.extend(shard_id for _ in chunk)
        records = [{
            "eventName": "INSERT",
            "dynamodb": {"SequenceNumber": seq, "ApproximateCreationDateTime": self.created_ts or now_ts(),
                         "NewImage": {k: _serializer.serialize(v) for k, v in image.items()}},
        } for seq, image in chunk]
        end = start + len(chunk)
        closed_and_done = shard["closed"] and end >= len(shard["seqs"]) and not chunk
        return {"Records": records, **({} if closed_and_done else {"NextShardIterator": f"{shard_id}|{end}"})}


def test_parent_shard_is_read_before_its_child(dynamo):
    parent = [usage_record("u1", "k1").item() for _ in range(5)]
    child = [usage_record("u1", "k1").item() for _ in range(4)]
    fake = FakeStreams({
        "shard-parent": {"parent": None, "records": parent, "closed": True},
        "shard-child": {"parent": "shard-parent", "records": child, "closed": False},
    })
    assert [s["ShardId"] for s in parents_first(fake.describe_stream()["StreamDescription"]["Shards"])] == [
        "shard-parent", "shard-child"]
    report = RollupJob(fake, arn="arn:fake").run()
    assert report.counted == 9
    assert fake.reads == ["shard-parent"] * 5 + ["shard-child"] * 4
    assert totals("key#k1", f"day#{parent[0]['day']}")["requests"] == 9
    assert RollupJob(fake, arn="arn:fake").run().counted == 0


def test_child_waits_while_its_parent_is_still_open(dynamo):
    fake = FakeStreams({
        "p": {"parent": None, "records": [usage_record("u1", "k1").item()], "closed": False},
        "c": {"parent": "p", "records": [usage_record("u1", "k1").item()], "closed": False},
    })
    job = RollupJob(fake, arn="arn:fake")
    report = job.run()
    assert report.counted == 1 and job.load("c").seq is None  # the child's record waits for its parent's end
    assert set(report.shard_lag) == {"p", "c"}  # both shards' lag is still measured


def test_lag_is_the_age_of_the_oldest_record_still_waiting(dynamo):
    fake = FakeStreams({"s": {"parent": None, "records": [usage_record("u1", "k1").item() for _ in range(6)],
                              "closed": False}}, created_ts=now_ts() - 7200)
    report = RollupJob(fake, arn="arn:fake", max_records=3, time_left=iter([100.0, 100.0, 0.0]).__next__).run()
    assert report.counted == 3 and not report.caught_up
    assert report.shard_lag == {"s": 7200.0} and report.lag_seconds == 7200.0  # three records still wait
    assert RollupJob(fake, arn="arn:fake").run().lag_seconds == 0.0  # caught up: nothing waits


def test_scheduled_handler_with_the_sample_event(dynamo):
    import json
    from types import SimpleNamespace

    from gw_rollup.app import handler
    from local.paths import ROOT

    write_records(_records(5))
    event = json.loads((ROOT / "events" / "RollupFunction.json").read_text())
    context = SimpleNamespace(function_name="RollupFunction", get_remaining_time_in_millis=lambda: 120_000,
                              aws_request_id="test", invoked_function_arn="arn:aws:lambda:us-east-1:0:function:x")
    result = handler(event, context)
    assert result["counted"] == 5 and result["caught_up"] is True and result["lag_seconds"] == 0.0
