"""The rollup job: reads the UsageTable's DynamoDB stream and adds each usage record to its rollups exactly once.

Exactly once, without trusting a lock:
- one checkpoint item per shard (StreamCheckpointsTable) holds the last sequence number whose records are in the rollups;
- a batch (records after the checkpoint, up to ``max_records``) is aggregated in memory into rollup rows, sorted, and
  cut into parts of at most ``part_size`` rows (a transaction holds at most 100 items);
- each part is one TransactWriteItems: its rollup updates plus the checkpoint update, conditioned on the checkpoint
  being exactly where this run left it. The last part moves ``seq`` to the batch's last record. Earlier parts store the
  batch's definition beside the checkpoint: its start (``seq``, unchanged until the batch ends), its end
  (``pending_end``), ``part_size``, the rollup ``key_version`` and ``parts_done``;
- a run that finds a batch in progress finishes it with that stored definition: it re-reads exactly the same records
  (stream records are immutable) and cuts them with the stored part size and key rules, whatever its own settings
  (a deploy between the crash and the resume may have changed both). It resumes only from a complete read: the shard
  is read across empty pages (DynamoDB Streams may return them in the middle of a shard) up to the recorded end; when
  that end is not reached the run writes nothing for that shard and leaves the batch for a later run;
- a second run at the same time loses the condition on the checkpoint: nothing of its part is written.

A run takes what the shard holds when it gets there, not what arrives while it writes: a new batch that ends at the
tip (before ``max_records``) ends the shard's run. Chasing the tip would roll up a busy stream a few records at a time,
each record's ~23 rows in a transaction of its own, for the whole invocation (at 60 s between runs, every run would last
until its timeout); the next run finds a minute's records and writes each row once for all of them.

Contention: one run per shard at a time through a lease item (``lease#<shard>``, a conditional write with an expiry,
also the table's TTL attribute); a run that finds the lease held skips that shard. The lease only saves work: the
checkpoint condition above keeps the totals exact even when a lease expires under a slow run. A run that loses a part
to another run reuses the records it read when the batch is still the same one, instead of re-reading them.

Lag, from the stream's side: after each shard, every run (whether it made progress or not, held the lease or not)
looks at the oldest record after the shard's checkpoint; its age is the shard's lag (0 when none waits). The job
status item keeps the figures per shard and ``complete_until`` (every record created before it is in the rollups).

Shards: a child shard is read only once its parent shard (when still listed) is finished (closed and read to its end).
Only INSERT events count: usage records are written once (conditional put) and REMOVE events are TTL deletions.
"""

from __future__ import annotations

import math
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol

import botocore.session
from botocore.config import Config
from botocore.exceptions import ClientError

from gateway_common import db, rollups
from gateway_common.dynamo_types import deserialize_item
from gateway_common.observability import logger
from gateway_common.settings import get_settings
from gateway_common.timeutil import iso, iso_now, now_ts

CHECKPOINTS = "StreamCheckpointsTable"
STATUS_ID = "job#rollup"
LEASE_PREFIX = "lease#"
PART_SIZE = 99  # + the checkpoint = 100 items, the TransactWriteItems maximum
MAX_RECORDS = 5000
PAGE_LIMIT = 1000
EMPTY_PAGES_AT_TIP = 3  # consecutive empty pages taken as the tip of an open shard (new batches, the lag look-up)
EMPTY_PAGES_ON_RESUME = 100  # a resumed batch reads on across this many empty pages towards its recorded end
LEASE_SECONDS = 300  # a shard's lease when the run has no deadline (tests, bench); else its remaining time + margin
LEASE_MARGIN = 15.0
MIN_TIME_LEFT = 5.0  # no new batch starts with less time than this left
_STREAMS_CONFIG = Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=2, read_timeout=5)


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
    key_version: int | None = None  # the rollup key rules of the batch in progress (none stored: a v1 batch)
    finished: bool = False

    def batch_version(self, default: int) -> int:
        if self.pending_end is None:
            return default
        return self.key_version or 1  # batches begun before versions were stored were cut with v1's rules


@dataclass
class StreamRecord:
    seq: str
    event_name: str
    created_ts: float
    image: dict[str, Any] | None


@dataclass
class ReadResult:
    records: list[StreamRecord]
    closed: bool  # the shard is closed and was read to its end
    complete: bool  # a resume reached the batch's recorded end (always True for a new batch)


