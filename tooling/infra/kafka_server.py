# Over 300 lines: one broker's install, configuration and process life, read as one.
"""A real single-node Apache Kafka broker (KRaft mode) run from Maven Central jars.

The project runs against a genuine broker rather than a fake so that faust and
aiokafka see real protocol behaviour (rebalances, offsets, transactions). No
Docker and no Kafka tarball are needed: Maven fetches the broker's jars once into
a cache directory, and the broker runs as a plain ``java`` child process.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from aiokafka.admin import AIOKafkaAdminClient

from services.adapters.catalogue import default_min_insync
from tooling.infra.kafka_secure import LISTENER, SecureListener
from tooling.infra.process import InfraError, ManagedProcess, port_open

KAFKA_VERSION = "3.9.1"

_T = TypeVar("_T")

_RESOURCES = Path(__file__).resolve().parent / "kafka"
_POM = _RESOURCES / "pom.xml"
_LOG4J = _RESOURCES / "log4j.properties"

# Jars whose presence shows a finished fetch; the fetch is renamed into place as a
# whole, so a partial directory can only appear if someone edits the cache by hand.
_REQUIRED_JARS = (
    f"kafka_2.13-{KAFKA_VERSION}.jar",
    f"kafka-clients-{KAFKA_VERSION}.jar",
    f"kafka-server-{KAFKA_VERSION}.jar",
    f"kafka-storage-{KAFKA_VERSION}.jar",
    f"kafka-metadata-{KAFKA_VERSION}.jar",
    f"kafka-raft-{KAFKA_VERSION}.jar",
    "slf4j-reload4j-1.7.36.jar",
)

_FETCH_TIMEOUT = 900.0
_FORMAT_TIMEOUT = 120.0
_STALE_FETCH_AGE = 3600.0
_PROBE_TIMEOUT = 5.0

# G1 with short pauses as in Kafka's own kafka-server-start.sh; a small fixed heap
# keeps the broker's footprint predictable on developer machines and CI runners.
_BROKER_HEAP = ("-Xms256m", "-Xmx512m")
_BROKER_JVM_FLAGS = (
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent",
    "-XX:MaxInlineLevel=15",
    "-Djava.awt.headless=true",
)
# The storage tool runs for a second; a quick-starting JVM saves time on every start.
_TOOL_JVM_FLAGS = (
    "-Xmx256m",
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-Djava.awt.headless=true",
)


def _java() -> str:
    """The ``java`` launcher: ``$JAVA_HOME/bin/java`` if set, else the one on PATH."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        candidate = Path(java_home) / "bin" / "java"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
        raise InfraError(f"JAVA_HOME={java_home} has no executable bin/java; fix or unset it")
    found = shutil.which("java")
    if found is None:
        raise InfraError("java not found on PATH: the local Kafka broker needs Java 17 or newer")
    return found


def _random_cluster_id() -> str:
    """A cluster id as Kafka's ``Uuid.randomUuid`` makes it, without starting a JVM.

    Kafka avoids ids that begin with ``-`` because they read as command-line
    options, so this does too.
    """
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode("ascii").rstrip("=")
        if not text.startswith("-"):
            return text


def _escape(value: str) -> str:
    """Escape a value for a Java properties file (backslashes are the only trap)."""
    return value.replace("\\", "\\\\")


def _read_properties(path: Path) -> dict[str, str]:
    """Parse the simple ``key=value`` files Kafka writes (``meta.properties``)."""
    result: dict[str, str] = {}
    for line in path.read_text(errors="replace").splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith(("#", "!")) or "=" not in stripped:
            continue
        key, _, value = stripped.partition("=")
        result[key.strip()] = value.strip()
    return result


def _output_tail(output: str | bytes | None, lines: int = 30) -> str:
    if output is None:
        return "(no output)"
    text = output.decode(errors="replace") if isinstance(output, bytes) else output
    return "\n".join(text.splitlines()[-lines:]) or "(no output)"


