"""Several read-API processes on one port: a parent starts them, watches them, stops them.

Each worker is ``lmp-billing api`` in its own process, bound to the same address with
SO_REUSEPORT; the kernel spreads new connections over the workers' listening sockets
(by a hash of the connection, so a connection stays with one worker; one socket shared
by forked workers would let one worker's event loop accept a whole burst). Before starting
them the parent checks that nothing listens there yet: SO_REUSEPORT would otherwise let
a second API join a port silently. Each worker holds one end of a socket pair, its
lifeline: it writes ``ready`` on it once it listens, and stops when the parent's end
closes (the parent died). The parent forwards SIGTERM and SIGINT; when a worker ends on
its own, the parent stops the others and exits non-zero, so whatever supervises the API
(``lmp-billing up``, Docker, systemd) restarts it whole.

Request metrics stay whole across workers through prometheus_client's multiprocess mode:
every worker writes its counts under one directory the parent makes, and any worker's
``/metrics`` sums them.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from types import FrameType

from services.settings import Settings

log = logging.getLogger(__name__)

READY = b"ready"
START_TIMEOUT_SECONDS = 60.0
STOP_GRACE_SECONDS = 30.0
MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"


class PoolError(Exception):
    """The workers could not be started: the reason, for a person."""


@dataclass
class Worker:
    number: int
    process: subprocess.Popen[bytes]
    lifeline: socket.socket

    @property
    def name(self) -> str:
        return f"worker {self.number} (pid {self.process.pid})"


def check_port_free(host: str, port: int) -> None:
    """Bind every address ``host`` names, without SO_REUSEPORT: fails if anything listens."""
    if port == 0:
        raise PoolError("--workers needs a fixed port (port 0 would give each worker its own)")
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise PoolError(f"cannot resolve the listen address {host!r}: {exc}") from exc
    for family, kind, proto, _, address in addresses:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                probe.bind(address)
            except OSError as exc:
                raise PoolError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc


def _start(number: int, settings: Settings, metrics_dir: str) -> Worker:
    ours, theirs = socket.socketpair()
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "MONGODB_URI": settings.mongodb_uri,
        "MONGODB_DATABASE": settings.mongodb_database,
        "LMP_API_HOST": settings.api_host,
        "LMP_API_PORT": str(settings.api_port),
        MULTIPROCESS_DIR: metrics_dir,
    }
    argv = [sys.executable, "-m", "services.cli", "api", "--lifeline-fd", str(theirs.fileno())]
    try:
        process = subprocess.Popen(  # noqa: S603 - our own command line
            argv, env=env, pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL
        )
    finally:
        theirs.close()
    return Worker(number, process, ours)


def _await_ready(workers: list[Worker], timeout: float, stopping: list[int]) -> None:
    """Wait for every worker's ``ready``; a worker that ends first fails the start."""
    waiting = {w.lifeline.fileno(): w for w in workers}
    deadline = time.monotonic() + timeout
    while waiting and not stopping:
        left = deadline - time.monotonic()
        if left <= 0:
            names = ", ".join(w.name for w in waiting.values())
            raise PoolError(f"{names} did not listen within {timeout:.0f} s")
        readable, _, _ = select.select(list(waiting), [], [], min(left, 0.5))
        for fd in readable:
            worker = waiting.pop(fd)
            if worker.lifeline.recv(len(READY)) != READY:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    worker.process.wait(timeout=STOP_GRACE_SECONDS)
                code = worker.process.returncode
                raise PoolError(f"{worker.name} exited with code {code} before it listened")


def _stop(workers: list[Worker], grace: float) -> list[int]:
    """SIGTERM every worker still running, SIGKILL what outlives ``grace``; exit codes."""
    for worker in workers:
        if worker.process.poll() is None:
            worker.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    codes = []
    for worker in workers:
        try:
            codes.append(worker.process.wait(timeout=max(deadline - time.monotonic(), 0.1)))
        except subprocess.TimeoutExpired:
            log.warning("%s did not stop within %.0f s: killing it", worker.name, grace)
            worker.process.kill()
            codes.append(worker.process.wait())
        worker.lifeline.close()
    return codes


def run_pool(settings: Settings, count: int) -> int:
    """Serve the read API from ``count`` processes until SIGTERM/SIGINT; the exit code."""
    try:
        check_port_free(settings.api_host, settings.api_port)
    except PoolError as exc:
        print(f"lmp-billing api: {exc}", file=sys.stderr)
        return 1
    stopping: list[int] = []

    def stop(signum: int, _frame: FrameType | None) -> None:
        stopping.append(signum)

    previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    metrics_dir = tempfile.mkdtemp(prefix="lmp-api-metrics-")
    workers: list[Worker] = []
    try:
        workers = [_start(n, settings, metrics_dir) for n in range(1, count + 1)]
        _await_ready(workers, START_TIMEOUT_SECONDS, stopping)
        if not stopping:
            log.info(
                "read API on http://%s:%d: %d workers (pids %s)",
                settings.api_host,
                settings.api_port,
                count,
                ", ".join(str(w.process.pid) for w in workers),
            )
        ended = _watch(workers, stopping)
        if ended is not None:
            code = ended.process.returncode
            raise PoolError(f"{ended.name} exited with code {code}; stopping the others")
        codes = _stop(workers, STOP_GRACE_SECONDS)
    except (PoolError, OSError) as exc:
        print(f"lmp-billing api: {exc}", file=sys.stderr)
        _stop(workers, STOP_GRACE_SECONDS)
        return 1
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    # A worker the signal reached before it could catch it ends by it: stopped as asked.
    failed = [(w, c) for w, c in zip(workers, codes, strict=True) if c not in (0, -signal.SIGTERM)]
    for worker, code in failed:
        print(f"lmp-billing api: {worker.name} stopped with code {code}", file=sys.stderr)
    return 1 if failed else 0


def _watch(workers: list[Worker], stopping: list[int]) -> Worker | None:
    """Wait for a signal (None) or for a worker to end on its own (that worker)."""
    while not stopping:
        for worker in workers:
            if worker.process.poll() is not None:
                return None if stopping else worker
        time.sleep(0.2)
    return None
