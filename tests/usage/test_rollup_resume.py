"""The rollup job under the faults issue 17 found: resumes that meet empty pages, a deploy between crash and resume,
a stuck job, runs that compete for a shard (deterministic, through the job's ``after_commit`` hook), and clients that
must outlive an invocation."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from gateway_common import db, rollups, timeutil
from gateway_common.timeutil import now_ts
from gw_rollup import job as job_module
from gw_rollup.job import RollupJob
from tests.usage.factory import totals, usage_record, write_records
from tests.usage.test_rollup_job import Crash, FakeStreams, _assert_rollups_match, _records


class EmptyPages(FakeStreams):
    """A stream that answers some reads with an empty page in the middle of the shard, as DynamoDB Streams may.

    ``empty_at``: how many pages of records come before the empty ones, counted per iterator (so a resume, which starts
    a new iterator, meets them too); ``times``: how many empty pages in a row."""

    def __init__(self, records: list[dict[str, Any]], *, empty_at: int, times: int) -> None:
        super().__init__({"s": {"parent": None, "records": records, "closed": False}})
        self.empty_at, self.times = empty_at, times
        self.armed = False

    def get_shard_iterator(self, **kwargs: Any) -> dict[str, Any]:
        out = super().get_shard_iterator(**kwargs)
        return {"ShardIterator": out["ShardIterator"] + "|0|0"}

    def get_records(self, ShardIterator: str, Limit: int) -> dict[str, Any]:
        shard, position, pages, empties = ShardIterator.split("|")
        if self.armed and int(pages) == self.empty_at and int(empties) < self.times:
            return {"Records": [], "NextShardIterator": f"{shard}|{position}|{pages}|{int(empties) + 1}"}
        out = super().get_records(f"{shard}|{position}", Limit)
        if "NextShardIterator" in out:
            out["NextShardIterator"] += f"|{int(pages) + 1}|{empties}"
        return out


def _users(images: list[dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for image in images:
        counts[image["user_id"]] = counts.get(image["user_id"], 0) + 1
    return counts


def _crash_after_first_part(fake: Any, **kwargs: Any) -> None:
    def die(shard_id: str, index: int, parts: int) -> None:
        raise Crash("killed after the first part")

    with pytest.raises(Crash):
        RollupJob(fake, arn="arn:fake", part_size=10, after_commit=die, **kwargs).run()


def test_a_resume_reads_across_an_empty_page_to_its_recorded_end(dynamo):
    images = [r.item() for r in _records(60)]
    fake = EmptyPages(images, empty_at=2, times=1)
    _crash_after_first_part(fake)
    fake.armed = True  # the resume meets an empty page after 6 of its 60 records
    report = RollupJob(fake, arn="arn:fake").run()
    assert report.counted == 60 and report.incomplete_reads == 0
    day = images[0]["day"]
    for user, count in _users(images).items():
        assert totals(f"user#{user}", f"day#{day}")["requests"] == count
    assert totals("global", f"day#{day}")["requests"] == 60


def test_a_resume_that_cannot_reach_its_end_writes_nothing(dynamo):
    images = [r.item() for r in _records(60)]
    fake = EmptyPages(images, empty_at=2, times=10_000)
    _crash_after_first_part(fake)
    before = db.table("RollupsTable").scan()["Items"]
    fake.armed = True
    report = RollupJob(fake, arn="arn:fake").run()
    assert report.incomplete_reads == 1 and report.counted == 0 and not report.caught_up
    assert sorted(map(str, db.table("RollupsTable").scan()["Items"])) == sorted(map(str, before))
    fake.armed = False  # the stream answers again: the next run finishes the batch exactly
    assert RollupJob(fake, arn="arn:fake").run().counted == 60
    day = images[0]["day"]
    for user, count in _users(images).items():
        assert totals(f"user#{user}", f"day#{day}")["requests"] == count


def test_a_key_version_change_between_crash_and_resume_finishes_with_the_old_rules(dynamo):
    """v1 kept sandbox records out of the global rows; v2 counts them everywhere. A batch begun under v1 ends under v1,
    whatever version the resuming run has; the next batch follows v2."""
    first = [usage_record(f"u{i % 2}", f"k{i % 3}", sandbox=i % 2 == 0, cost="0" if i % 2 == 0 else "0.002").item()
             for i in range(30)]
    fake = FakeStreams({"s": {"parent": None, "records": first, "closed": False}})
    _crash_after_first_part(fake, key_version=1)
    checkpoint = db.table("StreamCheckpointsTable").get_item(Key={"shard_id": "s"})["Item"]
    assert checkpoint["key_version"] == 1 and checkpoint["part_size"] == 10
    assert RollupJob(fake, arn="arn:fake", key_version=2).run().counted == 30
    day = first[0]["day"]
    assert totals("global", f"day#{day}")["requests"] == 15  # v1: the 15 sandbox records are not global
    assert sum(totals(f"user#u{u}", f"day#{day}")["requests"] for u in (0, 1)) == 30
    later = [usage_record("u0", "k0", sandbox=True, cost="0").item() for _ in range(4)]
    fake.shards["s"]["records"] += later
    fake.shards["s"]["seqs"] += [str(1000 + i) for i in range(4)]
    assert RollupJob(fake, arn="arn:fake", key_version=2).run().counted == 4
    assert totals("global", f"day#{day}")["requests"] == 19  # v2: sandbox records count in every view


def _emitted(capsys: Any, name: str) -> float:
    values = []
    for line in capsys.readouterr().out.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            document = json.loads(line)
            if name in document:
                value = document[name]
                values.append(float(value[-1] if isinstance(value, list) else value))
    assert values, f"no {name} metric emitted"
    return values[-1]


def _lag_alarms() -> dict[str, float]:
    from local import template

    return {name: float(res["Properties"]["Threshold"]) for name, res in template.resources("AWS::CloudWatch::Alarm").items()
            if res["Properties"].get("MetricName") == "RollupLagSeconds"}


def test_a_stuck_job_still_reports_its_lag_and_the_alarms_fire(dynamo, capsys, monkeypatch):
    """A run that makes no progress (no time left for a batch here; a bug or a throttle in AWS) measures the lag from
    the stream's side: the oldest record still waiting. The metric crosses the 1 h alarm, then the 12 h one."""
    from types import SimpleNamespace

    from gw_rollup.app import SAFETY_MS, handler

    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")  # EMF lines as in AWS
    alarms = _lag_alarms()
    assert sorted(alarms.values()) == [3600.0, 43200.0]
    write_records(_records(5))
    stuck = SimpleNamespace(function_name="RollupFunction", get_remaining_time_in_millis=lambda: SAFETY_MS + 1000,
                            aws_request_id="t", invoked_function_arn="arn:aws:lambda:us-east-1:0:function:x")
    for hours, firing in ((2, {"RollupLagAlarm"}), (12, {"RollupLagAlarm", "RollupLagCriticalAlarm"})):
        timeutil.shift_clock(hours * 3600)
        result = handler({}, stuck)
        lag = _emitted(capsys, "RollupLagSeconds")
        assert result["counted"] == 0 and lag == result["lag_seconds"]
        assert {name for name, threshold in alarms.items() if lag > threshold} == firing
    status = job_module.job_status() or {}
    assert float(status["lag_seconds"]) > 43200 and status["caught_up"] is False


