"""The ingestion benchmark's rounds: the rows show the median run, never a best one."""

from __future__ import annotations

import pytest

from benchmarks.bench_ingestion import Run, median_run

pytestmark = pytest.mark.unit


def run(seconds: float) -> Run:
    return Run(seconds, 0.0, {})


def test_one_round_is_that_run() -> None:
    assert median_run([run(9.0)]).seconds == 9.0


def test_the_middle_run_of_an_odd_count() -> None:
    assert median_run([run(11.0), run(8.0), run(9.5)]).seconds == 9.5


def test_the_lower_middle_run_of_an_even_count() -> None:
    assert median_run([run(10.0), run(8.0), run(9.0), run(12.0)]).seconds == 9.0