@dataclass
class RunReport:
    records: int = 0  # stream records consumed (INSERTs counted + others skipped)
    counted: int = 0  # usage records added to the rollups
    transactions: int = 0
    rows_written: int = 0
    conflicts: int = 0  # parts another run committed first
    incomplete_reads: int = 0  # resumes that did not reach their batch's recorded end (nothing written)
    leased_elsewhere: int = 0  # shards skipped because another run held their lease
    shards: list[str] = field(default_factory=list)
    shard_lag: dict[str, float] = field(default_factory=dict)  # age of the oldest unprocessed record, per shard
    lag_seconds: float = 0.0  # the largest of shard_lag
    complete_until: float | None = None  # every record created before this (epoch s) is in the rollups
    caught_up: bool = True


_streams: tuple[Any, Any] | None = None
_arn: tuple[Any, str, str] | None = None


def streams_client() -> Any:
    """The process's streams client, kept across invocations (rebuilt only with the DynamoDB client, when tests or the
    local runner switch endpoints)."""
    global _streams
    owner = db.client()
    if _streams is None or _streams[0] is not owner:
        settings = get_settings()
        client = botocore.session.get_session().create_client(
            "dynamodbstreams", region_name=settings.region, endpoint_url=settings.dynamodb_endpoint_url,
            config=_STREAMS_CONFIG)
        _streams = (owner, client)
    return _streams[1]


