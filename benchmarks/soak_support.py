"""The soak's pure parts: its CSV rows, when a restarted consumer has caught up, and the
verdict computed from the rows alone (so a CSV kept from a run can be judged again).

One row is one observation: ``elapsed_s`` since the load began, a ``metric``, its
``subject`` (a process, a consumer group, the database), the process id where one is
meant, and the value. Metrics:

- ``rss_mib`` (subject a process, pid its incarnation), ``lag`` (a processor's consumer
  group: end minus committed offsets), ``outbox_backlog`` (events written, not yet
  published), ``db_data_mib`` (dbStats' dataSize), ``db_disk_mib`` (the server's files);
- ``kill`` (pid the one killed), ``restart`` (pid the new one; value the old pid),
  ``lag_before_kill_s`` (the group's longest time lag in the seconds before the kill),
  ``recovery_s`` (seconds from a kill to the group back to it; NaN: not within the bound);
  these three name the killed pid.
"""

from __future__ import annotations

import csv
import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import NamedTuple, TextIO

from tests.faults.ledger import Counts

CSV_HEADER = ("elapsed_s", "metric", "subject", "pid", "value")
SERVERS = frozenset({"kafka", "secantusd"})
"""Sampled and plotted, not judged: their caches are sized by their own settings."""
MIN_SAMPLES = 4
"""An incarnation judged on fewer samples after its warm-up says nothing of a trend."""
CAUGHT_UP_SECONDS = 1.0
"""The least time lag counted as caught up: the polls' resolution and then some."""


class Row(NamedTuple):
    elapsed_s: float
    metric: str
    subject: str
    pid: int | None
    value: float


def csv_fields(row: Row) -> list[str]:
    """A row as the CSV holds it: seconds to 0.1, values to 0.01, no pid as empty."""
    return [
        f"{row.elapsed_s:.1f}",
        row.metric,
        row.subject,
        "" if row.pid is None else str(row.pid),
        f"{row.value:.2f}" if math.isfinite(row.value) else "nan",
    ]


