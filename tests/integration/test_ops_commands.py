"""Operators' commands against the real servers: topics list, tail, dlq list and replay,
outbox list and retry.

The commands run as `python -m services.cli` subprocesses, as an operator runs them.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, RecordsToDelete
from cloudevents.core.bindings.kafka import KafkaMessage, to_binary
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent as SdkEvent

from schemas.report import OutboxEntry
from services import ops
from services.adapters.cloudevents_binding import STRUCTURED_CONTENT_TYPE
from services.adapters.codec import InboundMessage, Poison
from services.adapters.dead_letters import dead_letter
from services.adapters.kafka_admin import topic_status
from services.settings import PROJECT_ROOT
from tests.harness import System, cloud_event, eventually, unique
from tests.scenario import CYCLE, PRODUCT_A, Month

pytestmark = pytest.mark.integration

DLQ = "lmp.dead-letter.v1"
USAGE = "lmp.usage.v1"


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str

    def json_lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.out.splitlines() if line.strip()]


def environment(system: System, **overrides: str) -> dict[str, str]:
    return {**os.environ, **system.env(), **overrides}


async def lmp(system: System, *args: str, **env: str) -> Run:
    """``lmp-billing ARGS`` as a subprocess on the test's namespace."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.cli",
        *args,
        env=environment(system, **env),
        cwd=PROJECT_ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode is not None
    return Run(proc.returncode, out.decode(), err.decode())


