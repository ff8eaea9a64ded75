"""The rollup job: reads the UsageTable's DynamoDB stream and adds each usage record to its rollups exactly once.

Exactly once, without a lock:
- one checkpoint item per shard (StreamCheckpointsTable) holds the last sequence number whose records are in the rollups;
- a batch (records after the checkpoint, up to ``max_records``) is aggregated in memory into rollup rows, sorted, and
  cut into parts of at most ``part_size`` rows (a transaction holds at most 100 items);
- each part is one TransactWriteItems: its rollup updates plus the checkpoint update, conditioned on the checkpoint
  being exactly where this run left it. The last part moves ``seq`` to the batch's last record; earlier parts record
  ``pending_end`` (the batch's last record), ``parts_done`` and ``part_size``, so a run that dies between parts is
  finished by the next run, which re-reads exactly the same records (stream records are immutable) and cuts them with
  the stored part size, so it rebuilds the same parts whatever its own part size;
- a second run at the same time loses the condition on the checkpoint and re-reads it: no record counted twice or lost.

Shards: a child shard is read only once its parent shard (when still listed) is finished (closed and read to its end).
Only INSERT events count: usage records are written once (conditional put) and REMOVE events are TTL deletions.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

import boto3
from botocore.exceptions import ClientError

from gateway_common import db, rollups
from gateway_common.dynamo_types import deserialize_item
from gateway_common.settings import get_settings
from gateway_common.timeutil import iso_now, now_ts

CHECKPOINTS = "StreamCheckpointsTable"
STATUS_ID = "job#rollup"
PART_SIZE = 99  # + the checkpoint = 100 items, the TransactWriteItems maximum
MAX_RECORDS = 5000


class StreamsClient(Protocol):
    def describe_stream(self, **kwargs: Any) -> dict[str, Any]: ...
    def get_shard_iterator(self, **kwargs: Any) -> dict[str, Any]: ...
    def get_records(self, **kwargs: Any) -> dict[str, Any]: ...


@dataclass
class Checkpoint:
    shard_id: str
    seq: str | None = None
    pending_end: str | None = None
    parts_done: int = 0
    part_size: int | None = None  # the part size of the batch in progress (with pending_end)
    finished: bool = False


@dataclass
class StreamRecord:
    seq: str
    event_name: str
    created_ts: float
    image: dict[str, Any] | None


@dataclass
class RunReport:
    records: int = 0  # stream records consumed (INSERTs counted + others skipped)
    counted: int = 0  # usage records added to the rollups
    transactions: int = 0
    rows_written: int = 0
    conflicts: int = 0  # parts another run committed first
    shards: list[str] = field(default_factory=list)
    lag_seconds: float = 0.0
    caught_up: bool = True


def streams_client() -> Any:
    settings = get_settings()
    return boto3.session.Session(region_name=settings.region).client(
        "dynamodbstreams", endpoint_url=settings.dynamodb_endpoint_url
    )


def stream_arn() -> str:
    arn = os.environ.get("USAGE_STREAM_ARN")
    if arn:
        return arn
    return db.client().describe_table(TableName=db.table_name("UsageTable"))["Table"]["LatestStreamArn"]


def list_shards(client: StreamsClient, arn: str) -> list[dict[str, Any]]:
    shards: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"StreamArn": arn}
    while True:
        description = client.describe_stream(**kwargs)["StreamDescription"]
        shards.extend(description.get("Shards", []))
        last = description.get("LastEvaluatedShardId")
        if not last:
            return shards
        kwargs["ExclusiveStartShardId"] = last


def parents_first(shards: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Shards ordered so that every listed parent comes before its children."""
    by_id = {s["ShardId"]: s for s in shards}
    ordered: list[dict[str, Any]] = []
    seen: set[str] = set()

    def visit(shard: dict[str, Any]) -> None:
        if shard["ShardId"] in seen:
            return
        seen.add(shard["ShardId"])
        parent = shard.get("ParentShardId")
        if parent in by_id:
            visit(by_id[parent])
        ordered.append(shard)

    for shard in shards:
        visit(shard)
    return ordered


def _created_ts(value: Any) -> float:
    if isinstance(value, datetime):
        return value.timestamp()
    try:
        return float(value)
    except (TypeError, ValueError):
        return now_ts()