class CsvLog:
    """Rows appended and flushed as they come: a run that crashes still leaves its data."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.writer = csv.writer(stream)
        self.writer.writerow(CSV_HEADER)
        self.rows: list[Row] = []

    def add(self, *rows: Row) -> None:
        for row in rows:
            self.writer.writerow(csv_fields(row))
            self.rows.append(row)
        self.stream.flush()


def read_rows(path: Path) -> list[Row]:
    with path.open(newline="") as stream:
        return [
            Row(
                float(r["elapsed_s"]),
                r["metric"],
                r["subject"],
                int(r["pid"]) if r["pid"] else None,
                float(r["value"]),
            )
            for r in csv.DictReader(stream)
        ]


Ends = Sequence[tuple[float, Mapping[int, int]]]
"""End offsets by partition, polled at the times given, oldest first."""


def time_lag(ends: Ends, committed: Mapping[int, int], now: float) -> float:
    """Seconds the oldest record not yet committed has waited (to the polls' resolution):
    on each partition, since the first poll whose end offset passed the committed one."""
    if not ends:
        return math.nan
    oldest = now
    latest = ends[-1][1]
    for partition, end in latest.items():
        done = committed.get(partition, 0)
        if done >= end:
            continue
        first = next((at for at, snapshot in ends if snapshot.get(partition, 0) > done), now)
        oldest = min(oldest, first)
    return now - oldest


def recovered(
    ends: Ends,
    committed: Mapping[int, int],
    committed_at_kill: Mapping[int, int],
    now: float,
    before_kill_s: float,
) -> bool:
    """Whether a group is back to lag 0 after a kill: the new process has committed (not
    only the dead one's last commit stands) and the oldest record waiting is no older
    than the oldest one waited before the kill (``before_kill_s``, at least
    ``CAUGHT_UP_SECONDS``). Under steady load a group is never at 0 records: a usage
    batch gathers for up to a second while the one before it is applied."""
    moved = sum(committed.values()) > sum(committed_at_kill.values())
    nothing_new = ends[-1][1] == committed_at_kill if ends else False
    threshold = max(before_kill_s, CAUGHT_UP_SECONDS)
    return (moved or nothing_new) and time_lag(ends, committed, now) <= threshold


@dataclass(frozen=True)
class Growth:
    """RSS of one process incarnation after its own warm-up: first vs last quarter median."""

    subject: str
    pid: int | None
    first_s: float
    last_s: float
    samples: int
    start_mib: float
    end_mib: float

    @property
    def judged(self) -> bool:
        return self.samples >= MIN_SAMPLES and self.subject not in SERVERS

    @property
    def percent(self) -> float:
        return (self.end_mib / self.start_mib - 1) * 100 if self.start_mib else math.nan


def rss_growth(rows: Iterable[Row], warmup_s: float) -> list[Growth]:
    """Each incarnation's samples from its start plus the warm-up on (a restarted
    process warms up again: its imports and caches are new); the median of the first
    quarter of them against that of the last quarter."""
    rows = list(rows)
    started = {(r.subject, r.pid): r.elapsed_s for r in rows if r.metric == "restart"}
    series: dict[tuple[str, int | None], list[Row]] = {}
    for r in rows:
        if r.metric == "rss_mib" and r.elapsed_s >= started.get((r.subject, r.pid), 0) + warmup_s:
            series.setdefault((r.subject, r.pid), []).append(r)
    found = []
    for (subject, pid), samples in series.items():
        quarter = max(1, math.ceil(len(samples) / 4))
        found.append(
            Growth(
                subject,
                pid,
                samples[0].elapsed_s,
                samples[-1].elapsed_s,
                len(samples),
                statistics.median(r.value for r in samples[:quarter]),
                statistics.median(r.value for r in samples[-quarter:]),
            )
        )
    return sorted(found, key=lambda g: (g.subject, g.first_s))


@dataclass(frozen=True)
class Recovery:
    """One kill -9: when, of which processor, its group's usual time lag just before, and
    the seconds from the kill until the group was back to it (NaN: not within the bound)."""

    at_s: float
    processor: str
    before_kill_s: float
    seconds: float


@dataclass
class Verdict:
    growth: list[Growth]
    recoveries: list[Recovery]
    counts: Counts
    rss_limit_percent: float
    recovery_limit_s: float
    drained: bool
    """At the end, every group's lag 0 and no outbox left, within the bound."""
    died: list[str] = field(default_factory=list)
    """Processes that exited without being killed."""

    def failures(self) -> list[str]:
        limit = self.rss_limit_percent
        out = [
            f"RSS of {g.subject} (pid {g.pid}) grew {g.percent:.1f} % > {limit:g} %"
            for g in self.growth
            if g.judged and not g.percent <= self.rss_limit_percent
        ]
        out += [
            f"{r.processor} killed at {r.at_s:.0f} s: lag not back to 0 within "
            f"{self.recovery_limit_s:g} s ({_seconds(r.seconds)})"
            for r in self.recoveries
            if not r.seconds <= self.recovery_limit_s
        ]
        c = self.counts
        for name in ("lost", "contradictory", "duplicate_id_different_payload"):
            if getattr(c, name):
                out.append(f"{name}={getattr(c, name)}")
        if not self.drained:
            out.append("the groups' lag or the outbox did not drain at the end")
        out += [f"{name} exited on its own" for name in self.died]
        return out

    @property
    def passed(self) -> bool:
        return not self.failures()

    def lines(self) -> list[str]:
        """What is printed and written: the figures, then PASS or FAIL with the reasons."""
        out = ["RSS after warm-up, median of the first quarter of samples -> of the last:"]
        for g in self.growth:
            out.append(
                f"  {g.subject:20} pid {g.pid or '-':>7}  "
                f"{g.first_s / 60:5.1f}-{g.last_s / 60:5.1f} min  "
                f"{g.start_mib:7.1f} -> {g.end_mib:7.1f} MiB  {g.percent:+6.1f} %{_note(g)}"
            )
        out.append(
            f"lag back to 0 after each kill -9 (limit {self.recovery_limit_s:g} s): the oldest "
            "record waiting no older than before the kill (at least 1 s)"
        )
        for r in self.recoveries:
            out.append(
                f"  {r.at_s / 60:5.1f} min  {r.processor:20} {_seconds(r.seconds):>8} after the "
                f"kill (waited {r.before_kill_s:.1f} s before it)"
            )
        times = [r.seconds for r in self.recoveries]
        out.append(f"  slowest: {_seconds(max(times, key=_nan_last)) if times else 'no kill'}")
        out.append(counts_line(self.counts))
        failures = self.failures()
        out.append("PASS" if not failures else "FAIL: " + "; ".join(failures))
        return out


def _seconds(value: float) -> str:
    return "never" if math.isnan(value) else f"{value:.1f} s"


def _nan_last(value: float) -> float:
    """Ordering key: NaN (never recovered) above every time."""
    return math.inf if math.isnan(value) else value


def _note(g: Growth) -> str:
    if g.judged:
        return ""
    if g.subject in SERVERS:
        return "  (a server: shown, not judged)"
    return f"  (not judged: {g.samples} samples)"


def counts_line(counts: Counts) -> str:
    """The fault suite's counts, in its words."""
    return "[soak] " + " ".join(f"{f.name}={getattr(counts, f.name)}" for f in fields(counts))


def verdict(
    rows: Iterable[Row],
    counts: Counts,
    *,
    warmup_s: float,
    rss_limit_percent: float = 10.0,
    recovery_limit_s: float = 30.0,
    drained: bool = True,
    died: Sequence[str] = (),
) -> Verdict:
    rows = list(rows)
    kills = {(r.subject, r.pid): r.elapsed_s for r in rows if r.metric == "kill"}
    before = {(r.subject, r.pid): r.value for r in rows if r.metric == "lag_before_kill_s"}
    recoveries = sorted(
        (
            Recovery(
                kills.get((r.subject, r.pid), r.elapsed_s),
                r.subject,
                before.get((r.subject, r.pid), math.nan),
                r.value,
            )
            for r in rows
            if r.metric == "recovery_s"
        ),
        key=lambda r: r.at_s,
    )
    return Verdict(
        rss_growth(rows, warmup_s),
        recoveries,
        counts,
        rss_limit_percent,
        recovery_limit_s,
        drained,
        list(died),
    )


PANELS = (
    ("rss_mib", "RSS (MiB)"),
    ("lag", "consumer lag (records)"),
    ("outbox_backlog", "outbox backlog (events)"),
    ("db", "database (MiB)"),
)
DB_SERIES = {"db_data_mib": "data (dbStats)", "db_disk_mib": "files on disk"}


def plot(rows: Sequence[Row], path: Path, warmup_s: float, title: str) -> None:
    """One PNG, a panel a series kind, one line a subject; kills as vertical lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(len(PANELS), 1, figsize=(13, 12), sharex=True)
    subjects = sorted({r.subject for r in rows if r.metric in ("rss_mib", "lag", "outbox_backlog")})
    subjects += DB_SERIES.values()
    colour = {name: f"C{n % 10}" for n, name in enumerate(subjects)}  # one per process
    kills = [(r.elapsed_s / 60, r.subject) for r in rows if r.metric == "kill"]
    for ax, (metric, label) in zip(axes, PANELS, strict=True):
        lines: dict[str, list[tuple[float, float]]] = {}
        for r in rows:
            if r.metric == metric or (metric == "db" and r.metric in DB_SERIES):
                name = r.subject if metric != "db" else DB_SERIES[r.metric]
                lines.setdefault(name, []).append((r.elapsed_s / 60, r.value))
        for name, points in sorted(lines.items()):
            points.sort()
            style = "--" if name in SERVERS else "-"
            xs, ys = [x for x, _ in points], [y for _, y in points]
            ax.plot(xs, ys, style, label=name, lw=1.2, color=colour[name])
        if metric == "lag":
            ax.set_yscale("symlog", linthresh=10)
        ax.set_ylabel(label)
        ax.axvspan(0, warmup_s / 60, color="0.92", zorder=0)
        for at, _name in kills:
            ax.axvline(at, color="black", linestyle=":", linewidth=1.0)
        ax.grid(alpha=0.3)
        if lines:
            ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    top = axes[0]
    for at, name in kills:
        top.annotate(
            f"kill -9 {name}",
            (at, 1.0),
            xycoords=("data", "axes fraction"),
            rotation=90,
            va="top",
            ha="right",
            fontsize=7,
            color="black",
        )
    axes[-1].set_xlabel("minutes since the load began (grey: warm-up; dashed: servers)")
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