async def raw_records(system: System, contract_topic: str) -> list[Any]:
    """Every record on a topic, undecoded, read with plain aiokafka (not the code under test)."""
    topic = system.topic(contract_topic)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=system.servers.bootstrap_servers, enable_auto_commit=False
    )
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(system.catalogue[topic].partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        found: list[Any] = []
        while any([await consumer.position(tp) < ends[tp] for tp in tps]):
            for tp, records in (await consumer.getmany(timeout_ms=200)).items():
                found += [r for r in records if r.offset < ends[tp]]
        return sorted(found, key=lambda r: (r.partition, r.offset))
    finally:
        await consumer.stop()


async def send(
    system: System, contract_topic: str, key: bytes | None, value: bytes | None, **kwargs: Any
) -> Any:
    """One record, acknowledged; returns its metadata (partition, offset)."""
    producer = await system.producer()
    return await producer.send_and_wait(system.topic(contract_topic), value, key=key, **kwargs)


def event_id(value: bytes) -> str:
    found: str = json.loads(value)["id"]
    return found


def report_event(month: Month, type_: str) -> tuple[bytes, bytes]:
    data = {
        "report_id": month.report_id,
        "partner_id": month.partner,
        "distributor_id": month.distributor,
        "cycle": CYCLE,
        "status": "msp_preparing",
        "status_code": 0,
        "version": 1,
    }
    value = cloud_event(type_, data, id_=f"{month.report_id}/opened", subject=month.report_id)
    return month.report_id.encode(), value


def letter_record(
    system: System,
    contract_topic: str,
    key: bytes | None,
    value: bytes | None,
    kind: str,
    *,
    where: tuple[int, int] = (0, 0),
    max_bytes: int = 512 * 1024,
    headers: tuple[tuple[str, bytes], ...] = (),
) -> tuple[bytes | None, bytes]:
    """Key and value of a dead letter as a processor writes one."""
    message = InboundMessage(system.topic(contract_topic), *where, key, value, 0, headers)
    return dead_letter(Poison(message, kind, f"{kind} (test)", None), "test", max_bytes)


async def dead_letter_of(
    system: System,
    contract_topic: str,
    key: bytes | None,
    value: bytes | None,
    kind: str,
    *,
    where: tuple[int, int] = (0, 0),
    max_bytes: int = 512 * 1024,
) -> bytes:
    """Publish a dead letter the way a processor writes one; returns its value."""
    record = letter_record(
        system, contract_topic, key, value, kind, where=where, max_bytes=max_bytes
    )
    await send(system, DLQ, *record)
    return record[1]


# topics list ----------------------------------------------------------------


async def test_topics_list_shows_messages_written_and_the_group_lag_until_consumed(
    system: System,
) -> None:
    month = Month(system)
    await system.publish(USAGE, month.standard_usage())
    prefix = system.env()["LMP_CONSUMER_GROUP_PREFIX"]
    group = f"{prefix}-usage"

    before = await lmp(system, "topics", "list", "--json")
    assert before.code == 0, before.err
    rows = {row["contract_name"]: row for row in before.json_lines()}
    assert set(rows) == {name.removeprefix(system.namespace) for name in system.catalogue.topics}
    usage = rows[USAGE]
    assert usage["name"] == system.topic(USAGE)
    assert (usage["direction"], usage["partitions"], usage["end_offset"]) == ("in", 6, 3)
    assert (usage["missing"], usage["partitions_differ"]) == (False, False)
    lag = {g["group"]: g for g in usage["groups"]}[group]
    assert (lag["declared"], lag["partitions_committed"], lag["committed"], lag["lag"]) == (
        True,
        0,
        0,
        3,
    )
    assert rows[DLQ]["end_offset"] == 0

    system.start_processor("usage")

    async def caught_up() -> bool:
        statuses = await topic_status(system.servers.bootstrap_servers, system.catalogue, prefix)
        row = next(s for s in statuses if s.contract_name == USAGE)
        usage_group = next(g for g in row.groups if g.group == group)
        return usage_group.lag == 0 and usage_group.committed == 3

    await eventually(caught_up, timeout=60)
    after = await lmp(system, "topics", "list")
    assert after.code == 0, after.err
    lines = after.out.splitlines()
    topic_line = next(i for i, line in enumerate(lines) if line.startswith(system.topic(USAGE)))
    assert "6 partitions" in lines[topic_line]
    assert lines[topic_line].split()[-2:] == ["3", "messages"]
    group_line = lines[topic_line + 1].split()
    assert group_line[:2] == ["group", group]
    assert group_line[2:6] == ["committed", "3", "lag", "0"]


async def test_topics_ensure_json_says_each_topic_exists_already(system: System) -> None:
    result = await lmp(system, "topics", "ensure", "--json")
    assert result.code == 0, result.err
    rows = {row["name"]: row for row in result.json_lines()}
    assert set(rows) == set(system.catalogue.topics)
    assert not any(row["created"] for row in rows.values())
    assert rows[system.topic(USAGE)]["partitions"] == 6


async def test_topics_list_flags_missing_topics(system: System) -> None:
    result = await lmp(system, "topics", "list", LMP_TOPIC_NAMESPACE=unique("absent") + ".")
    assert result.code == 1
    topic_lines = [line for line in result.out.splitlines() if not line.startswith(" ")]
    assert len(topic_lines) == len(system.catalogue.topics)
    assert all("MISSING" in line for line in topic_lines)


@pytest.mark.parametrize(
    "command",
    [
        ("topics", "list"),
        ("tail",),
        ("dlq", "list"),
        ("dlq", "replay", "--all"),
        ("outbox", "retry"),
    ],
)
async def test_operations_commands_need_a_broker(
    system: System, command: tuple[str, ...], tmp_path: Path
) -> None:
    result = await lmp(system, *command, KAFKA_BOOTSTRAP_SERVERS="", LMP_HOME=str(tmp_path))
    assert result.code == 2
    assert "KAFKA_BOOTSTRAP_SERVERS is not set" in result.err


# tail -----------------------------------------------------------------------


async def test_tail_finds_every_message_about_one_report_across_topics(system: System) -> None:
    month, other = Month(system), Month(system)
    report = month.report_id
    usage = [month.usage(PRODUCT_A, "sub-1", 10, 8), month.usage(PRODUCT_A, "sub-2", 5, 5)]
    earlier_cycle = (
        month.partner.encode(),
        cloud_event("lmp.usage.reported", {**json.loads(usage[0][1])["data"], "cycle": "2026-09"}),
    )
    account = month.accounts()[0]
    _, action = month.action("lmp.partner.draft-saved", month.partner)
    opened = report_event(month, "lmp.report.opened")
    broken_action = (report.encode(), cloud_event("lmp.partner.draft-saved", {"report_id": report}))
    others_broken = (
        other.report_id.encode(),
        cloud_event("lmp.partner.report-submitted", {"report_id": other.report_id}),
    )

    await system.publish("lmp.accounts.v1", [account])
    await system.publish(USAGE, [*usage, earlier_cycle, other.usage(PRODUCT_A, "s", 1, 1)])
    await system.publish("lmp.partner-actions.v1", [action])
    await system.publish("lmp.report-events.v1", [opened, report_event(other, "lmp.report.opened")])
    letter = await dead_letter_of(system, "lmp.partner-actions.v1", *broken_action, "schema")
    await dead_letter_of(system, "lmp.partner-actions.v1", *others_broken, "schema", where=(1, 0))

    (
        by_report,
        text,
        by_partner,
        reports_events,
        actions_and_letters,
        usage_only,
    ) = await asyncio.gather(
        lmp(system, "tail", "--report", report, "--json"),
        lmp(system, "tail", "--report", report),
        lmp(system, "tail", "--partner", month.partner, "--json"),
        lmp(system, "tail", "--report", report, "--type", "lmp.report.", "--json"),
        lmp(system, "tail", "--report", report, "--type", "lmp.partner.draft-saved", "--json"),
        lmp(system, "tail", USAGE, "--report", report, "--json"),
    )
    for run in (by_report, text, by_partner, reports_events, actions_and_letters, usage_only):
        assert run.code == 0, run.err

    def ids(run: Run) -> list[str]:
        return [line["event"]["id"] for line in run.json_lines()]

    about_report = {
        event_id(usage[0][1]),
        event_id(usage[1][1]),
        event_id(action[1]),
        event_id(opened[1]),
        event_id(letter),
    }
    found = by_report.json_lines()
    assert set(ids(by_report)) == about_report
    assert len(found) == len(about_report)
    times = [line["time"] for line in found]
    assert times == sorted(times)
    [dead] = [line for line in found if line["topic"] == system.topic(DLQ)]
    assert dead["original"]["event"]["id"] == event_id(broken_action[1])
    assert dead["original"]["topic"] == system.topic("lmp.partner-actions.v1")
    assert dead["original"]["error"].startswith("schema: lmp.partner.draft-saved: actor")

    assert len(text.out.splitlines()) == len(about_report)
    assert all(report in line for line in text.out.splitlines())

    assert set(ids(by_partner)) == about_report | {event_id(earlier_cycle[1]), event_id(account[1])}
    assert ids(reports_events) == [event_id(opened[1])]
    assert set(ids(actions_and_letters)) == {event_id(action[1]), event_id(letter)}
    assert set(ids(usage_only)) == {event_id(usage[0][1]), event_id(usage[1][1])}


async def test_tail_shows_undecodable_messages_and_starts_where_asked(system: System) -> None:
    month = Month(system)
    key = month.partner.encode()
    two_hours_ago = int((datetime.now(UTC) - timedelta(hours=2)).timestamp() * 1000)
    old = month.usage(PRODUCT_A, "old", 1, 1)
    await send(system, USAGE, *old, timestamp_ms=two_hours_ago)
    usage_data = json.loads(month.usage(PRODUCT_A, "s", 1, 1)[1])["data"]
    undecodable = [
        b"\xff\xfe not json",
        b'{"hello": "world"}',
        cloud_event("lmp.account.distributor", {"distributor_id": "D", "name": "D", "region": "E"}),
        cloud_event("lmp.usage.reported", {**usage_data, "provisioned_units": -1}),
    ]
    for value in undecodable:
        await send(system, USAGE, key, value)
    valid = month.usage(PRODUCT_A, "s", 3, 2)
    await send(system, USAGE, *valid)

    everything, text, last, recent = await asyncio.gather(
        lmp(system, "tail", USAGE, "--json"),
        lmp(system, "tail", USAGE),
        lmp(system, "tail", USAGE, "--last", "1", "--json"),
        lmp(system, "tail", USAGE, "--since-minutes", "30", "--json"),
    )
    for run in (everything, text, last, recent):
        assert run.code == 0, run.err

    lines = everything.json_lines()
    assert len(lines) == 6
    errors = [line["error"] for line in lines]
    assert errors[0] is None
    assert errors[1].startswith("parse: not UTF-8: invalid start byte at byte 0")
    assert errors[2].startswith("schema: not a CloudEvent")
    assert errors[3].startswith("unknown_type: type 'lmp.account.distributor'")
    assert errors[4].startswith("schema: lmp.usage.reported: provisioned_units")
    assert errors[5] is None
    assert lines[1]["event"] is None
    assert lines[1]["value"].endswith("not json")
    assert sum("UNDECODABLE" in line for line in text.out.splitlines()) == 4

    assert [line["event"]["id"] for line in last.json_lines()] == [event_id(valid[1])]
    recent_lines = recent.json_lines()
    assert len(recent_lines) == 5
    assert event_id(old[1]) not in {(line["event"] or {}).get("id") for line in recent_lines}


async def test_tail_follow_prints_new_messages_until_interrupted(system: System) -> None:
    month = Month(system)
    first = month.usage(PRODUCT_A, "s1", 1, 1)
    await system.publish(USAGE, [first])
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.cli",
        "tail",
        USAGE,
        "--follow",
        "--json",
        env=environment(system),
        cwd=PROJECT_ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    try:
        backlog = json.loads(await asyncio.wait_for(proc.stdout.readline(), timeout=30))
        assert backlog["event"]["id"] == event_id(first[1])
        second = month.usage(PRODUCT_A, "s2", 2, 2)
        await system.publish(USAGE, [second])
        live = json.loads(await asyncio.wait_for(proc.stdout.readline(), timeout=30))
        assert live["event"]["id"] == event_id(second[1])
        proc.send_signal(signal.SIGINT)
        try:
            code = await asyncio.wait_for(proc.wait(), timeout=30)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            assert proc.stderr is not None
            errors = (await proc.stderr.read()).decode(errors="replace")
            pytest.fail(f"tail --follow ignored Ctrl-C for 30 s; its stderr:\n{errors[-4000:]}")
        assert code == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_tail_merges_partitions_and_topics_in_time_order(
    system: System, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Records written to several partitions of two topics, each partition in time order
    but the partitions written one after the other and out of time order: tail prints them
    in time order, holding a small buffer per partition rather than the whole range."""
    month = Month(system)
    base = int((datetime.now(UTC) - timedelta(minutes=30)).timestamp() * 1000)
    spread: dict[tuple[str, int], list[tuple[int, bytes]]] = {}
    for step in range(24):
        where = (USAGE, step % 3) if step % 4 else ("lmp.partner-actions.v1", step // 4 % 2)
        value = month.usage(PRODUCT_A, f"sub-{step}", step, None)[1]
        spread.setdefault(where, []).append((base + step * 1000, value))
    for (topic, partition), records in sorted(spread.items(), reverse=True):
        for timestamp, value in records:
            await send(system, topic, b"k", value, partition=partition, timestamp_ms=timestamp)
    expected = [
        event_id(value) for _, value in sorted(v for records in spread.values() for v in records)
    ]

    run = await lmp(system, "tail", USAGE, "lmp.partner-actions.v1", "--json")
    assert run.code == 0, run.err
    lines = run.json_lines()
    assert [line["event"]["id"] for line in lines] == expected
    assert [line["time"] for line in lines] == sorted(line["time"] for line in lines)
    assert len({(line["topic"], line["partition"]) for line in lines}) == 5

    held: list[int] = []
    add = ops.merge.TimeMerge.add

    def watched(merge: ops.merge.TimeMerge, tp: TopicPartition, records: Any) -> None:
        add(merge, tp, records)
        held.append(max(len(buffer) for buffer in merge.buffers.values()))

    monkeypatch.setattr(ops.merge, "MERGE_BUFFER", 2)
    monkeypatch.setattr(ops.merge.TimeMerge, "add", watched)
    out = io.StringIO()
    topics = [system.topic(USAGE), system.topic("lmp.partner-actions.v1")]
    request = ops.TailRequest(topics=topics, as_json=True)
    bootstrap = system.servers.bootstrap_servers
    assert await ops.tail(bootstrap, system.catalogue, request, out) == 0
    assert [json.loads(line)["event"]["id"] for line in out.getvalue().splitlines()] == expected
    assert held
    assert max(held) <= 2


async def test_tail_shows_tombstones(system: System) -> None:
    """A null value on a compacted topic withdraws its key; elsewhere it cannot be applied."""
    await send(system, "lmp.accounts.v1", b"P-GONE", None)
    await send(system, USAGE, b"P-NULL", None)
    accounts, usage, text = await asyncio.gather(
        lmp(system, "tail", "lmp.accounts.v1", "--json"),
        lmp(system, "tail", USAGE, "--json"),
        lmp(system, "tail", "lmp.accounts.v1", USAGE),
    )
    for run in (accounts, usage, text):
        assert run.code == 0, run.err
    [withdrawn] = accounts.json_lines()
    assert (withdrawn["key"], withdrawn["tombstone"], withdrawn["error"]) == ("P-GONE", True, None)
    assert (withdrawn["event"], withdrawn["value"]) == (None, None)
    [refused] = usage.json_lines()
    assert refused["tombstone"] is False
    assert refused["error"].startswith("tombstone: null value (tombstone)")
    assert refused["value"] is None
    lines = text.out.splitlines()
    assert any("TOMBSTONE" in line and "withdraws P-GONE" in line for line in lines)
    assert any("UNDECODABLE" in line and "P-NULL" in line for line in lines)


async def test_tail_refuses_an_unknown_topic(system: System) -> None:
    result = await lmp(system, "tail", "lmp.nothing.v1")
    assert result.code == 1
    assert "unknown topic 'lmp.nothing.v1'" in result.err


# publish ----------------------------------------------------------------------


async def lmp_reading(system: System, stdin: bytes, *args: str, **env: str) -> Run:
    """``lmp-billing ARGS`` with ``stdin`` piped in, as ``example ... | publish`` does."""
    proc = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "services.cli", *args),
        env=environment(system, **env),
        cwd=PROJECT_ROOT,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(stdin), timeout=60)
    assert proc.returncode is not None
    return Run(proc.returncode, out.decode(), err.decode())


async def test_publish_puts_checked_events_on_the_topic_keyed_as_the_contract_says(
    system: System,
) -> None:
    from cloudevents.core.bindings.kafka import KafkaMessage, from_kafka_event

    month, other = Month(system), Month(system)
    usage = [month.usage(PRODUCT_A, "sub-1", 10, 8)[1], other.usage(PRODUCT_A, "sub-2", 3, 1)[1]]
    # Without "subject": null, which the SDK's reader refuses (an absent attribute).
    events = [json.dumps({k: v for k, v in json.loads(u).items() if v}).encode() for u in usage]

    run = await lmp_reading(
        system, b"\n".join([events[0], b"", events[1]]) + b"\n", "publish", USAGE, "-"
    )

    assert run.code == 0, run.err
    records = await raw_records(system, USAGE)
    by_id = {event_id(r.value): r for r in records}
    printed = [line.split() for line in run.out.splitlines()]
    assert [p[3] for p in printed] == [event_id(e) for e in events]
    for (topic, partition, offset, ident, type_), value in zip(printed, events, strict=True):
        record = by_id[ident]
        assert (topic, int(partition), int(offset)) == (
            record.topic,
            record.partition,
            record.offset,
        )
        assert type_ == "lmp.usage.reported"
        assert record.value == value
        assert dict(record.headers) == {
            "content-type": b"application/cloudevents+json; charset=utf-8"
        }
        sdk = from_kafka_event(KafkaMessage(dict(record.headers), record.key, record.value))
        assert sdk.get_id() == ident
    assert sorted(r.key for r in records) == sorted(
        [month.partner.encode(), other.partner.encode()]
    )

    # The broker named by -b, over a KAFKA_BOOTSTRAP_SERVERS that names none.
    brokers = system.servers.bootstrap_servers
    as_json = await lmp_reading(
        system,
        events[0],
        *("-b", brokers, "publish", USAGE, "--json"),
        KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:1",
    )
    assert as_json.code == 0, as_json.err
    [row] = as_json.json_lines()
    assert (row["topic"], row["id"], row["key"], row["line"]) == (
        system.topic(USAGE),
        event_id(events[0]),
        month.partner,
        1,
    )
    assert row["offset"] > by_id[event_id(events[0])].offset


async def test_publish_sends_nothing_when_a_line_is_refused(system: System) -> None:
    month = Month(system)
    good = month.usage(PRODUCT_A, "sub-1", 10, 8)[1]
    run = await lmp_reading(system, good + b"\n{not json\n", "publish", USAGE)
    assert run.code == 2
    assert "line 2: parse: not JSON" in run.err
    assert await raw_records(system, USAGE) == []


# dead letters ---------------------------------------------------------------


async def test_binary_mode_records_are_decoded_by_tail_and_dlq_and_replayed_with_headers(
    system: System,
) -> None:
    month = Month(system)
    good = sdk_usage(month, "ok-1", provisioned=3)
    bad = sdk_usage(month, "bad-1", provisioned=-1)
    key = month.partner.encode()
    await send(system, USAGE, key, good.value, headers=list(good.headers.items()))
    original = await send(system, USAGE, key, bad.value, headers=list(bad.headers.items()))
    where = (original.partition, original.offset)
    headers = tuple(bad.headers.items())
    await send(
        system,
        DLQ,
        *letter_record(system, USAGE, key, bad.value, "schema", where=where, headers=headers),
    )

    tailed = await lmp(system, "tail", USAGE, "--json")
    assert tailed.code == 0, tailed.err
    by_id = {row["event"]["id"]: row for row in tailed.json_lines()}
    assert by_id["ok-1"]["error"] is None
    assert by_id["ok-1"]["event"]["data"]["provisioned_units"] == 3
    assert by_id["ok-1"]["headers"]["ce_specversion"] == "1.0"
    assert by_id["bad-1"]["error"].startswith("schema: lmp.usage.reported: provisioned_units")
    [letter] = (await lmp(system, "tail", DLQ, "--json")).json_lines()
    assert letter["original"]["event"]["id"] == "bad-1"
    assert letter["original"]["headers"]["ce_type"] == "lmp.usage.reported"
    text = await lmp(system, "tail", DLQ)
    assert (
        f"{system.topic(USAGE)} {original.partition}:{original.offset} lmp.usage.reported bad-1"
        in text.out
    )

    replayed = await lmp(system, "dlq", "replay", "--offset", "0")
    assert replayed.code == 0, replayed.err
    copy = [r for r in await raw_records(system, USAGE) if r.offset > original.offset]
    marker = f"{system.topic(DLQ)}:0:0".encode()
    assert [list(r.headers) for r in copy] == [[*headers, ("lmp-replayed-from", marker)]]
    assert copy[0].value == bad.value


def sdk_usage(month: Month, id_: str, provisioned: int) -> KafkaMessage:
    data = {
        "partner_id": month.partner,
        "cycle": CYCLE,
        "product_id": PRODUCT_A,
        "subscription_id": "s-1",
        "provisioned_units": provisioned,
        "observed_at": "2026-10-20T10:00:00Z",
    }
    attributes = {"id": id_, "source": "tests", "type": "lmp.usage.reported"}
    return to_binary(SdkEvent(attributes=attributes, data=data), JSONFormat())


async def test_dlq_replay_puts_the_original_bytes_back_and_refuses_a_second_replay(
    system: System,
) -> None:
    month = Month(system)
    broken = b'{"specversion": "1.0", "id": "half'
    key = month.partner.encode()
    original = await send(system, USAGE, key, broken)
    system.start_processor("usage")
    await eventually(lambda: _count(system, DLQ, 1))

    listed = await lmp(system, "dlq", "list", "--json")
    assert listed.code == 0, listed.err
    [row] = listed.json_lines()
    assert (row["partition"], row["offset"], row["error_kind"], row["processor"]) == (
        0,
        0,
        "parse",
        "usage",
    )
    assert (row["topic"], row["original_partition"], row["original_offset"]) == (
        system.topic(USAGE),
        original.partition,
        original.offset,
    )
    text = await lmp(system, "dlq", "list")
    assert f"{system.topic(USAGE)} {original.partition}:{original.offset}  parse" in text.out

    unknown = await lmp(system, "dlq", "replay", "--offset", "7")
    assert unknown.code == 1
    assert "no dead letter at offset 7" in unknown.err

    replayed = await lmp(system, "dlq", "replay", "--offset", "0")
    assert replayed.code == 0, replayed.err
    assert "replayed dead letter 0 (parse" in replayed.out
    copies = [r for r in await raw_records(system, USAGE) if r.value == broken]
    assert [(r.partition, r.key) for r in copies] == [(original.partition, key)] * 2
    assert copies[1].offset > original.offset
    marker = f"{system.topic(DLQ)}:0:0".encode()
    assert ("lmp-replayed-from", marker) in list(copies[1].headers)

    letters = await eventually(lambda: _records_when(system, DLQ, 2))
    again = json.loads(letters[1].value)["data"]
    assert (again["partition"], again["offset"]) == (copies[1].partition, copies[1].offset)
    assert (again["value"], again["value_base64"]) == (broken.decode(), None)

    sweep = await lmp(system, "dlq", "replay", "--all")
    assert sweep.code == 0, sweep.err
    assert sweep.out.splitlines() == [
        f"dead letter 0 was already replayed to {system.topic(USAGE)} "
        f"{copies[1].partition}:{copies[1].offset}; skipped",
        "dead letter 1 is the replay of dead letter 0 failing again; skipped "
        "(--offset 1 replays it)",
        "nothing to replay",
    ]
    refused = await lmp(system, "dlq", "replay", "--offset", "0")
    assert refused.code == 1
    assert "already replayed" in refused.err
    forced = await lmp(system, "dlq", "replay", "--offset", "0", "--force")
    assert forced.code == 0, forced.err
    assert len([r for r in await raw_records(system, USAGE) if r.value == broken]) == 3


async def test_dlq_replay_all_of_one_kind_is_applied_by_the_processor(system: System) -> None:
    """A usage message the processor took but failed on (``processing_error``) is applied on
    replay; the group's offset is already past it, as after a real dead-lettering."""
    month, witness = Month(system), Month(system)
    usage = month.usage(PRODUCT_A, "sub-1", 7, 6)
    original = await send(system, USAGE, *usage)
    prefix = system.env()["LMP_CONSUMER_GROUP_PREFIX"]
    await _commit(system, f"{prefix}-usage", USAGE, original.partition, original.offset + 1)
    await dead_letter_of(
        system, USAGE, *usage, "processing_error", where=(original.partition, original.offset)
    )
    await dead_letter_of(system, USAGE, b"x", b"not json", "parse", where=(0, 0))
    await system.publish(USAGE, [witness.usage(PRODUCT_A, "w", 1, 1)])
    system.start_processor("usage")
    await eventually(witness.report)
    assert await month.report() is None

    replayed = await lmp(system, "dlq", "replay", "--all", "--error-kind", "processing_error")
    assert replayed.code == 0, replayed.err
    assert len(replayed.out.splitlines()) == 1
    report = await eventually(month.report)
    assert report["lines"][0]["provisioned_units"] == 7

    again = await lmp(system, "dlq", "replay", "--all", "--error-kind", "processing_error")
    assert again.code == 0, again.err
    assert "already replayed" in again.out
    assert "nothing to replay" in again.out
    assert len([r for r in await raw_records(system, USAGE) if r.value == usage[1]]) == 2


async def test_dlq_replay_offset_seeks_to_the_dead_letter(
    system: System, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Among many dead letters, --offset reads the one it replays and no other."""
    letters = [
        letter_record(system, USAGE, b"k", f"letter {i}".encode(), "parse", where=(0, i))
        for i in range(300)
    ]
    await system.publish(DLQ, letters)
    dlq = system.topic(DLQ)
    read_from_dlq: list[int] = []
    getmany = AIOKafkaConsumer.getmany

    async def counted(consumer: AIOKafkaConsumer, *tps: TopicPartition, **kwargs: Any) -> Any:
        batch = await getmany(consumer, *tps, **kwargs)
        read_from_dlq.extend(r.offset for tp, rs in batch.items() if tp.topic == dlq for r in rs)
        return batch

    async def whole_topic(*_: Any) -> Any:
        raise AssertionError("--offset read the whole dead-letter topic")

    monkeypatch.setattr(AIOKafkaConsumer, "getmany", counted)
    monkeypatch.setattr(ops.replay, "dead_letters", whole_topic)
    out, err = io.StringIO(), io.StringIO()
    request = ops.ReplayRequest([(0, 250)])
    bootstrap = system.servers.bootstrap_servers
    code = await ops.replay_dead_letters(bootstrap, system.catalogue, request, out, err)
    assert code == 0, err.getvalue()
    assert read_from_dlq == [250]
    assert out.getvalue().startswith("replayed dead letter 250 (parse")
    monkeypatch.undo()

    by_cli = await lmp(system, "dlq", "replay", "--offset", "0:251")
    assert by_cli.code == 0, by_cli.err
    replayed = [r for r in await raw_records(system, USAGE) if r.headers]
    assert [(r.value, dict(r.headers)["lmp-replayed-from"]) for r in replayed] == [
        (b"letter 250", f"{dlq}:0:250".encode()),
        (b"letter 251", f"{dlq}:0:251".encode()),
    ]
    unknown = await lmp(system, "dlq", "replay", "--offset", "300", "--offset", "1:0")
    assert unknown.code == 1
    assert f"no dead letter at offset 300, 1:0 on {dlq} (it holds partition 0: 0..299)" in (
        unknown.err
    )


async def test_dlq_replay_reads_a_left_out_value_at_its_origin(system: System) -> None:
    """A dead letter over the size cap points at its original: replay republishes the
    original's bytes while the topic retains them, and refuses once they are gone."""
    big = cloud_event("lmp.usage.reported", {"note": "x" * 6000})
    original = await send(system, USAGE, b"P-BIG", big, partition=2)
    letter = await dead_letter_of(
        system, USAGE, b"P-BIG", big, "schema", where=(2, original.offset), max_bytes=4096
    )
    data = json.loads(letter)["data"]
    assert (data["value_omitted"], data["value"], data["value_size"]) == (True, None, len(big))

    gone = await send(system, USAGE, b"P-GONE", b"short-lived", partition=3)
    await _delete_up_to(system, USAGE, 3, gone.offset + 1)
    await dead_letter_of(
        system,
        USAGE,
        b"P-GONE",
        b"short-lived" * 500,
        "schema",
        where=(3, gone.offset),
        max_bytes=4096,
    )

    tail = await lmp(system, "tail", DLQ, "--json")
    assert tail.code == 0, tail.err
    shown = tail.json_lines()[0]["original"]
    assert shown["error"].startswith(f"value omitted ({len(big)} bytes): the original is at ")
    assert shown["key"] == "P-BIG"

    replayed = await lmp(system, "dlq", "replay", "--offset", "0")
    assert replayed.code == 0, replayed.err
    assert f"{len(big)} bytes, read back at the origin" in replayed.out
    copies = [r for r in await raw_records(system, USAGE) if r.value == big]
    assert [(r.partition, r.key) for r in copies] == [(2, b"P-BIG")] * 2
    assert dict(copies[1].headers)["lmp-replayed-from"] == f"{system.topic(DLQ)}:0:0".encode()

    refused = await lmp(system, "dlq", "replay", "--offset", "1")
    assert refused.code == 1
    assert "dead letter 1 cannot be replayed: its original value (5500 bytes) was left out" in (
        refused.err
    )
    assert f"{system.topic(USAGE)} 3:{gone.offset} is no longer retained" in refused.err
    sweep = await lmp(system, "dlq", "replay", "--all")
    assert sweep.code == 1
    assert "dead letter 0 was already replayed" in sweep.out
    assert "dead letter 1 cannot be replayed" in sweep.err
    assert len([r for r in await raw_records(system, USAGE) if r.value == big]) == 2


async def test_dlq_replay_of_a_tombstone_publishes_a_null_value(system: System) -> None:
    original = await send(system, USAGE, b"P-NULL", None, partition=1)
    await dead_letter_of(system, USAGE, b"P-NULL", None, "tombstone", where=(1, original.offset))
    listed = await lmp(system, "dlq", "list", "--json")
    assert listed.code == 0, listed.err
    [row] = listed.json_lines()
    assert (row["error_kind"], row["value_size"], row["value_omitted"]) == (
        "tombstone",
        None,
        False,
    )

    replayed = await lmp(system, "dlq", "replay", "--offset", "0")
    assert replayed.code == 0, replayed.err
    assert "a tombstone)" in replayed.out
    copies = [r for r in await raw_records(system, USAGE) if r.key == b"P-NULL"]
    assert [(r.partition, r.value) for r in copies] == [(1, None)] * 2
    assert dict(copies[1].headers)["lmp-replayed-from"] == f"{system.topic(DLQ)}:0:0".encode()
    again = await lmp(system, "dlq", "replay", "--offset", "0")
    assert again.code == 1
    assert "already replayed" in again.err


async def _count(system: System, contract_topic: str, n: int) -> bool:
    return len(await raw_records(system, contract_topic)) >= n


async def _records_when(system: System, contract_topic: str, n: int) -> list[Any] | None:
    records = await raw_records(system, contract_topic)
    return records if len(records) >= n else None


async def _commit(system: System, group: str, contract_topic: str, partition: int, at: int) -> None:
    """Commit ``at`` for ``group`` as if its processor had taken everything before it."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=system.servers.bootstrap_servers,
        group_id=group,
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        tp = TopicPartition(system.topic(contract_topic), partition)
        consumer.assign([tp])
        await consumer.commit({tp: at})
    finally:
        await consumer.stop()


# quarantined outbound events -----------------------------------------------------


async def test_outbox_list_and_retry_publish_quarantined_events(system: System) -> None:
    events = system.topic("lmp.report-events.v1")
    first = OutboxEntry(id=unique("evt-"), topic=events, key="P1:2026-10", value='{"a": 1}')
    second = OutboxEntry(id=unique("evt-"), topic=events, key="P2:2026-10", value='{"b": 2}')
    huge = OutboxEntry(id=unique("evt-"), topic=events, key="P3:2026-10", value="x" * 1_200_000)
    entries = [first, second, huge]
    await system.store.quarantine_events(
        [(e, "TopicAuthorizationFailedError: no") for e in entries]
    )

    text, listed = await asyncio.gather(
        lmp(system, "outbox", "list"), lmp(system, "outbox", "list", "--json")
    )
    assert text.code == 0, text.err
    assert f"{first.id}  {events}  TopicAuthorizationFailedError: no" in text.out.splitlines()
    assert {row["id"]: row["topic"] for row in listed.json_lines()} == {
        e.id: events for e in entries
    }

    unknown = await lmp(system, "outbox", "retry", "evt-nothing")
    assert unknown.code == 1
    assert "no quarantined event 'evt-nothing'" in unknown.err

    one = await lmp(system, "outbox", "retry", first.id)
    assert one.code == 0, one.err
    assert one.out.startswith(f"published event {first.id} to {events} ")
    assert {e.id for e, _ in await system.store.quarantined()} == {second.id, huge.id}

    rest = await lmp(system, "outbox", "retry")
    assert rest.code == 1
    assert f"published event {second.id}" in rest.out
    assert f"event {huge.id} still cannot be published to {events}: MessageSizeTooLarge" in (
        rest.err
    )
    [(left, reason)] = await system.store.quarantined()
    assert left.id == huge.id
    assert reason.startswith("MessageSizeTooLarge")
    published = await raw_records(system, "lmp.report-events.v1")
    assert sorted((r.key, r.value) for r in published) == [
        (first.key.encode(), first.value.encode()),
        (second.key.encode(), second.value.encode()),
    ]
    structured = ("content-type", STRUCTURED_CONTENT_TYPE.encode())
    assert [list(r.headers) for r in published] == [[structured]] * 2


async def test_outbox_commands_need_a_database(system: System, tmp_path: Path) -> None:
    result = await lmp(system, "outbox", "list", MONGODB_URI="", LMP_HOME=str(tmp_path))
    assert result.code == 2
    assert "MONGODB_URI is not set" in result.err


async def _delete_up_to(system: System, contract_topic: str, partition: int, before: int) -> None:
    """Drop a partition's records before ``before``, as retention would."""
    admin = AIOKafkaAdminClient(bootstrap_servers=system.servers.bootstrap_servers)
    await admin.start()
    try:
        tp = TopicPartition(system.topic(contract_topic), partition)
        await admin.delete_records({tp: RecordsToDelete(before)})
    finally:
        await admin.close()
