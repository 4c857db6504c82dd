"""What tests share lives in modules of its own (tests/builders.py, tests/faults/support.py,
...): no test module imports another, so running, moving or deleting one never changes
another's behaviour."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

TESTS = Path(__file__).resolve().parents[1]


def imported_test_modules(path: Path) -> list[str]:
    """Every ``tests.…test_x`` module ``path`` imports, however it is spelled."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.ImportFrom):  # relative: from . import test_x
            names = [alias.name for alias in node.names] + [node.module or ""]
            names = [f"tests.{name}" for name in names if name]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        found += [
            name
            for name in names
            if name.startswith("tests.") and name.rsplit(".", 1)[-1].startswith("test_")
        ]
    return found


def test_no_test_module_imports_another_test_module() -> None:
    modules = sorted(TESTS.rglob("test_*.py"))
    assert len(modules) > 50
    offenders = {
        str(path.relative_to(TESTS.parent)): imported
        for path in modules
        if (imported := imported_test_modules(path))
    }
    assert offenders == {}


def test_the_check_sees_each_spelling(tmp_path: Path) -> None:
    module = tmp_path / "test_sample.py"
    module.write_text(
        "from tests.unit.test_workflow import ctx\n"
        "from tests.unit import test_workflow\n"
        "import tests.faults.test_poison\n"
        "from tests.builders import usage\n"
    )
    assert imported_test_modules(module) == [
        "tests.unit.test_workflow",
        "tests.unit.test_workflow",
        "tests.faults.test_poison",
    ]
