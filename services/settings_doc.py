"""The configuration reference, rendered from the settings model so it cannot drift.

    python -m services.settings_doc            # write docs/configuration-reference.md
    python -m services.settings_doc --check    # exit 1 if the committed file differs

Every field of ``Settings`` becomes one row: the environment variables that set it (its
aliases, or ``LMP_`` and its name), its type and constraints, its default and its
description. A unit test compares the committed page with ``render()``.
"""

from __future__ import annotations

import argparse
import html
import sys
import types
import typing
from enum import Enum
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import annotated_types
from pydantic import AliasChoices, BaseModel, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from services.settings import PROJECT_ROOT, Settings

REFERENCE = PROJECT_ROOT / "docs" / "configuration-reference.md"
REGENERATE = "python -m services.settings_doc"

HEADER = f"""<!-- Generated from services/settings.py by `{REGENERATE}`: do not edit. -->

# Configuration reference

Every setting of `services.settings.Settings`, in the order the model declares them. Each
is read from the environment when a command starts; names are not case-sensitive. Where a
setting has two names, either sets it. [Configuration](configuration.md) explains the
ones people change.

| Variable | Type | Default | Description |
|---|---|---|---|
"""


def env_names(name: str, field: FieldInfo, prefix: str) -> list[str]:
    """The variables that set ``name``: its aliases, else the prefix and its name."""
    alias = field.validation_alias
    if isinstance(alias, AliasChoices):
        return [str(choice) for choice in alias.choices]
    if isinstance(alias, str):
        return [alias]
    return [f"{prefix}{name}".upper()]


def type_text(annotation: Any) -> str:
    """A reader's name for a field's type: the values of a choice, ``optional`` for None."""
    args = get_args(annotation)
    origin = get_origin(annotation)
    if origin is Literal:
        return "one of " + ", ".join(f"`{value}`" for value in args)
    if origin in (typing.Union, types.UnionType):
        others = [arg for arg in args if arg is not type(None)]
        text = " or ".join(type_text(arg) for arg in others)
        return f"{text}, optional" if len(others) < len(args) else text
    if origin is dict:
        return "JSON object"
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return "one of " + ", ".join(f"`{member.value}`" for member in annotation)
    names = {str: "string", int: "integer", float: "number", bool: "boolean", Path: "path"}
    if annotation is SecretStr:
        return "secret string"
    return names.get(annotation, getattr(annotation, "__name__", str(annotation)))


def constraints_text(field: FieldInfo) -> str:
    """The bounds pydantic checks, as a reader writes them."""
    parts = []
    for item in field.metadata:
        if isinstance(item, annotated_types.Gt):
            parts.append(f"> {item.gt}")
        elif isinstance(item, annotated_types.Ge):
            parts.append(f"≥ {item.ge}")
        elif isinstance(item, annotated_types.Lt):
            parts.append(f"< {item.lt}")
        elif isinstance(item, annotated_types.Le):
            parts.append(f"≤ {item.le}")
        elif isinstance(item, annotated_types.MaxLen):
            parts.append(f"at most {item.max_length} characters")
        elif getattr(item, "pattern", None):
            parts.append(f"matching `{item.pattern}`")
    return ", ".join(parts)


def default_text(field: FieldInfo) -> str:  # noqa: C901 - one branch per kind of default a setting has
    """The default as it would be written in the environment; paths in the checkout are
    shown relative to it, so the page is the same in every clone."""
    if field.default is PydanticUndefined:
        if field.default_factory is None:
            return "required"
        value = field.default_factory()  # type: ignore[call-arg]
    else:
        value = field.default
    if value is None:
        return "unset"
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, Path):
        if value.is_relative_to(PROJECT_ROOT):
            return f"`{value.relative_to(PROJECT_ROOT)}` in the checkout"
        return f"`{value}`"
    if isinstance(value, dict):
        return f"`{value}`" if value else "`{}`"
    if value == "":
        return "empty"
    return f"`{value}`"


def _cell(text: str) -> str:
    """``text`` safe in a table cell, here and on GitHub: outside code, ``|`` escaped and
    ``<`` an entity (it would open a tag); a code span holding ``|`` written as HTML (both
    renderers would split the row at it)."""
    parts = text.replace("\n", " ").split("`")
    for i, part in enumerate(parts):
        if i % 2 == 0:
            parts[i] = part.replace("<", "&lt;").replace("|", "\\|")
        elif "|" in part:
            parts[i] = "<code>" + html.escape(part).replace("|", "&#124;") + "</code>"
        else:
            parts[i] = f"`{part}`"
    return "".join(parts)


def rows(model: type[BaseModel] = Settings) -> list[str]:
    prefix = str(model.model_config.get("env_prefix", ""))
    lines = []
    for name, field in model.model_fields.items():
        names = "<br>".join(f"`{env}`" for env in env_names(name, field, prefix))
        kind = type_text(field.annotation)
        bounds = constraints_text(field)
        if bounds:
            kind = f"{kind}, {bounds}"
        description = (field.description or "").strip()
        cells = (kind, default_text(field), description)
        lines.append("| " + " | ".join([names, *map(_cell, cells)]) + " |")
    return lines


def render(model: type[BaseModel] = Settings) -> str:
    """The whole page for ``model``."""
    return HEADER + "\n".join(rows(model)) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--check", action="store_true", help="exit 1 when the file differs, write nothing"
    )
    parser.add_argument("--output", type=Path, default=REFERENCE)
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = args.output.read_text() if args.output.exists() else ""
        if current != text:
            print(f"{args.output} is out of date: run `{REGENERATE}`", file=sys.stderr)
            return 1
        return 0
    args.output.write_text(text)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
