"""Every benchmark still imports: they are run by hand, so a renamed helper would
otherwise break one silently (nothing else loads them)."""

from __future__ import annotations

import importlib

import pytest

from services.settings import PROJECT_ROOT

pytestmark = pytest.mark.unit

BENCHMARKS = sorted(
    p.stem for p in (PROJECT_ROOT / "benchmarks").glob("*.py") if p.stem != "__init__"
)


@pytest.mark.parametrize("name", BENCHMARKS)
def test_the_benchmark_imports(name: str) -> None:
    importlib.import_module(f"benchmarks.{name}")
