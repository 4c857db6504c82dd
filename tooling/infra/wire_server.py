"""What the two MongoDB-wire servers the tests run (SecantusDB, FerretDB) share: a
managed process on a local port, refused if that port is taken, ready once it answers
``ping`` (an open port is not enough), stopped with its process group."""

from __future__ import annotations

from pathlib import Path

from pymongo import MongoClient

from tooling.infra.process import InfraError, ManagedProcess, port_open

_PROBE_TIMEOUT_MS = 2000


class WireServer:
    """One server process storing into ``data_dir`` and listening on 127.0.0.1:``port``;
    a subclass installs it and sets ``process.argv`` before :meth:`start`-ing it."""

    def __init__(self, name: str, cache_dir: Path, data_dir: Path, port: int, files: str) -> None:
        self.name = name
        self.cache_dir = Path(cache_dir).resolve()
        self.data_dir = Path(data_dir).resolve()
        self.port = port
        self.process = ManagedProcess(
            name=name,
            argv=(),
            log_path=self.data_dir / f"{files}.log",
            pid_path=self.data_dir / f"{files}.pid",
            cwd=self.data_dir,
        )

    @property
    def uri(self) -> str:
        # Both advertise themselves by a host name of their own; a direct connection
        # keeps drivers from chasing it.
        return f"mongodb://127.0.0.1:{self.port}/?directConnection=true"

    def _refuse_if_taken(self) -> None:
        if self.process.running():
            raise InfraError(
                f"{self.name} already runs from {self.data_dir} (pid {self.process.pid()})"
            )
        if port_open(self.port):
            raise InfraError(
                f"cannot start {self.name}: port 127.0.0.1:{self.port} is already in use"
            )

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Return once the server answers ``ping``."""
        self.process.wait_until(self._answers_ping, timeout, "ready")

    def stop(self) -> None:
        self.process.stop(timeout=20.0)

    def running(self) -> bool:
        return self.process.running()

    def _answers_ping(self) -> bool:
        if not port_open(self.port):
            return False
        client: MongoClient[dict[str, object]] = MongoClient(
            self.uri, serverSelectionTimeoutMS=_PROBE_TIMEOUT_MS
        )
        try:
            return bool(client.admin.command("ping").get("ok"))
        finally:
            client.close()
