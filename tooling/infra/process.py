"""Start, watch and stop a local server as its own process group.

Used for the embedded Kafka broker and the MongoDB-wire server: both run as real
servers in child processes, log to a file, record a pid file so that a later
``infra down`` can stop them, and are waited on by probing, never by sleeping.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path


class InfraError(RuntimeError):
    """A local server could not be installed, started or reached."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
        return True
    return False


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


@dataclass
class ManagedProcess:
    """One server process: command line, log file and pid file."""

    name: str
    argv: Sequence[str]
    log_path: Path
    pid_path: Path
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    _proc: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    def start(self) -> None:
        if self.running():
            raise InfraError(f"{self.name} already runs (pid {self.pid()}); stop it first")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.pid_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(  # noqa: S603 - argv built by the project
                list(self.argv),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **self.env},
                cwd=self.cwd,
                start_new_session=True,
            )
        self.pid_path.write_text(str(self._proc.pid))

    def pid(self) -> int | None:
        if self._proc is not None:
            return self._proc.pid
        try:
            return int(self.pid_path.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

    def returncode(self) -> int | None:
        """The exit code once the process (started here) has ended."""
        return self._proc.poll() if self._proc is not None else None

    def running(self) -> bool:
        if self._proc is not None:
            return self._proc.poll() is None
        pid = self.pid()
        if pid is None:
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def wait_until(self, ready: Callable[[], bool], timeout: float, what: str) -> None:
        """Poll ``ready`` until it holds; fail early if the process died."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running():
                raise InfraError(f"{self.name} exited before {what}:\n{tail(self.log_path)}")
            with contextlib.suppress(Exception):
                if ready():
                    return
            time.sleep(0.2)
        raise InfraError(f"{self.name} not {what} after {timeout:.0f}s:\n{tail(self.log_path)}")

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM the process group, then SIGKILL whatever is left."""
        stop_all([self], timeout)

    def _terminate(self) -> bool:
        """SIGTERM the process group; False when nothing runs."""
        pid = self.pid()
        if pid is None or not self.running():
            self.pid_path.unlink(missing_ok=True)
            return False
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
        return True

    def _wait_or_kill(self, deadline: float) -> None:
        while time.monotonic() < deadline and self.running():
            if self._proc is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self._proc.wait(timeout=0.2)
            else:
                time.sleep(0.2)
        pid = self.pid()
        if pid is not None and self.running():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            if self._proc is not None:
                self._proc.wait(timeout=5)
        self.pid_path.unlink(missing_ok=True)


def stop_all(processes: Iterable[ManagedProcess], timeout: float = 20.0) -> None:
    """SIGTERM every process first, then wait for them all on one deadline and SIGKILL
    what is left: stopping N processes takes the slowest one's time, not the sum."""
    signalled = [proc for proc in processes if proc._terminate()]
    deadline = time.monotonic() + timeout
    for proc in signalled:
        proc._wait_or_kill(deadline)