def stream_arn() -> str:
    arn = os.environ.get("USAGE_STREAM_ARN")
    if arn:
        return arn
    global _arn
    owner, name = db.client(), db.table_name("UsageTable")
    if _arn is None or _arn[0] is not owner or _arn[1] != name:
        _arn = (owner, name, owner.describe_table(TableName=name)["Table"]["LatestStreamArn"])
    return _arn[2]


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
        key_version: int = rollups.KEY_VERSION,
        lease: bool = True,
        after_commit: Callable[[str, int, int], None] | None = None,
        time_left: Callable[[], float] | None = None,
    ) -> None:
        self.client = client or streams_client()
        self.arn = arn or stream_arn()
        self.part_size = max(1, min(part_size, PART_SIZE))
        self.max_records = max_records
        self.key_version = key_version
        self.use_lease = lease
        self.holder = "run_" + secrets.token_hex(8)
        self.after_commit = after_commit  # test hook: (shard_id, part index, parts) after each committed part
        self.time_left = time_left or (lambda: math.inf)
        self.checkpoints = db.table(CHECKPOINTS)

    # ------------------------------------------------------------ checkpoints and leases

    def load(self, shard_id: str) -> Checkpoint:
        item = self.checkpoints.get_item(Key={"shard_id": shard_id}, ConsistentRead=True).get("Item") or {}
        return Checkpoint(
            shard_id=shard_id,
            seq=item.get("seq"),
            pending_end=item.get("pending_end"),
            parts_done=int(item.get("parts_done", 0)),
            part_size=int(item["part_size"]) if "part_size" in item else None,
            key_version=int(item["key_version"]) if "key_version" in item else None,
            finished=bool(item.get("finished", False)),
        )

    def acquire(self, shard_id: str) -> bool:
        """Take the shard's lease (free, expired, or already ours) in one conditional write; False when it is held."""
        if not self.use_lease:
            return True
        now = now_ts()
        left = self.time_left()
        seconds = LEASE_SECONDS if math.isinf(left) else max(left, 0.0) + LEASE_MARGIN
        try:
            self.checkpoints.update_item(
                Key={"shard_id": LEASE_PREFIX + shard_id},
                UpdateExpression="SET holder = :me, expires_at = :exp, acquired_at = :at",
                ConditionExpression="attribute_not_exists(holder) OR expires_at < :now OR holder = :me",
                ExpressionAttributeValues={":me": self.holder, ":exp": math.ceil(now + seconds), ":now": int(now),
                                           ":at": iso_now()},
            )
        except ClientError as exc:
            if db.is_conditional_failure(exc):
                return False
            raise
        return True

    def release(self, shard_id: str) -> None:
        if not self.use_lease:
            return
        try:
            self.checkpoints.update_item(
                Key={"shard_id": LEASE_PREFIX + shard_id},
                UpdateExpression="SET expires_at = :zero REMOVE holder",  # expired: free now, deleted later by TTL
                ConditionExpression="holder = :me",
                ExpressionAttributeValues={":me": self.holder, ":zero": 0},
            )
        except ClientError as exc:
            if not db.is_conditional_failure(exc):
                raise

    # ------------------------------------------------------------ stream reading

    def _iterator(self, shard_id: str, after: str | None) -> str | None:
        kwargs: dict[str, Any] = {"StreamArn": self.arn, "ShardId": shard_id}
        if after is None:
            kwargs["ShardIteratorType"] = "TRIM_HORIZON"
        else:
            kwargs.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber=after)
        return self.client.get_shard_iterator(**kwargs).get("ShardIterator")  # type: ignore[no-any-return]

    def read(self, shard_id: str, after: str | None, until: str | None) -> ReadResult:
        """Records after ``after``: up to ``until`` inclusive (a resume), or up to max_records (a new batch).

        Empty pages do not end a resume: it reads on towards ``until`` (at most EMPTY_PAGES_ON_RESUME of them, and
        while time is left) and says whether it got there. A new batch ends at the tip (a few empty pages in a row);
        ending early only makes it smaller."""
        iterator = self._iterator(shard_id, after)
        records: list[StreamRecord] = []
        empty, patience = 0, EMPTY_PAGES_AT_TIP if until is None else EMPTY_PAGES_ON_RESUME
        while iterator:
            if until is not None and self.time_left() <= 0:
                return ReadResult(records, False, False)
            page = self.client.get_records(ShardIterator=iterator, Limit=PAGE_LIMIT)
            batch = [_parse(r) for r in page.get("Records", [])]
            iterator = page.get("NextShardIterator")
            if not batch:
                empty += 1
                if empty >= patience:
                    break
                continue
            empty = 0
            for record in batch:
                if until is not None and int(record.seq) > int(until):
                    return ReadResult(records, False, False)  # the recorded end is not in the stream: write nothing
                records.append(record)
                if until is not None and record.seq == until:
                    return ReadResult(records, False, True)
                if until is None and len(records) >= self.max_records:
                    return ReadResult(records, False, True)
        return ReadResult(records, iterator is None, until is None)

    def oldest_unprocessed(self, shard_id: str, after: str | None) -> float | None:
        """Creation time of the first record after ``after`` (None when none waits): the shard's lag, read from the
        stream itself, so a job that makes no progress still shows how far behind it is."""
        iterator = self._iterator(shard_id, after)
        for _ in range(EMPTY_PAGES_AT_TIP):
            if not iterator:
                return None
            page = self.client.get_records(ShardIterator=iterator, Limit=1)
            records = page.get("Records") or []
            if records:
                return _created_ts((records[0].get("dynamodb") or {}).get("ApproximateCreationDateTime"))
            iterator = page.get("NextShardIterator")
        return None

    # ------------------------------------------------------------ committing

    def _commit(self, cp: Checkpoint, end: str, part: list[tuple[tuple[str, str], rollups.Totals]], index: int,
                parts: int, size: int, version: int) -> bool:
        now_iso = iso_now()
        hour_expiry = int(now_ts()) + rollups.HOUR_ROW_TTL
        items = [
            rollups.update_item(pk, sk, totals, now_iso=now_iso, expires_at=hour_expiry if sk.startswith("hour#") else None)
            for (pk, sk), totals in part
        ]
        values: dict[str, Any] = {":end": {"S": end}, ":now": {"S": now_iso}, ":arn": {"S": self.arn}}
        names = {"#seq": "seq"}
        if index == parts - 1:
            update = "SET #seq = :end, parts_done = :zero, updated_at = :now, stream_arn = :arn " \
                     "REMOVE pending_end, part_size, key_version"
            values[":zero"] = {"N": "0"}
        else:
            update = "SET pending_end = :end, parts_done = :next, part_size = :size, key_version = :version, " \
                     "updated_at = :now, stream_arn = :arn"
            values[":next"] = {"N": str(index + 1)}
            values[":size"] = {"N": str(size)}
            values[":version"] = {"N": str(version)}
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
        kept: tuple[str | None, str, list[StreamRecord]] | None = None  # records of a batch another run took a part of
        while self.time_left() > MIN_TIME_LEFT:
            cp = self.load(shard_id)
            if cp.finished:
                return True
            if kept is not None and kept[0] == cp.seq and kept[1] == cp.pending_end:
                records, closed = kept[2], False  # the same batch (same start and end): the same records
            else:
                result = self.read(shard_id, cp.seq, cp.pending_end)
                if not result.complete:
                    report.incomplete_reads += 1
                    logger.warning("rollup resume did not reach its batch's end: nothing written",
                                   extra={"shard": shard_id, "after": cp.seq, "until": cp.pending_end,
                                          "read": len(result.records)})
                    break
                records, closed = result.records, result.closed
            kept = None
            if not records:
                if closed:
                    self._finish(cp)
                    return True
                return False
            end = cp.pending_end or records[-1].seq
            version = cp.batch_version(self.key_version)
            size = cp.part_size if cp.pending_end and cp.part_size else self.part_size
            inserts = [r.image for r in records if r.event_name == "INSERT" and r.image is not None]
            rows = sorted(rollups.aggregate(inserts, version).items())
            parts = [rows[i:i + size] for i in range(0, len(rows), size)] or [[]]
            start = cp.parts_done if cp.pending_end else 0
            batch_start, lost, resumed = cp.seq, False, cp.pending_end is not None
            for index in range(start, len(parts)):
                if index > start and self.time_left() <= 0:
                    report.caught_up = False  # out of time mid-batch: the stored definition lets the next run finish
                    return False
                if not self._commit(cp, end, parts[index], index, len(parts), size, version):
                    report.conflicts += 1
                    kept, lost = (batch_start, end, records), True
                    break
                report.transactions += 1
                report.rows_written += len(parts[index])
                if self.after_commit is not None:
                    self.after_commit(shard_id, index, len(parts))
                cp = Checkpoint(shard_id, cp.seq, end, index + 1, size, version)
            if lost:
                continue
            report.records += len(records)
            report.counted += len(inserts)
            if not resumed and not closed and len(records) < self.max_records:
                return False  # a new batch that ended at the tip: the next run takes what arrives meanwhile
        report.caught_up = False
        return False

    def run(self) -> RunReport:
        started = now_ts()
        report = RunReport()
        shards = parents_first(list_shards(self.client, self.arn))
        listed = {s["ShardId"] for s in shards}
        finished: set[str] = set()
        for shard in shards:
            shard_id = shard["ShardId"]
            parent = shard.get("ParentShardId")
            if not (parent in listed and parent not in finished):  # a parent's records are rolled up first
                report.shards.append(shard_id)
                if not self.acquire(shard_id):
                    report.leased_elsewhere += 1
                    report.caught_up = False
                else:
                    try:
                        done = self.process_shard(shard_id, report)
                    finally:
                        self.release(shard_id)
                    if done:
                        finished.add(shard_id)
                        continue
            self._measure_lag(shard_id, report)
        report.lag_seconds = max(report.shard_lag.values(), default=0.0)
        waiting = [now_ts() - lag for lag in report.shard_lag.values() if lag > 0]
        report.complete_until = min([started, *waiting])
        self._status(report)
        return report

    def _measure_lag(self, shard_id: str, report: RunReport) -> None:
        cp = self.load(shard_id)
        oldest = None if cp.finished else self.oldest_unprocessed(shard_id, cp.seq)
        report.shard_lag[shard_id] = round(max(now_ts() - oldest, 0.0), 3) if oldest is not None else 0.0

    def _status(self, report: RunReport) -> None:
        """Best-effort job status for /admin/monitor and the usage history (not part of the exactly-once state)."""
        self.checkpoints.put_item(Item={
            "shard_id": STATUS_ID, "last_run_at": iso_now(), "lag_seconds": Decimal(str(round(report.lag_seconds, 3))),
            "shard_lag": {k: Decimal(str(v)) for k, v in report.shard_lag.items()},
            "complete_until": iso(datetime.fromtimestamp(report.complete_until or now_ts(), tz=UTC)),
            "last_records": report.records, "caught_up": report.caught_up, "conflicts": report.conflicts,
        })


def job_status() -> dict[str, Any] | None:
    return db.table(CHECKPOINTS).get_item(Key={"shard_id": STATUS_ID}).get("Item")


def run_once(**kwargs: Any) -> RunReport:
    return RollupJob(**kwargs).run()