class KafkaServer:
    """Fetch, start, wait for and stop one local Kafka broker that is also its controller.

    Alone by default; with ``node_id``, ``quorum_voters`` (``id@host:port,...`` of every
    controller), ``new_cluster_id`` (shared by all nodes) and ``replication`` (of the
    broker's internal topics) it is one node of a cluster (``kafka_cluster.KafkaCluster``).
    """

    def __init__(
        self,
        cache_dir: Path,
        data_dir: Path,
        port: int = 9092,
        controller_port: int = 9093,
        secure: SecureListener | None = None,
        *,
        node_id: int = 1,
        quorum_voters: str | None = None,
        new_cluster_id: str | None = None,
        replication: int = 1,
        heap: tuple[str, ...] = _BROKER_HEAP,
    ) -> None:
        self.secure = secure
        self.cache_dir = Path(cache_dir).resolve()
        self.data_dir = Path(data_dir).resolve()
        self.port = port
        self.controller_port = controller_port
        self.node_id = node_id
        self.quorum_voters = quorum_voters or f"{node_id}@127.0.0.1:{controller_port}"
        self.new_cluster_id = new_cluster_id
        self.replication = replication
        self.heap = heap
        self.home = self.cache_dir / f"kafka-{KAFKA_VERSION}"
        self.libs_dir = self.home / "libs"
        self.logs_dir = self.data_dir / "logs"
        self.config_path = self.data_dir / "server.properties"
        self.process = ManagedProcess(
            name=f"kafka {KAFKA_VERSION}" + (f" node {node_id}" if quorum_voters else ""),
            argv=(),
            log_path=self.data_dir / "kafka.log",
            pid_path=self.data_dir / "kafka.pid",
            cwd=self.data_dir,
        )

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def secure_bootstrap_servers(self) -> str:
        """The listener that authenticates clients (``secure``); not there without it."""
        if self.secure is None:
            raise InfraError("this broker has no secure listener")
        return f"127.0.0.1:{self.secure.port}"

    def installed(self) -> bool:
        return all((self.libs_dir / jar).is_file() for jar in _REQUIRED_JARS)

    def install(self) -> None:
        """Fetch the broker's jars into the cache unless they are there already.

        Maven writes into a private temporary directory that is renamed into place
        only after it succeeded, so an interrupted fetch never looks like a cache.
        """
        if self.installed():
            return
        mvn = shutil.which("mvn")
        if mvn is None:
            raise InfraError(
                "mvn not found on PATH: Maven is needed once to fetch the Kafka "
                f"{KAFKA_VERSION} jars into {self.home}"
            )
        _java()
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        self._remove_stale_fetches()
        staging = Path(tempfile.mkdtemp(prefix=f".kafka-{KAFKA_VERSION}-", dir=self.cache_dir))
        try:
            staging.chmod(0o755)  # mkdtemp makes it private; the cache is shared
            shutil.copyfile(_POM, staging / "pom.xml")
            self._run_maven(mvn, staging)
            for leftover in ("pom.xml", "target"):
                path = staging / leftover
                if path.is_dir():
                    shutil.rmtree(path)
                else:
                    path.unlink(missing_ok=True)
            self._publish(staging)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def start(self) -> None:
        """Install if needed, format the storage on first use and spawn the broker."""
        self.install()
        if self.process.running():
            raise InfraError(
                f"Kafka already runs from {self.data_dir} (pid {self.process.pid()}); stop it first"
            )
        ports = [("listener", self.port), ("controller", self.controller_port)]
        if self.secure is not None:
            ports.append(("secure listener", self.secure.port))
        for what, port in ports:
            if port_open(port):
                raise InfraError(
                    f"cannot start Kafka: {what} port 127.0.0.1:{port} is already in use"
                )
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(self._server_properties())
        if not (self.logs_dir / "meta.properties").exists():
            self._format_storage()
        self.process.argv = (
            _java(),
            *self.heap,
            *_BROKER_JVM_FLAGS,
            *self._log4j_flags(),
            "-cp",
            str(self.libs_dir / "*"),
            "kafka.Kafka",
            str(self.config_path),
        )
        self.process.start()

    def wait_ready(self, timeout: float = 90.0) -> None:
        """Return once the broker answers a metadata request that lists itself.

        An open port alone is not enough: the broker binds its listener before it
        has registered with the controller and before it serves requests.
        """
        self.process.wait_until(self._answers_metadata, timeout, "ready")

    def stop(self) -> None:
        """Stop the broker's whole process group (SIGTERM, then SIGKILL)."""
        self.process.stop(timeout=30.0)

    def kill(self) -> None:
        """SIGKILL the broker's process group: a crash, nothing flushed or handed over."""
        pid = self.process.pid()
        if pid is not None and self.process.running():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
        self.process.stop(timeout=10.0)

    def running(self) -> bool:
        return self.process.running()

    def cluster_id(self) -> str | None:
        """The cluster id this data directory was formatted with, if any."""
        meta = self.logs_dir / "meta.properties"
        if not meta.exists():
            return None
        return _read_properties(meta).get("cluster.id")

    def _server_properties(self) -> str:
        min_insync = default_min_insync(self.replication)
        settings: dict[str, str | int] = {
            "process.roles": "broker,controller",
            "node.id": self.node_id,
            "controller.quorum.voters": self.quorum_voters,
            "listeners": (
                f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}"
            ),
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "inter.broker.listener.name": "PLAINTEXT",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": _escape(str(self.logs_dir)),
            "num.network.threads": 3,
            "num.io.threads": 4,
            "num.recovery.threads.per.data.dir": 1,
            "num.partitions": 1,
            "default.replication.factor": self.replication,
            "min.insync.replicas": min_insync,
            "offsets.topic.replication.factor": self.replication,
            "offsets.topic.num.partitions": 4,
            "transaction.state.log.replication.factor": self.replication,
            "transaction.state.log.min.isr": min_insync,
            "transaction.state.log.num.partitions": 4,
            "group.initial.rebalance.delay.ms": 0,
            "auto.create.topics.enable": "false",
            "delete.topic.enable": "true",
            "log.retention.hours": 168,
            "log.segment.bytes": 64 * 1024 * 1024,
            "log.retention.check.interval.ms": 300000,
        }
        if self.secure is not None:
            settings |= self._secure_properties(settings, self.secure)
        header = f"# Written by tooling.infra.kafka_server for Kafka {KAFKA_VERSION}.\n"
        return header + "".join(f"{key}={value}\n" for key, value in settings.items())

    @staticmethod
    def _secure_properties(
        settings: dict[str, str | int], secure: SecureListener
    ) -> dict[str, str | int]:
        """The secure listener added beside the plaintext one (same host, its own port)."""
        listener = f"{LISTENER}://127.0.0.1:{secure.port}"
        return {
            "listeners": f"{settings['listeners']},{listener}",
            "advertised.listeners": f"{settings['advertised.listeners']},{listener}",
            "listener.security.protocol.map": (
                f"{settings['listener.security.protocol.map']},{LISTENER}:{secure.protocol}"
            ),
            **secure.server_properties(),
        }

    def _log4j_flags(self) -> tuple[str, ...]:
        return (f"-Dlog4j.configuration={_LOG4J.as_uri()}",)

    def _format_storage(self) -> None:
        """Write ``meta.properties`` so the KRaft node can start; runs once per data dir."""
        argv = [
            _java(),
            *_TOOL_JVM_FLAGS,
            *self._log4j_flags(),
            "-cp",
            str(self.libs_dir / "*"),
            "kafka.tools.StorageTool",
            "format",
            "-t",
            self.new_cluster_id or _random_cluster_id(),
            "-c",
            str(self.config_path),
            "--ignore-formatted",
            *(self.secure.format_arguments() if self.secure is not None else ()),
        ]
        try:
            result = subprocess.run(  # noqa: S603 - argv built here
                argv,
                capture_output=True,
                text=True,
                timeout=_FORMAT_TIMEOUT,
                check=False,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired as exc:
            raise InfraError(
                f"Kafka storage format did not finish in {_FORMAT_TIMEOUT:.0f}s:\n"
                f"{_output_tail(exc.stdout)}"
            ) from exc
        if result.returncode != 0:
            raise InfraError(
                f"Kafka storage format failed (exit {result.returncode}):\n"
                f"{_output_tail(result.stdout + result.stderr)}"
            )

    def _run_maven(self, mvn: str, staging: Path) -> None:
        argv = [
            mvn,
            "-q",
            "-B",
            "-Dstyle.color=never",
            "-f",
            str(staging / "pom.xml"),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={staging / 'libs'}",
        ]
        try:
            result = subprocess.run(  # noqa: S603 - argv built here
                argv,
                capture_output=True,
                text=True,
                timeout=_FETCH_TIMEOUT,
                check=False,
                cwd=staging,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired as exc:
            raise InfraError(
                f"fetching the Kafka {KAFKA_VERSION} jars with Maven took over "
                f"{_FETCH_TIMEOUT:.0f}s:\n{_output_tail(exc.stdout)}"
            ) from exc
        if result.returncode != 0:
            raise InfraError(
                f"fetching the Kafka {KAFKA_VERSION} jars with Maven failed "
                f"(exit {result.returncode}):\n{_output_tail(result.stdout + result.stderr)}"
            )
        missing = [jar for jar in _REQUIRED_JARS if not (staging / "libs" / jar).is_file()]
        if missing:
            raise InfraError(f"Maven finished but these Kafka jars are missing: {missing}")

    def _publish(self, staging: Path) -> None:
        """Rename a finished fetch into place; tolerate a concurrent installer winning."""
        if self.home.exists():
            shutil.rmtree(self.home)
        try:
            staging.rename(self.home)
        except OSError:
            if not self.installed():
                raise

    def _remove_stale_fetches(self) -> None:
        """Drop temporary directories that interrupted fetches left behind."""
        now = time.time()
        for path in self.cache_dir.glob(f".kafka-{KAFKA_VERSION}-*"):
            with contextlib.suppress(OSError):
                if path.is_dir() and now - path.stat().st_mtime > _STALE_FETCH_AGE:
                    shutil.rmtree(path)

    def _answers_metadata(self) -> bool:
        if not port_open(self.port):
            return False
        if self.secure is not None and not port_open(self.secure.port):
            return False
        cluster = _in_fresh_loop(self._describe_cluster())
        brokers = cluster.get("brokers") or []
        listed = any(
            broker.get("node_id") == self.node_id and int(broker.get("port", -1)) == self.port
            for broker in brokers
        )
        expected_id = self.cluster_id()
        return listed and (expected_id is None or cluster.get("cluster_id") == expected_id)

    async def _describe_cluster(self) -> dict[str, Any]:
        admin = AIOKafkaAdminClient(
            bootstrap_servers=self.bootstrap_servers,
            request_timeout_ms=int(_PROBE_TIMEOUT * 1000),
            client_id="lmp-billing-readiness",
        )
        try:
            async with asyncio.timeout(_PROBE_TIMEOUT):
                await admin.start()
                result: dict[str, Any] = await admin.describe_cluster()
                return result
        finally:
            await admin.close()


def _in_fresh_loop(coro: Coroutine[Any, Any, _T]) -> _T:
    """Run a coroutine to completion on its own loop in a helper thread.

    ``wait_ready`` is a blocking call that may be made from inside a running event
    loop (an async test, the CLI), where ``asyncio.run`` is not allowed.
    """
    values: list[_T] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            values.append(asyncio.run(coro))
        except BaseException as exc:  # re-raised in the caller's thread
            errors.append(exc)

    thread = threading.Thread(target=run, name="kafka-readiness-probe", daemon=True)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return values[0]
