"""The local Kafka broker really starts, serves clients, keeps data and stops cleanly."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from tooling.infra.kafka_server import KAFKA_VERSION, KafkaServer
from tooling.infra.process import InfraError, free_port, port_open

pytestmark = [pytest.mark.integration]

# Shared with the rest of the project so the jars are fetched once per checkout.
CACHE_DIR = Path(__file__).resolve().parents[2] / ".lmp" / "cache"
TOPIC = "infra.kafka-server.test"
GROUP = "infra-kafka-server-test"

ServerFactory = Callable[[Path], KafkaServer]


@pytest.fixture
def make_server() -> Iterator[ServerFactory]:
    """Build brokers on free ports and stop every one of them, whatever the test did."""
    servers: list[KafkaServer] = []

    def build(data_dir: Path) -> KafkaServer:
        server = KafkaServer(CACHE_DIR, data_dir, port=free_port(), controller_port=free_port())
        servers.append(server)
        return server

    yield build
    for server in servers:
        server.stop()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _processes_mentioning(text: str) -> list[int]:
    """Pids whose command line mentions ``text``: finds a broker that escaped ``stop``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline:
            found.append(int(entry.name))
    return found


async def _start(server: KafkaServer) -> None:
    await asyncio.to_thread(server.start)
    await asyncio.to_thread(server.wait_ready, 90.0)


@pytest.mark.asyncio
async def test_broker_serves_clients_and_keeps_data_across_restart(
    tmp_path: Path, make_server: ServerFactory
) -> None:
    server = make_server(tmp_path / "kafka")
    await _start(server)
    assert server.running()
    assert server.bootstrap_servers == f"127.0.0.1:{server.port}"

    admin = AIOKafkaAdminClient(bootstrap_servers=server.bootstrap_servers)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(TOPIC, num_partitions=1, replication_factor=1)])
        assert TOPIC in await admin.list_topics()
    finally:
        await admin.close()

    producer = AIOKafkaProducer(bootstrap_servers=server.bootstrap_servers, acks="all")
    await producer.start()
    try:
        sent = await producer.send_and_wait(TOPIC, b"usage-report", key=b"tenant-1")
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        TOPIC,
        bootstrap_servers=server.bootstrap_servers,
        group_id=GROUP,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        record = await asyncio.wait_for(consumer.getone(), timeout=30)
        assert (record.key, record.value) == (b"tenant-1", b"usage-report")
        await consumer.commit()
    finally:
        await consumer.stop()

    pid = server.process.pid()
    assert pid is not None
    await asyncio.to_thread(server.stop)
    assert not server.running()
    assert not _pid_alive(pid)
    assert not server.process.pid_path.exists()
    assert not port_open(server.port)
    assert not port_open(server.controller_port)
    assert _processes_mentioning(str(server.config_path)) == []

    await _start(server)
    assert server.process.pid() != pid
    partition = TopicPartition(TOPIC, sent.partition)

    reader = AIOKafkaConsumer(bootstrap_servers=server.bootstrap_servers, group_id=None)
    await reader.start()
    try:
        reader.assign([partition])
        await reader.seek_to_beginning(partition)
        record = await asyncio.wait_for(reader.getone(), timeout=30)
        assert (record.offset, record.value) == (sent.offset, b"usage-report")
    finally:
        await reader.stop()

    group_member = AIOKafkaConsumer(bootstrap_servers=server.bootstrap_servers, group_id=GROUP)
    await group_member.start()
    try:
        assert await group_member.committed(partition) == sent.offset + 1
    finally:
        await group_member.stop()


def test_wait_ready_fails_fast_with_log_when_broker_dies(
    tmp_path: Path, make_server: ServerFactory
) -> None:
    server = make_server(tmp_path / "kafka")
    server.logs_dir.mkdir(parents=True)
    # Storage formatted for another node: the broker refuses it and exits at once.
    (server.logs_dir / "meta.properties").write_text(
        "version=1\nnode.id=2\ncluster.id=AYqODt3aQVGTj9rii1XHRg\n"
        "directory.id=38y9r56OSFaCox4Pu5gzrQ\n"
    )
    server.start()
    began = time.monotonic()
    with pytest.raises(InfraError, match="exited before ready") as failure:
        server.wait_ready(timeout=90.0)
    assert time.monotonic() - began < 30
    assert "Stored node id 2 doesn't match" in str(failure.value)
    assert not server.running()
    server.stop()
    assert not server.process.pid_path.exists()


def test_start_refuses_a_port_in_use(tmp_path: Path, make_server: ServerFactory) -> None:
    server = make_server(tmp_path / "kafka")
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", server.port))
        squatter.listen()
        with pytest.raises(InfraError, match=f"127.0.0.1:{server.port} is already in use"):
            server.start()
    assert not server.running()
    assert not server.process.pid_path.exists()


def test_failed_fetch_leaves_no_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake_mvn = bin_dir / "mvn"
    fake_mvn.write_text(
        "#!/bin/sh\n"
        'for arg; do case "$arg" in -DoutputDirectory=*) out="${arg#*=}";; esac; done\n'
        'mkdir -p "$out" && : > "$out/kafka_2.13-partial.jar"\n'
        "echo 'Could not resolve dependencies: network is unreachable'\n"
        "exit 1\n"
    )
    fake_mvn.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    cache_dir = tmp_path / "cache"
    server = KafkaServer(cache_dir, tmp_path / "kafka", port=free_port())

    with pytest.raises(InfraError, match="network is unreachable"):
        server.install()
    assert not server.installed()
    assert list(cache_dir.iterdir()) == []
    assert not (cache_dir / f"kafka-{KAFKA_VERSION}").exists()


def test_missing_maven_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "nothing-here"))
    server = KafkaServer(tmp_path / "cache", tmp_path / "kafka")
    with pytest.raises(InfraError, match="mvn not found"):
        server.install()
