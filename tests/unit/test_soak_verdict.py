"""The soak's verdict from its rows alone (benchmarks/soak_support.py): RSS growth per
process incarnation after its warm-up, the lag's return after each kill, the counts; and
the CSV those rows are written to and read back from."""

from __future__ import annotations

import io
import math
from pathlib import Path

import pytest

from benchmarks.soak_support import (
    CSV_HEADER,
    CsvLog,
    Row,
    csv_fields,
    read_rows,
    recovered,
    rss_growth,
    time_lag,
    verdict,
)
from tests.faults.ledger import Counts

pytestmark = pytest.mark.unit

MINUTE = 60.0


def rss(subject: str, pid: int, mib_by_minute: list[float], start: int = 0) -> list[Row]:
    """One sample a minute from minute ``start``."""
    return [
        Row((start + n) * MINUTE, "rss_mib", subject, pid, mib)
        for n, mib in enumerate(mib_by_minute)
    ]


def kill(subject: str, old: int, new: int, at_minute: float, seconds: float) -> list[Row]:
    at = at_minute * MINUTE
    return [
        Row(at, "kill", subject, old, 0),
        Row(at + 0.1, "restart", subject, new, old),
        Row(at + seconds, "lag_before_kill_s", subject, old, 2.0),
        Row(at + seconds, "recovery_s", subject, old, seconds),
    ]


def sound() -> Counts:
    return Counts(sent=100, applied=95, refused=5)


def test_a_row_is_five_fields_in_the_header_order_and_reads_back(tmp_path: Path) -> None:
    rows = [
        Row(30.04, "rss_mib", "usage", 4242, 123.456),
        Row(30.0, "lag", "usage", None, 1500),
        Row(61.0, "recovery_s", "usage", 4242, math.nan),
    ]
    assert csv_fields(rows[0]) == ["30.0", "rss_mib", "usage", "4242", "123.46"]
    assert csv_fields(rows[1])[3] == ""
    assert csv_fields(rows[2])[4] == "nan"
    path = tmp_path / "soak.csv"
    with path.open("w", newline="") as stream:
        CsvLog(stream).add(*rows)
    assert path.read_text().splitlines()[0] == ",".join(CSV_HEADER)
    back = read_rows(path)
    assert [(r.metric, r.subject, r.pid) for r in back] == [
        (r.metric, r.subject, r.pid) for r in rows
    ]
    assert back[0].value == pytest.approx(123.46)
    assert math.isnan(back[2].value)


def test_each_row_is_flushed_as_it_is_added() -> None:
    class Counting(io.StringIO):
        flushes = 0

        def flush(self) -> None:
            self.flushes += 1
            super().flush()

    stream = Counting()
    log = CsvLog(stream)
    log.add(Row(0, "lag", "usage", None, 0))
    log.add(Row(1, "lag", "usage", None, 0))
    assert stream.flushes == 2
    assert len(stream.getvalue().splitlines()) == 3


def test_growth_compares_the_first_and_last_quarter_medians_after_the_warm_up() -> None:
    rows = rss("api", 10, [50, 60, 100, 101, 100, 102, 104, 110, 110, 111])
    (growth,) = rss_growth(rows, warmup_s=2 * MINUTE)
    assert (growth.samples, growth.first_s, growth.last_s) == (8, 2 * MINUTE, 9 * MINUTE)
    assert (growth.start_mib, growth.end_mib) == (100.5, 110.5)
    assert growth.percent == pytest.approx(9.95, abs=0.01)
    assert growth.judged


def test_a_restarted_process_warms_up_again_and_each_incarnation_is_judged_alone() -> None:
    rows = rss("usage", 1, [90, 100, 100, 100, 100, 100])
    rows += kill("usage", 1, 2, 6, 5.0)
    rows += rss("usage", 2, [60, 80, 100, 100, 100, 100, 100], start=6)
    found = {g.pid: g for g in rss_growth(rows, warmup_s=2 * MINUTE)}
    assert found[1].first_s == 2 * MINUTE
    assert found[2].first_s == 9 * MINUTE  # from the restart (6 min 0.1 s) plus the warm-up
    assert found[2].percent == 0
    assert verdict(rows, sound(), warmup_s=2 * MINUTE).passed


