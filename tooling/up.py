"""``lmp-billing up``: the embedded servers plus every processor and the read API, each its
own process, restarted when it exits, until Ctrl-C."""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from types import FrameType

from services import bootstrap
from services.adapters.catalogue import ensure_topics
from services.processors import registry
from tooling import metrics_ports
from tooling.infra.local import LocalInfra
from tooling.infra.process import ManagedProcess, stop_all, tail


def up(instances: int, keep_servers: bool) -> int:
    """Embedded servers plus every processor as its own process, until Ctrl-C."""
    settings = bootstrap.settings()
    infra = LocalInfra.from_settings(settings)
    print("starting servers (the first start fetches Kafka from Maven Central)...", flush=True)
    infra.up()
    catalogue = bootstrap.catalogue(infra.settings(settings))
    asyncio.run(ensure_topics(catalogue, infra.bootstrap_servers))
    logs = settings.home / "logs"
    handles = [
        (name, n, name if instances == 1 else f"{name}-{n}")
        for name in registry()
        for n in range(instances)
    ]
    ports = metrics_ports.assign([handle for _, _, handle in handles])
    processors = [
        ManagedProcess(
            name=handle,
            argv=[sys.executable, "-m", "services.cli", "process", name],
            log_path=logs / f"{handle}.log",
            pid_path=settings.home / "run" / f"{handle}.pid",
            # A static group member: restarted after a crash, it takes its partitions
            # back at once instead of after the session timeout.
            env={
                **infra.environment(),
                "LMP_INSTANCE_ID": f"{settings.instance_id}{n}",
                metrics_ports.VAR: str(ports[handle]),
            },
        )
        for name, n, handle in handles
    ]
    processors.append(
        ManagedProcess(
            name="api",
            argv=[sys.executable, "-m", "services.cli", "api"],
            log_path=logs / "api.log",
            pid_path=settings.home / "run" / "api.pid",
            env=infra.environment(),
        )
    )
    for proc in processors:
        proc.stop()
        proc.start()
    for name, state, where in infra.status():
        print(f"{name:22} {state:9} {where}")
    for proc in processors:
        port = ports.get(proc.name)
        metrics = f" metrics http://127.0.0.1:{port}/metrics (/ready)" if port else ""
        print(f"process {proc.name:22} pid {proc.pid():<8} log {proc.log_path}{metrics}")
    print(
        f"read API on http://{settings.api_host}:{settings.api_port} (OpenAPI at /openapi.json); "
        "create a key with `lmp-billing keys create`, play a month with `lmp-billing demo`",
        flush=True,
    )
    print("publish CloudEvents to the topics in topics.yaml; Ctrl-C stops everything.", flush=True)

    stopping = False

    def stop(_signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        while not stopping:
            for proc in processors:
                if not proc.running() and not stopping:
                    print(
                        f"processor {proc.name} exited; restarting. Last lines:\n"
                        f"{tail(proc.log_path, 15)}",
                        flush=True,
                    )
                    proc.start()
            time.sleep(1)
    finally:
        print("stopping...", flush=True)
        stop_all(processors)
        if not keep_servers:
            infra.down()
    return 0