def _parse(raw: dict[str, Any]) -> StreamRecord:
    data = raw.get("dynamodb", {})
    image = data.get("NewImage")
    return StreamRecord(
        seq=str(data["SequenceNumber"]),
        event_name=str(raw.get("eventName", "")),
        created_ts=_created_ts(data.get("ApproximateCreationDateTime")),
        image=deserialize_item(image) if image else None,
    )


class RollupJob:
    def __init__(
        self,
        client: StreamsClient | None = None,
        *,
        arn: str | None = None,
        part_size: int = PART_SIZE,
        max_records: int = MAX_RECORDS,
        after_commit: Callable[[str, int, int], None] | None = None,
        time_left: Callable[[], float] | None = None,
    ) -> None:
        self.client = client or streams_client()
        self.arn = arn or stream_arn()
        self.part_size = max(1, min(part_size, PART_SIZE))
        self.max_records = max_records
        self.after_commit = after_commit  # test hook: (shard_id, part index, parts) after each committed part
        self.time_left = time_left or (lambda: float("inf"))
        self.checkpoints = db.table(CHECKPOINTS)

    # ------------------------------------------------------------ checkpoints

    def load(self, shard_id: str) -> Checkpoint:
        item = self.checkpoints.get_item(Key={"shard_id": shard_id}, ConsistentRead=True).get("Item") or {}
        return Checkpoint(
            shard_id=shard_id,
            seq=item.get("seq"),
            pending_end=item.get("pending_end"),
            parts_done=int(item.get("parts_done", 0)),
            part_size=int(item["part_size"]) if "part_size" in item else None,
            finished=bool(item.get("finished", False)),
        )

    # ------------------------------------------------------------ stream reading

    def read(self, shard_id: str, after: str | None, until: str | None) -> tuple[list[StreamRecord], bool]:
        """Records after ``after`` (up to ``until`` inclusive, or up to max_records). Returns (records, shard_closed)."""
        kwargs: dict[str, Any] = {"StreamArn": self.arn, "ShardId": shard_id}
        if after is None:
            kwargs["ShardIteratorType"] = "TRIM_HORIZON"
        else:
            kwargs.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber=after)
        iterator = self.client.get_shard_iterator(**kwargs).get("ShardIterator")
        records: list[StreamRecord] = []
        while iterator:
            page = self.client.get_records(ShardIterator=iterator, Limit=1000)
            batch = [_parse(r) for r in page.get("Records", [])]
            iterator = page.get("NextShardIterator")
            for record in batch:
                if until is not None and int(record.seq) > int(until):
                    return records, False
                records.append(record)
                if until is not None and record.seq == until:
                    return records, False
                if until is None and len(records) >= self.max_records:
                    return records, False
            if not batch:
                break
        return records, iterator is None

    # ------------------------------------------------------------ committing

    def _commit(self, cp: Checkpoint, end: str, part: list[tuple[tuple[str, str], rollups.Totals]], index: int,
                parts: int, size: int, lag: float) -> bool:
        now_iso = iso_now()
        hour_expiry = int(now_ts()) + rollups.HOUR_ROW_TTL
        items = [
            rollups.update_item(pk, sk, totals, now_iso=now_iso, expires_at=hour_expiry if sk.startswith("hour#") else None)
            for (pk, sk), totals in part
        ]
        values: dict[str, Any] = {":end": {"S": end}, ":now": {"S": now_iso}, ":arn": {"S": self.arn}}
        names = {"#seq": "seq"}
        if index == parts - 1:
            update = "SET #seq = :end, parts_done = :zero, updated_at = :now, stream_arn = :arn, lag_seconds = :lag " \
                     "REMOVE pending_end, part_size"
            values[":zero"] = {"N": "0"}
            values[":lag"] = {"N": str(round(lag, 3))}
        else:
            update = "SET pending_end = :end, parts_done = :next, part_size = :size, updated_at = :now, stream_arn = :arn"
            values[":next"] = {"N": str(index + 1)}
            values[":size"] = {"N": str(size)}
        conditions = ["attribute_not_exists(#seq)" if cp.seq is None else "#seq = :prev"]
        if cp.seq is not None:
            values[":prev"] = {"S": cp.seq}
        if index == 0 and cp.pending_end is None:
            conditions.append("attribute_not_exists(pending_end)")
        else:
            conditions.append("pending_end = :end AND parts_done = :index")
            values[":index"] = {"N": str(index)}
        items.append({
            "Update": {
                "TableName": db.table_name(CHECKPOINTS),
                "Key": {"shard_id": {"S": cp.shard_id}},
                "UpdateExpression": update,
                "ConditionExpression": " AND ".join(conditions),
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
            }
        })
        try:
            db.client().transact_write_items(TransactItems=items)
        except ClientError as exc:
            reasons = db.cancellation_reasons(exc)
            if reasons and reasons[-1] == "ConditionalCheckFailed":
                return False  # another run moved this shard's checkpoint first
            if "TransactionConflict" in reasons:
                return False  # a concurrent run's transaction held one of these rows: nothing written, reload and retry
            raise
        return True

    def _finish(self, cp: Checkpoint) -> None:
        values: dict[str, Any] = {":true": True, ":now": iso_now()}
        condition = "attribute_not_exists(pending_end) AND " + ("attribute_not_exists(seq)" if cp.seq is None else "seq = :prev")
        if cp.seq is not None:
            values[":prev"] = cp.seq
        try:
            self.checkpoints.update_item(
                Key={"shard_id": cp.shard_id},
                UpdateExpression="SET finished = :true, updated_at = :now",
                ConditionExpression=condition,
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if not db.is_conditional_failure(exc):
                raise

    # ------------------------------------------------------------ the run

    def process_shard(self, shard_id: str, report: RunReport) -> bool:
        """Roll up a shard as far as it goes now. Returns True when the shard is finished (closed and fully read)."""
        while self.time_left() > 5.0:
            cp = self.load(shard_id)
            if cp.finished:
                return True
            records, closed = self.read(shard_id, cp.seq, cp.pending_end)
            if not records:
                if closed:
                    self._finish(cp)
                    return True
                return False
            end = cp.pending_end or records[-1].seq
            inserts = [r.image for r in records if r.event_name == "INSERT" and r.image is not None]
            rows = sorted(rollups.aggregate(inserts).items())
            size = cp.part_size if cp.pending_end and cp.part_size else self.part_size
            parts = [rows[i:i + size] for i in range(0, len(rows), size)] or [[]]
            lag = max(now_ts() - records[-1].created_ts, 0.0)
            start = cp.parts_done if cp.pending_end else 0
            lost = False
            for index in range(start, len(parts)):
                if not self._commit(cp, end, parts[index], index, len(parts), size, lag):
                    report.conflicts += 1
                    lost = True
                    break
                report.transactions += 1
                report.rows_written += len(parts[index])
                if self.after_commit is not None:
                    self.after_commit(shard_id, index, len(parts))
                cp = Checkpoint(shard_id, cp.seq, end, index + 1, size)
            if lost:
                continue
            report.records += len(records)
            report.counted += len(inserts)
            report.lag_seconds = max(report.lag_seconds, lag)
        report.caught_up = False
        return False

    def run(self) -> RunReport:
        report = RunReport()
        shards = parents_first(list_shards(self.client, self.arn))
        listed = {s["ShardId"] for s in shards}
        finished: set[str] = set()
        for shard in shards:
            parent = shard.get("ParentShardId")
            if parent in listed and parent not in finished:
                continue  # the parent still has records to roll up first
            report.shards.append(shard["ShardId"])
            if self.process_shard(shard["ShardId"], report):
                finished.add(shard["ShardId"])
        if report.caught_up:
            report.lag_seconds = 0.0  # nothing left waiting: the newest record is rolled up
        self._status(report)
        return report

    def _status(self, report: RunReport) -> None:
        """Best-effort job status for /admin/monitor (not part of the exactly-once state)."""
        self.checkpoints.put_item(Item={
            "shard_id": STATUS_ID, "last_run_at": iso_now(), "lag_seconds": Decimal(str(round(report.lag_seconds, 3))),
            "last_records": report.records, "caught_up": report.caught_up,
        })


def job_status() -> dict[str, Any] | None:
    return db.table(CHECKPOINTS).get_item(Key={"shard_id": STATUS_ID}).get("Item")


def run_once(**kwargs: Any) -> RunReport:
    return RollupJob(**kwargs).run()
