"""The layers of docs/architecture.md are enforced: lint-imports (``make lint``) passes on
the tree as it is, and fails on a copy given one wrong-way import."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own virtualenv's command
        [str(LINT_IMPORTS), "--no-cache"], cwd=tree, capture_output=True, text=True, check=False
    )


def copy_of_the_tree(tmp_path: Path) -> Path:
    for name in ("services", "schemas", "tooling", "tests"):
        shutil.copytree(
            ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
        )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_tree_keeps_every_contract() -> None:
    run = lint_imports(ROOT)
    assert run.returncode == 0, run.stdout + run.stderr


@pytest.mark.parametrize(
    ("module", "wrong_way", "broken"),
    [
        ("services/domain/figures.py", "services.api.server", "services.domain is not allowed"),
        ("services/runtime/exits.py", "services.bootstrap", "services.runtime is not allowed"),
        ("services/adapters/codec.py", "tooling.up", "services is not allowed to import tooling"),
    ],
)
def test_a_wrong_way_import_breaks_a_contract(
    tmp_path: Path, module: str, wrong_way: str, broken: str
) -> None:
    tree = copy_of_the_tree(tmp_path)
    with (tree / module).open("a") as source:
        source.write(f"\nimport {wrong_way}  # noqa\n")
    run = lint_imports(tree)
    assert run.returncode != 0
    assert broken in run.stdout, run.stdout