def test_a_held_lease_makes_other_runs_skip_the_shard_until_it_expires(dynamo):
    records = _records(20)
    write_records(records)
    shard = job_module.list_shards(job_module.streams_client(), job_module.stream_arn())[0]["ShardId"]
    dead = RollupJob(time_left=lambda: 100.0)
    assert dead.acquire(shard)  # a run that took the lease and was killed: never released
    skipped = RollupJob().run()
    assert skipped.leased_elsewhere == 1 and skipped.counted == 0 and skipped.transactions == 0
    timeutil.shift_clock(100 + job_module.LEASE_MARGIN + 2)
    assert RollupJob().run().counted == 20
    _assert_rollups_match(records)


@pytest.mark.parametrize("lease", [True, False], ids=["with lease", "without lease"])
def test_a_competing_run_started_mid_batch_counts_nothing_twice(dynamo, lease):
    """Deterministic: run A starts run B right after A's second part is committed. With the lease B skips the shard;
    without it B finishes A's batch from the stored definition, and A's next part loses the checkpoint condition."""
    records = _records(60)
    write_records(records)
    competing: list[Any] = []

    def start_b(shard_id: str, index: int, parts: int) -> None:
        if index == 1 and not competing:
            competing.append(RollupJob(part_size=7, lease=lease).run())

    a = RollupJob(part_size=10, lease=lease, after_commit=start_b).run()
    b = competing[0]
    assert a.counted + b.counted == 60
    if lease:
        assert b.leased_elsewhere == 1 and b.transactions == 0 and a.conflicts == 0
    else:
        assert b.counted == 60 and a.conflicts == 1 and a.counted == 0
    _assert_rollups_match(records)
    assert RollupJob().run().counted == 0


def test_a_competing_run_that_commits_one_part_of_the_same_batch(dynamo):
    """A commits parts 0 and 1; B (no lease) commits part 2 of the same batch and dies. A's part 2 must lose: only
    the checkpoint's ``parts_done`` tells the two apart (same start, same end)."""
    records = _records(60)
    write_records(records)

    def b_dies_after_one_part(shard_id: str, index: int, parts: int) -> None:
        raise Crash("B killed after one part")

    competing: list[str] = []

    def start_b(shard_id: str, index: int, parts: int) -> None:
        if index == 1 and not competing:
            competing.append("started")
            with pytest.raises(Crash):
                RollupJob(part_size=3, lease=False, after_commit=b_dies_after_one_part).run()

    a = RollupJob(part_size=10, lease=False, after_commit=start_b).run()
    assert a.conflicts == 1 and a.counted == 60  # lost part 2 to B, then finished the batch from B's checkpoint
    _assert_rollups_match(records)


