"""Processors on a SASL_SSL listener with an authorizer, holding only their derived ACLs.

The broker gets a second listener (SASL over TLS, certificates made here) and the
standard authorizer with no access unless an ACL allows it. Its plaintext listener stays
for the broker itself and for the test's own reading and writing (a super user).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import TopicAuthorizationFailedError

from services.adapters.kafka_admin import topic_status
from services.adapters.kafka_security import kafka_connection
from services.settings import PROJECT_ROOT, Settings
from tests.builders import partner_account, usage
from tests.conftest import CACHE
from tests.harness import Servers, System, eventually
from tests.tls import Certificates, make_certificates
from tooling.infra.kafka_secure import BrokerTls, SecureListener
from tooling.infra.kafka_server import KafkaServer
from tooling.infra.process import free_port

pytestmark = pytest.mark.integration

ADMIN = "admin"
USERS = {
    ADMIN: "admin-secret",
    "usage": "usage-secret",
    "accounts": "accounts-secret",
    "partner-actions": "partner-actions-secret",
    "partner-portal": "partner-secret",
    "trendmicro": "trendmicro-secret",
    "operations": "operations-secret",
    "read-api": "read-api-secret",
}
CYCLE = "2026-10"


@dataclass(frozen=True)
class SecureBroker:
    kafka: KafkaServer
    mongodb_uri: str
    certs: Certificates

    @property
    def servers(self) -> Servers:
        """The plaintext listener: the test itself, as a super user."""
        return Servers(self.kafka.bootstrap_servers, self.mongodb_uri)

    def client_env(self, user: str, mechanism: str = "SCRAM-SHA-512") -> dict[str, str]:
        return {
            "KAFKA_BOOTSTRAP_SERVERS": self.kafka.secure_bootstrap_servers,
            "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "KAFKA_SASL_MECHANISM": mechanism,
            "KAFKA_SASL_USERNAME": user,
            "KAFKA_SASL_PASSWORD": USERS[user],
            "KAFKA_SSL_CAFILE": str(self.certs.ca),
        }


@pytest.fixture(scope="module")
def secure_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureBroker]:
    home = tmp_path_factory.mktemp("secure")
    certs = make_certificates(home / "certs")
    listener = SecureListener(
        port=free_port(),
        users=USERS,
        tls=BrokerTls(certs.server_chain, certs.server_key, certs.ca),
        authorizer=True,
        super_users=(f"User:{ADMIN}",),
    )
    kafka = KafkaServer(CACHE, home / "kafka", free_port(), free_port(), secure=listener)
    mongo = None
    uri = os.environ.get("MONGODB_URI", "")
    if not uri:
        from tooling.infra.mongo_server import MongoServer
        from tooling.settings import ToolingSettings

        mongo = MongoServer(CACHE, home / "mongo", free_port(), ToolingSettings().mongo_server)
        uri = mongo.uri
    try:  # both started inside it: a broker that fails to start must not leak the database
        if mongo is not None:
            mongo.start()
        kafka.start()
        kafka.wait_ready()
        if mongo is not None:
            mongo.wait_ready()
        yield SecureBroker(kafka, uri, certs)
    finally:
        for server in (mongo, kafka):
            if server is not None:
                server.stop()


@pytest.fixture
async def system(secure_broker: SecureBroker, tmp_path: Path) -> Any:
    sys_ = System(secure_broker.servers, tmp_path)
    await sys_.start()
    try:
        yield sys_
    finally:
        await sys_.close()


def cli(
    system: System, broker: SecureBroker, user: str, *args: str
) -> subprocess.CompletedProcess[str]:
    """``lmp-billing ARGS`` as ``user`` over the secure listener."""
    env = {**os.environ, **system.env(), **broker.client_env(user)}
    return subprocess.run(  # noqa: S603 - our own CLI
        [sys.executable, "-m", "services.cli", *args],
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def apply_acls(system: System, broker: SecureBroker, *extra: str) -> str:
    """``lmp-billing topics acls --apply`` as the admin."""
    result = cli(system, broker, ADMIN, "topics", "acls", "--apply", *extra)
    assert result.returncode == 0, result.stderr
    assert "applied" in result.stderr
    return result.stdout


async def test_processors_over_sasl_ssl_with_only_their_acls_ingest_usage_end_to_end(
    system: System, secure_broker: SecureBroker
) -> None:
    apply_acls(system, secure_broker)
    partner = f"{system.namespace}P1"
    await system.publish("lmp.accounts.v1", [partner_account(partner)])
    for name in ("accounts", "usage"):
        system.start_processor(name, env=secure_broker.client_env(name))
    # The faust agent path: faust's own consumer and producer carry the credentials.
    agent = {**secure_broker.client_env("partner-actions"), "LMP_ACTION_CONSUMER": "agent"}
    system.start_processor("partner-actions", env=agent)
    await system.publish("lmp.usage.v1", [usage(partner, used=4), (b"x", b"{not json")])
    await system.publish("lmp.partner-actions.v1", [(b"pa", b"{not json either")])

    async def opened() -> list[dict[str, Any]]:
        events = await system.read_all("lmp.report-events.v1")
        return [e for e in events if e["value"]["type"] == "lmp.report.opened"]

    events = await eventually(opened, timeout=120)
    assert [e["value"]["subject"] for e in events] == [f"{partner}:{CYCLE}"]
    report = await system.store.load_report(f"{partner}:{CYCLE}")
    assert report is not None
    assert [(line.product_id, line.used_units) for line in report.lines] == [("AV", 4)]

    async def both_letters() -> list[dict[str, Any]]:
        letters = await system.read_all("lmp.dead-letter.v1")
        return letters if len(letters) >= 2 else []

    letters = await eventually(both_letters, timeout=90)
    assert sorted(letter["key"] for letter in letters) == [b"pa", b"x"]
    for name in ("accounts", "usage", "partner-actions"):
        log = system.logs(name, 400)
        assert "AuthorizationFailed" not in log, log
        assert "Traceback" not in log, log
    assert system.dead_processors() == []


async def test_a_partner_cannot_write_trendmicro_responses_while_trend_micro_can(
    system: System, secure_broker: SecureBroker
) -> None:
    printed = apply_acls(
        system, secure_broker, "--principal", "trend-micro-back-office=User:trendmicro"
    )
    assert "User:trendmicro" in printed
    apply_acls(system, secure_broker, "--principal", "trend-micro-back-office=User:trendmicro")
    responses = system.topic("lmp.trendmicro-responses.v1")
    actions = system.topic("lmp.partner-actions.v1")

    async def send(user: str, topic: str, mechanism: str = "SCRAM-SHA-512") -> None:
        env: dict[str, Any] = secure_broker.client_env(user, mechanism)  # by field alias
        settings = Settings(**env)
        producer = AIOKafkaProducer(**kafka_connection(settings).client_kwargs(), acks="all")
        await producer.start()
        try:
            await asyncio.wait_for(producer.send_and_wait(topic, b"{}", key=b"k"), 30)
        finally:
            await producer.stop()

    with pytest.raises(TopicAuthorizationFailedError):
        await send("partner-portal", responses)
    await send("partner-portal", actions, "SCRAM-SHA-256")
    await send("trendmicro", responses, "PLAIN")
    with pytest.raises(TopicAuthorizationFailedError):
        await send("trendmicro", actions)
    written = await system.read_all("lmp.trendmicro-responses.v1")
    assert len(written) == 1


async def test_the_operators_and_the_read_apis_lag_reader_work_with_their_acls(
    system: System, secure_broker: SecureBroker
) -> None:
    apply_acls(system, secure_broker)
    partner = f"{system.namespace}P1"
    await system.publish("lmp.accounts.v1", [partner_account(partner)])
    system.start_processor("accounts", env=secure_broker.client_env("accounts"))
    accounts_topic = system.topic("lmp.accounts.v1")

    async def lag_of_accounts() -> list[Any]:
        env: dict[str, Any] = secure_broker.client_env("read-api")  # by field alias
        settings = Settings(**env)
        rows = await topic_status(
            kafka_connection(settings),
            system.catalogue,
            system.namespace.rstrip("."),
            discover_groups=False,
        )
        return [
            (g.group, g.lag)
            for r in rows
            if r.name == accounts_topic
            for g in r.groups
            if g.partitions_committed
        ]

    group = f"{system.namespace.rstrip('.')}-accounts"
    assert await eventually(lag_of_accounts, timeout=90) == [(group, 0)]

    listed = cli(system, secure_broker, "operations", "topics", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert {row["name"] for row in rows} == set(system.catalogue.topics)
    assert not any(row["missing"] for row in rows)
    tailed = cli(system, secure_broker, "operations", "tail", "lmp.accounts.v1", "--json")
    assert tailed.returncode == 0, tailed.stderr
    assert partner in tailed.stdout
    refused = cli(system, secure_broker, "partner-portal", "tail", "lmp.accounts.v1")
    assert refused.returncode == 1
    assert "may not describe it" in refused.stderr
