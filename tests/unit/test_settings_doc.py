"""The configuration reference is the settings model, rendered: it cannot drift."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pytest
from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.settings import Settings
from services.settings_doc import REFERENCE, REGENERATE, main, render

pytestmark = pytest.mark.unit


def test_the_committed_configuration_reference_is_the_settings_model_rendered() -> None:
    committed = REFERENCE.read_text() if REFERENCE.exists() else ""
    assert committed == render(), (
        f"{REFERENCE.relative_to(REFERENCE.parent.parent)} differs from services/settings.py: "
        f"regenerate it with `.venv/bin/{REGENERATE}` and commit it"
    )


def test_every_setting_says_what_it_is_for() -> None:
    missing = [name for name, field in Settings.model_fields.items() if not field.description]
    assert not missing, f"give these settings a description= in services/settings.py: {missing}"


def test_a_row_names_every_variable_type_default_and_description() -> None:
    class Sample(BaseSettings):
        model_config = SettingsConfigDict(env_prefix="LMP_")

        broker: str = Field(
            default="",
            validation_alias=AliasChoices("BROKER", "LMP_BROKER"),
            description="where <it> runs | or not",
        )
        window: float = Field(default=0.5, gt=0, description="a window")
        mode: Literal["a", "b"] = Field(default="a", description="a choice")
        limit: int | None = Field(default=None, ge=1, description="a bound")
        pattern: str = Field(default="x", pattern=r"^(x|y)$", description="a pattern")

    page = render(Sample)
    assert "| `BROKER`<br>`LMP_BROKER` | string | empty | where &lt;it> runs \\| or not |" in page
    assert "| `LMP_WINDOW` | number, > 0 | `0.5` | a window |" in page
    assert "| `LMP_MODE` | one of `a`, `b` | `a` | a choice |" in page
    assert "| `LMP_LIMIT` | integer, optional, ≥ 1 | unset | a bound |" in page
    assert "matching <code>^(x&#124;y)$</code>" in page


def test_paths_in_the_checkout_are_shown_relative_so_every_clone_renders_the_same() -> None:
    page = render()
    assert "`.lmp` in the checkout" in page
    assert str(Path(__file__).resolve().parents[2]) not in page


def test_check_mode_fails_on_a_stale_file_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stale = tmp_path / "reference.md"
    stale.write_text("old\n")
    assert main(["--check", "--output", str(stale)]) == 1
    assert stale.read_text() == "old\n"
    assert REGENERATE in capsys.readouterr().err
    assert main(["--output", str(stale)]) == 0
    assert main(["--check", "--output", str(stale)]) == 0


def test_every_lmp_variable_the_product_reads_is_a_setting_in_the_reference() -> None:
    """A variable read straight from the environment (the logging and metrics set-up runs
    before any settings exist) is still a field, so it is validated and documented."""
    import re

    from services.settings import PROJECT_ROOT, Settings

    names = {f"LMP_{name.upper()}" for name in Settings.model_fields}
    for field in Settings.model_fields.values():
        alias = field.validation_alias
        names |= {c for c in getattr(alias, "choices", []) if isinstance(c, str)}
    read: set[str] = set()
    for path in (PROJECT_ROOT / "services").rglob("*.py"):
        read |= set(re.findall(r"\"(LMP_[A-Z0-9_]+)\"", path.read_text()))
    assert read - names == set(), "add them to services/settings.py, then regenerate"
