"""What tracing costs a batch in CPU, in process, in three modes by turns (i19).

The whole batch path (batch runner, handler, unit of work, in-memory store, outbox relay
to a producer that keeps nothing) on usage batches and on action batches, in three
modes by turns, several rounds: tracing hooks absent (each replaced by the cheapest
stand-in: a shared null context, an empty dict, nothing; the code as it would be
without tracing), tracing off (the default: each hook checks that no tracer is installed
and returns), and tracing on (every span recorded, batched and dropped:
``OTEL_TRACES_EXPORTER=lmp-drop``). It prints the median CPU seconds per batch of each
(this process's CPU time, so that other work on the machine moves the figure less than
wall time would) and the ratios off/absent and on/off.
No servers: the end-to-end benchmarks (``--tracing both``) are dominated by the broker
and the database, and on a loaded machine by noise; this isolates the CPU tracing adds.

    .venv/bin/python -m benchmarks.bench_tracing_overhead --rounds 5
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, nullcontext
from typing import Any
from unittest import mock

from opentelemetry.sdk.trace.export import BatchSpanProcessor

from services.observability import tracing
from services.processors import accounts, actions, pricing, usage
from services.runtime.batch_runner import BatchRunner
from tests.builders import Record, action, partner_account, price
from tests.builders import usage as usage_record
from tests.fakes import Shell


def traced(record: Record, n: int) -> Record:
    key, value = record
    assert value is not None
    event = json.loads(value)
    event["traceparent"] = f"00-{n:032x}-{n + 1:016x}-01"
    return key, json.dumps(event).encode()


async def one_round(batch_size: int, kind: str) -> float:
    shell = Shell()
    shell.producer.sent = _Nothing()  # type: ignore[assignment]
    partners = [f"P{i}" for i in range(batch_size // 4 or 1)]
    for spec, records in (
        (accounts.PROCESSOR, [partner_account(p) for p in partners]),
        (pricing.PROCESSOR, [price("AV")]),
    ):
        runtime = shell.runtime(spec.name)
        await spec.create(runtime).handle([shell.message(spec.topics[0], r) for r in records])
    if kind == "usage":
        spec = usage.PROCESSOR
        records = [
            traced(
                usage_record(
                    partners[i % len(partners)], sub=f"s{i}", provisioned=10, used=4, id_=f"u{i}"
                ),
                i + 1,
            )
            for i in range(batch_size)
        ]
    else:
        runtime = shell.runtime("usage")
        await usage.PROCESSOR.create(runtime).handle(
            [
                shell.message(
                    "lmp.usage.v1", usage_record(p, sub="s1", provisioned=10, used=4, id_=f"u-{p}")
                )
                for p in partners
            ]
        )
        spec = actions.PARTNER_ACTIONS
        records = [
            traced(
                action("lmp.partner.draft-saved", p, p, id_=f"a{i}-{p}", lines=[]),
                i + 1,
            )
            for i, p in enumerate(partners)
        ]
    runtime = shell.runtime(spec.name)
    runner = BatchRunner(runtime, spec.create(runtime))
    batch = [shell.message(spec.topics[0], r) for r in records]
    started = time.process_time()
    await runner.run(batch)
    return time.process_time() - started


class _Nothing(list):  # type: ignore[type-arg]
    def append(self, _: object) -> None:
        pass


_NULL = nullcontext()


def _nothing(*_: Any, **__: Any) -> None:
    return None


HOOKS_ABSENT: dict[str, Callable[..., Any]] = {
    "batch": lambda *_, **__: _NULL,
    "stage": lambda *_, **__: _NULL,
    "root": lambda *_, **__: _NULL,
    "record": lambda *_, **__: _NULL,
    "reports": lambda *_, **__: _NULL,
    "decide": lambda *_, **__: _NULL,
    "interval": _nothing,
    "replayed": _nothing,
    "message_context": _nothing,
    "traceparent": lambda: {},
}
"""Every hook the batch path calls, as cheap as it can be: the code without tracing."""


@contextmanager
def hooks_absent() -> Iterator[None]:
    with ExitStack() as stack:
        for name, stand_in in HOOKS_ABSENT.items():
            stack.enter_context(mock.patch.object(tracing, name, stand_in))
        yield


MODES = ("absent", "off", "on")


def measure(rounds: int, batch_size: int, kind: str) -> dict[str, list[float]]:
    seconds: dict[str, list[float]] = {mode: [] for mode in MODES}
    switch: dict[str, Callable[[], None]] = {
        "absent": tracing.uninstall,
        "off": tracing.uninstall,
        "on": lambda: tracing.install(BatchSpanProcessor(tracing.dropping()), "bench") and None,
    }
    for n in range(rounds):
        for mode in MODES[n % 3 :] + MODES[: n % 3]:  # each mode first by turns
            switch[mode]()
            with hooks_absent() if mode == "absent" else nullcontext():
                seconds[mode].append(asyncio.run(one_round(batch_size, kind)))
    tracing.uninstall()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--usage-batch", type=int, default=2000)
    parser.add_argument("--action-batch", type=int, default=200)
    args = parser.parse_args()
    for kind, size in (("usage", args.usage_batch), ("actions", args.action_batch)):
        seconds = measure(args.rounds, size, kind)
        absent, off, on = (statistics.median(seconds[m]) for m in MODES)
        print(
            f"{kind:8} batch of {size:5}: absent {absent * 1000:7.1f} ms  "
            f"off {off * 1000:7.1f} ms  on {on * 1000:7.1f} ms  "
            f"off/absent {off / absent:.3f} ({(off - absent) / size * 1e6:+.1f} us per record)  "
            f"on/off {on / off:.2f} ({(on - off) / size * 1e6:+.0f} us per record)"
        )


if __name__ == "__main__":
    main()