class ReadHook:
    """A streams client that runs ``hook`` once, right after the first page of records is read."""

    def __init__(self, client: Any, hook: Any) -> None:
        self.client, self.hook, self.done = client, hook, False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def get_records(self, **kwargs: Any) -> dict[str, Any]:
        page = self.client.get_records(**kwargs)
        if page.get("Records") and not self.done:
            self.done = True
            self.hook()
        return page


def test_a_competing_run_between_a_read_and_its_first_commit(dynamo):
    """B rolls up the whole batch while A holds the same records in memory, before A's first part: A's part must lose
    on the checkpoint's sequence number (nothing else differs: no batch is pending for either)."""
    records = _records(30)
    write_records(records)
    b: list[Any] = []
    a_client = ReadHook(job_module.streams_client(), lambda: b.append(RollupJob(lease=False).run()))
    a = RollupJob(a_client, lease=False).run()
    assert b[0].counted == 30 and a.conflicts == 1 and a.counted == 0
    _assert_rollups_match(records)


def test_a_competing_run_that_opens_the_same_batch_between_a_read_and_its_first_commit(dynamo):
    """B commits only the first part of the batch A holds in memory (then dies), before A's first part: the sequence
    number is unchanged, so only the condition that no batch is pending makes A's first part lose."""
    records = _records(30)
    write_records(records)

    def b_dies_after_one_part(shard_id: str, index: int, parts: int) -> None:
        raise Crash("B killed after one part")

    def start_b() -> None:
        with pytest.raises(Crash):
            RollupJob(part_size=10, lease=False, after_commit=b_dies_after_one_part).run()

    a = RollupJob(ReadHook(job_module.streams_client(), start_b), part_size=10, lease=False).run()
    assert a.conflicts == 1 and a.counted == 30  # lost its first part, then finished B's batch from B's checkpoint
    _assert_rollups_match(records)


def test_thirteen_concurrent_runs_give_exact_totals(dynamo):
    records = _records(120)
    write_records(records)
    barrier = threading.Barrier(13)
    reports: list[Any] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait()
            reports.append(RollupJob(part_size=5, max_records=30).run())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(13)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sum(r.counted for r in reports) == 120
    _assert_rollups_match(records)


def test_the_streams_client_is_kept_across_invocations(dynamo, monkeypatch):
    from types import SimpleNamespace

    from gw_rollup.app import handler

    created: list[str] = []
    real = job_module.botocore.session.get_session

    def counting() -> Any:
        created.append("session")
        return real()

    monkeypatch.setattr(job_module, "_streams", None)
    monkeypatch.setattr(job_module.botocore.session, "get_session", counting)
    context = SimpleNamespace(function_name="RollupFunction", get_remaining_time_in_millis=lambda: 120_000,
                              aws_request_id="t", invoked_function_arn="arn:aws:lambda:us-east-1:0:function:x")
    write_records(_records(3))
    assert handler({}, context)["counted"] == 3
    write_records(_records(2))
    assert handler({}, context)["counted"] == 2
    assert created == ["session"]


def test_the_local_runner_gives_jobs_their_real_remaining_time():
    from local import jobs

    rollup = next(f for f in jobs.scheduled_functions() if f.logical_id == "RollupFunction")
    assert jobs.timeout_of(rollup) == 120.0
    context = jobs.LocalContext("RollupFunction", 0.5)
    first = context.get_remaining_time_in_millis()
    assert 0 < first <= 500
    context.deadline -= 1.0  # as if a second had passed
    assert context.get_remaining_time_in_millis() == 0


def test_the_local_runner_shows_the_lag_figure_of_a_stuck_job(dynamo, monkeypatch):
    """Locally too, every run says how old the oldest record still waiting is (the figure the metric carries in AWS)."""
    from gw_rollup.app import SAFETY_MS
    from local import jobs

    rollup = next(f for f in jobs.scheduled_functions() if f.logical_id == "RollupFunction")
    monkeypatch.setattr(jobs, "timeout_of", lambda function: SAFETY_MS / 1000)  # no time left for a batch: stuck
    lines: list[dict[str, Any]] = []
    monkeypatch.setattr(jobs.logger, "info", lambda message, extra: lines.append({"message": message, **extra}))
    run = jobs.invoker(rollup)
    write_records(_records(3))
    timeutil.shift_clock(3 * 3600)
    result = run()
    lines = [line for line in lines if line["message"] == "local job"]
    assert result["counted"] == 0 and len(lines) == 1
    assert lines[0]["lag_seconds"] == result["lag_seconds"] and abs(lines[0]["lag_seconds"] - 3 * 3600) < 60
    assert list(lines[0]["shard_lag"].values()) == [result["lag_seconds"]]


def test_rollup_rows_keep_requests_and_cost_per_currency():
    images = [usage_record("u", "k", currency="usd", cost="0.004").item(),
              usage_record("u", "k", currency="usd", cost="0.002").item(),
              usage_record("u", "k", currency="eur", cost="0.003").item()]
    row = rollups.aggregate(images)[("global", f"day#{images[0]['day']}")]
    assert row.requests == 3 and row.count == {"usd": 2, "eur": 1}
    assert str(row.average_in("usd")) == "0.003000" and str(row.average_in("eur")) == "0.003000"
    assert now_ts() > 0
