"""Replicated topics and idempotent producers: what makes losing one broker harmless.

A topic replicated three times needs ``min.insync.replicas=2`` for an acks=all write to
mean "on two brokers"; every producer must use acks=all and idempotence so a retry
after a leader change neither loses nor doubles a record.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from services.adapters.catalogue import Catalogue
from services.bootstrap import processor
from services.processors.actions import PARTNER_ACTIONS
from services.settings import PROJECT_ROOT, Settings

pytestmark = pytest.mark.unit

TOPICS = PROJECT_ROOT / "topics.yaml"


def insync(catalogue: Catalogue) -> set[tuple[int | None, str]]:
    return {(t.replication, t.configs()["min.insync.replicas"]) for t in catalogue.topics.values()}


def test_one_replica_means_one_in_sync() -> None:
    assert insync(Catalogue.load(TOPICS)) == {(1, "1")}


def test_three_replicas_need_two_in_sync() -> None:
    assert insync(Catalogue.load(TOPICS, replication=3)) == {(3, "2")}
    assert insync(Catalogue.load(TOPICS, replication=5)) == {(5, "2")}


def test_an_explicit_min_insync_wins() -> None:
    assert insync(Catalogue.load(TOPICS, 3, "", min_insync_replicas=3)) == {(3, "3")}


def test_settings_carry_both_to_the_catalogue(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LMP_TOPIC_REPLICATION", "3")
    monkeypatch.setenv("LMP_TOPIC_MIN_INSYNC_REPLICAS", "3")
    assert insync(Catalogue.load(*Settings().catalogue_args())) == {(3, "3")}


def test_more_in_sync_than_replicas_is_refused() -> None:
    with pytest.raises(ValueError, match="exceeds its replication 2"):
        Catalogue.load(TOPICS, replication=2, min_insync_replicas=3)


def test_a_topic_may_set_its_own(tmp_path: Path) -> None:
    text = TOPICS.read_text().replace(
        "  lmp.usage.v1:\n", "  lmp.usage.v1:\n    replication: 3\n    min_insync_replicas: 3\n"
    )
    path = tmp_path / "topics.yaml"
    path.write_text(text)
    catalogue = Catalogue.load(path)
    assert catalogue["lmp.usage.v1"].configs()["min.insync.replicas"] == "3"
    assert catalogue["lmp.accounts.v1"].configs()["min.insync.replicas"] == "1"


async def test_the_faust_producer_is_idempotent_with_acks_all(tmp_path: Path) -> None:
    """faust turns idempotence on only in transactions; the agent path publishes with it."""
    settings = Settings(
        KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:1,127.0.0.1:2",
        MONGODB_URI="mongodb://127.0.0.1:1",
        home=tmp_path,
    )
    app = processor(settings, PARTNER_ACTIONS).app
    producer = app.producer._new_producer()  # type: ignore[attr-defined]
    try:
        assert producer._txn_manager is not None  # aiokafka's mark of idempotence
        assert producer._sender._acks == -1
    finally:
        await producer.client.close()


def test_the_embedded_cluster_replicates_three_times(tmp_path: Path) -> None:
    from tooling.infra.local import LocalInfra
    from tooling.settings import ToolingSettings

    embedded: dict[str, Any] = {"KAFKA_BOOTSTRAP_SERVERS": "", "topic_replication": None}
    settings = Settings(MONGODB_URI="mongodb://127.0.0.1:1", home=tmp_path, **embedded)
    cluster = ToolingSettings(kafka_port=9092, kafka_controller_port=9093, kafka_brokers=3)
    infra = LocalInfra.from_settings(settings, tooling=cluster)
    assert infra.bootstrap_servers == "127.0.0.1:9092,127.0.0.1:9094,127.0.0.1:9096"
    assert infra.environment()["LMP_TOPIC_REPLICATION"] == "3"
    assert infra.settings(settings).catalogue_args()[1] == 3
    assert insync(Catalogue.load(*infra.settings(settings).catalogue_args())) == {(3, "2")}
    single = Settings(MONGODB_URI="mongodb://127.0.0.1:1", home=tmp_path, **embedded)
    assert "LMP_TOPIC_REPLICATION" not in LocalInfra.from_settings(single).environment()
    assert single.catalogue_args()[1] is None


def test_a_catalogue_no_broker_could_honour_is_one_line_and_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from services.cli import main

    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")
    monkeypatch.setenv("LMP_TOPIC_REPLICATION", "1")
    monkeypatch.setenv("LMP_TOPIC_MIN_INSYNC_REPLICAS", "3")
    assert main(["topics", "list"]) == 2
    err = capsys.readouterr().err
    assert "min.insync.replicas 3 exceeds its replication 1" in err
    assert "Traceback" not in err


def test_a_bulk_processor_collects_less_often_than_one_people_wait_on(tmp_path: Path) -> None:
    from services.app import BULK_GC_THRESHOLDS, GC_THRESHOLDS
    from services.processors.usage import PROCESSOR as USAGE

    settings = Settings(
        KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:1", MONGODB_URI="mongodb://127.0.0.1:1", home=tmp_path
    )
    assert processor(settings, USAGE).gc_thresholds == BULK_GC_THRESHOLDS
    assert processor(settings, PARTNER_ACTIONS).gc_thresholds == GC_THRESHOLDS
    assert BULK_GC_THRESHOLDS[0] > GC_THRESHOLDS[0]


def test_a_published_outbox_is_cleared_before_any_sweep_may_publish_it_again() -> None:
    assert Settings(outbox_sweep_seconds=2, outbox_grace_seconds=4.1).outbox_grace_seconds == 4.1
    with pytest.raises(ValueError, match="more than twice LMP_OUTBOX_SWEEP_SECONDS"):
        Settings(outbox_sweep_seconds=2, outbox_grace_seconds=4)