def test_too_few_samples_or_a_server_are_shown_but_not_judged() -> None:
    rows = rss("accounts", 3, [100, 100, 100, 200, 300])
    rows += rss("secantusd", 4, [100, 150, 200, 250, 300, 350])
    judged = verdict(rows, sound(), warmup_s=2 * MINUTE)
    assert [(g.subject, g.judged) for g in judged.growth] == [
        ("accounts", False),
        ("secantusd", False),
    ]
    assert judged.passed
    assert "(a server: shown, not judged)" in "\n".join(judged.lines())


def test_rss_growing_past_the_limit_fails() -> None:
    rows = rss("partner-actions", 5, [100, 100, 100, 105, 110, 115, 120, 125])
    judged = verdict(rows, sound(), warmup_s=MINUTE)
    assert not judged.passed
    assert judged.failures() == ["RSS of partner-actions (pid 5) grew 22.5 % > 10 %"]
    assert judged.lines()[-1].startswith("FAIL: RSS of partner-actions")


def test_a_slow_or_missing_recovery_after_a_kill_fails() -> None:
    quick = kill("usage", 1, 2, 10, 12.5)
    assert verdict(quick, sound(), warmup_s=0).passed
    slow = kill("accounts", 3, 4, 20, 31.0)
    never = kill("partner-actions", 5, 6, 30, math.nan)
    judged = verdict(quick + slow + never, sound(), warmup_s=0)
    assert [r.processor for r in judged.recoveries] == ["usage", "accounts", "partner-actions"]
    assert judged.failures() == [
        "accounts killed at 1200 s: lag not back to 0 within 30 s (31.0 s)",
        "partner-actions killed at 1800 s: lag not back to 0 within 30 s (never)",
    ]
    assert "  slowest: never" in judged.lines()


@pytest.mark.parametrize("field", ["lost", "contradictory", "duplicate_id_different_payload"])
def test_anything_lost_or_contradictory_fails(field: str) -> None:
    counts = sound()
    setattr(counts, field, 1)
    judged = verdict([], counts, warmup_s=0)
    assert judged.failures() == [f"{field}=1"]
    assert f" {field}=1" in judged.lines()[-2]


def test_an_undrained_end_or_a_process_that_died_on_its_own_fails() -> None:
    assert verdict([], sound(), warmup_s=0, drained=False).failures() == [
        "the groups' lag or the outbox did not drain at the end"
    ]
    assert verdict([], sound(), warmup_s=0, died=["api"]).failures() == ["api exited on its own"]


def test_the_counts_line_is_the_fault_suites() -> None:
    lines = verdict([], sound(), warmup_s=0).lines()
    assert lines[-2] == (
        "[soak] sent=100 applied=95 refused=5 dead_lettered=0 lost=0 contradictory=0 "
        "duplicate_id_different_payload=0"
    )
    assert lines[-1] == "PASS"


def test_time_lag_is_the_age_of_the_oldest_record_not_committed() -> None:
    ends = [(0.0, {0: 10, 1: 5}), (1.0, {0: 20, 1: 5}), (2.0, {0: 30, 1: 8})]
    assert time_lag(ends, {0: 30, 1: 8}, now=2.0) == 0
    assert time_lag(ends, {0: 15, 1: 8}, now=2.0) == 1.0  # offset 15 appeared by t=1
    assert time_lag(ends, {0: 30, 1: 5}, now=2.0) == 0.0  # partition 1's record just came
    assert time_lag(ends, {0: 5, 1: 8}, now=2.0) == 2.0  # older than the polls: at least


def test_recovered_needs_the_new_process_to_commit_and_the_lag_back_to_its_level() -> None:
    at_kill = {0: 100}
    ends = [(0.0, {0: 100}), (1.0, {0: 150}), (2.0, {0: 200}), (3.0, {0: 250})]
    assert not recovered(ends, {0: 100}, at_kill, now=3.0, before_kill_s=0)  # nothing yet
    assert not recovered(ends, {0: 140}, at_kill, now=3.0, before_kill_s=0)  # 2 s behind
    assert recovered(ends, {0: 160}, at_kill, now=3.0, before_kill_s=0)  # 1 s: the floor
    assert recovered(ends, {0: 250}, at_kill, now=3.0, before_kill_s=0)  # exactly 0
    assert not recovered(ends, {0: 120}, at_kill, now=3.0, before_kill_s=1.5)
    assert recovered(ends, {0: 120}, at_kill, now=3.0, before_kill_s=2.5)
    quiet = [(0.0, {0: 100}), (2.0, {0: 100})]
    assert recovered(quiet, {0: 100}, at_kill, now=2.0, before_kill_s=0)  # nothing was sent
