"""The lock files pin what the pyprojects ask for: every declared package, inside its range.

``make lock`` writes them; this test fails when a pyproject changed and the locks did not.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from services.settings import PROJECT_ROOT

pytestmark = pytest.mark.unit

PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)", re.MULTILINE)


def pins(lock: str) -> dict[str, str]:
    text = (PROJECT_ROOT / "requirements" / lock).read_text()
    return {canonicalize_name(name): version for name, version in PIN.findall(text)}


def declared(pyproject: Path, *extras: str) -> list[Requirement]:
    project = tomllib.loads(pyproject.read_text())["project"]
    found = [Requirement(r) for r in project.get("dependencies", [])]
    for extra in extras:
        found += [Requirement(r) for r in project["optional-dependencies"][extra]]
    return found


def unpinned(requirements: list[Requirement], pinned: dict[str, str]) -> list[str]:
    return [
        f"{req} (locked: {pinned.get(canonicalize_name(req.name), 'absent')})"
        for req in requirements
        if canonicalize_name(req.name) not in pinned
        or not req.specifier.contains(pinned[canonicalize_name(req.name)], prereleases=True)
    ]


def test_the_development_lock_pins_the_product_its_dev_tools_and_the_tooling() -> None:
    wanted = declared(PROJECT_ROOT / "pyproject.toml", "dev") + declared(
        PROJECT_ROOT / "tooling" / "pyproject.toml"
    )
    assert unpinned(wanted, pins("dev.lock")) == [], "run `make lock`"


DEVELOPMENT_ONLY = {"pytest", "mypy", "ruff", "schemathesis", "hypothesis", "mkdocs-material"}
"""Tools of the development install that nothing the product imports pulls in."""


def test_the_production_lock_pins_the_runtime_dependencies_and_nothing_of_development() -> None:
    pinned = pins("prod.lock")
    assert unpinned(declared(PROJECT_ROOT / "pyproject.toml"), pinned) == [], "run `make lock`"
    leaked = (DEVELOPMENT_ONLY | {"secantusdb", "cloudevents", "uv"}) & set(pinned)
    assert leaked == set(), f"development packages in the production lock: {sorted(leaked)}"


def test_the_codegen_lock_pins_the_generator() -> None:
    generator = (PROJECT_ROOT / "requirements" / "codegen.in").read_text()
    wanted = [Requirement(line) for line in generator.splitlines() if line and line[0] != "#"]
    assert unpinned(wanted, pins("codegen.lock")) == [], "run `make lock`"
