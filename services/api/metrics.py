"""Prometheus metrics: processors' counters, reports per status, consumer lag, the API.

Processors run as separate processes and flush their counters to the database, so one
scrape of the API shows the whole system; gauges are read at scrape time.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from services.adapters.counters import (
    AUTO_SUBMITTED,
    DEAD_LETTERED,
    DEAD_LETTERS_LOST,
    PROCESSED,
    RECEIPTS_PURGED,
    REFUSED,
    REMINDERS_SENT,
    REPORTS_PURGED,
    TIMER_RUNS,
    TIMER_SKIPPED,
)
from services.adapters.kafka_probes import LagRow
from services.adapters.store import StoreProtocol
from services.api.workers import MULTIPROCESS_DIR

log = logging.getLogger(__name__)

TOTALS_VAR = "LMP_API_EXPORT_TOTALS"

_MESSAGE_OUTCOMES = {PROCESSED, REFUSED, DEAD_LETTERED, DEAD_LETTERS_LOST}
_TIMER_COUNTERS = {
    TIMER_RUNS: ("lmp_timer_runs", "Passes of the deadline timer"),
    AUTO_SUBMITTED: ("lmp_reports_auto_submitted", "Reports submitted by the timer"),
    REMINDERS_SENT: ("lmp_reminders_sent", "Deadline reminders published"),
    TIMER_SKIPPED: ("lmp_timer_skipped_reports", "Reports a timer pass could not process"),
    REPORTS_PURGED: ("lmp_reports_purged", "Reports deleted after their retention"),
    RECEIPTS_PURGED: ("lmp_receipts_purged", "Message receipts forgotten after their horizon"),
}


class _Snapshot(Collector):
    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterable[Metric]:
        return self._families


class ApiMetrics:
    """The API's own request counter and latency histogram, and requests per worker.

    Under ``--workers`` (prometheus_client's multiprocess mode: ``PROMETHEUS_MULTIPROC_DIR``
    set) each worker writes its counts to that directory and a scrape of any worker sums
    them; ``lmp_api_worker_requests_total`` keeps one series per worker's pid.
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.worker = str(os.getpid())
        self.worker_requests = Counter(
            "lmp_api_worker_requests",
            "Read API requests answered, by the worker process's pid",
            ["pid"],
            registry=self.registry,
        )
        self.requests = Counter(
            "lmp_api_requests",
            "Read API requests by route and answer",
            ["route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "lmp_api_request_seconds",
            "Read API latency by route",
            ["route"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )


def totals_exported(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether this API instance serves the database-backed totals (``LMP_API_EXPORT_TOTALS``,
    default on): with several API replicas, exactly one should (docs/observability.md)."""
    return environ.get(TOTALS_VAR, "1").strip().lower() not in ("0", "false", "no", "off")


async def render(
    store: StoreProtocol, lag: Callable[[], Awaitable[list[LagRow]]], api: ApiMetrics
) -> bytes:
    if not totals_exported():  # the totals are served once, not by every replica
        return generate_latest(_api_registry(api))
    counters, by_status, lag_rows = await asyncio.gather(
        store.load_counters(), store.count_reports_by_status(), _lag_or_nothing(lag)
    )
    registry = CollectorRegistry()
    registry.register(_Snapshot(_families(counters, by_status, lag_rows)))
    return generate_latest(registry) + generate_latest(_api_registry(api))


def _api_registry(api: ApiMetrics) -> CollectorRegistry:
    """This process's metrics, or every worker's summed when they share a directory."""
    if MULTIPROCESS_DIR not in os.environ:
        return api.registry
    registry = CollectorRegistry()
    MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return registry


async def _lag_or_nothing(lag: Callable[[], Awaitable[list[LagRow]]]) -> list[LagRow] | None:
    try:
        return await asyncio.wait_for(lag(), timeout=5)
    except Exception as exc:
        log.warning("consumer lag unavailable: %r", exc)
        return None


def _families(
    counters: list[dict[str, Any]],
    by_status: dict[tuple[str, str | None], int],
    lag_rows: list[LagRow] | None,
) -> list[Metric]:
    messages = CounterMetricFamily(
        "lmp_messages",
        "Messages handled, by processor, topic and outcome "
        "(processed, refused, dead_lettered, dead_letters_lost)",
        labels=["processor", "topic", "outcome"],
    )
    timer = {
        name: CounterMetricFamily(metric, text, labels=["processor"])
        for name, (metric, text) in _TIMER_COUNTERS.items()
    }
    for doc in counters:
        name, value = doc["name"], float(doc["value"])
        if name in _MESSAGE_OUTCOMES:
            messages.add_metric([doc["processor"], doc["topic"], name], value)
        elif name in timer:
            timer[name].add_metric([doc["processor"]], value)
    reports = GaugeMetricFamily(
        "lmp_reports", "Reports by status and submission kind", labels=["status", "submission_kind"]
    )
    for (status, kind), count in sorted(
        by_status.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")
    ):
        reports.add_metric([status, kind or ""], float(count))
    families: list[Metric] = [messages, *timer.values(), reports]
    if lag_rows is not None:
        lag = GaugeMetricFamily(
            "lmp_consumer_lag",
            "Messages not yet consumed, by group and topic",
            labels=["group", "topic"],
        )
        for group, topic, behind in lag_rows:
            lag.add_metric([group, topic], float(behind))
        families.append(lag)
    return families
