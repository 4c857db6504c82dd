"""``hypothesis_jsonschema.from_schema``, working with the hypothesis this project installs.

hypothesis-jsonschema 0.23.1 (the latest release) draws an object's properties with
hypothesis' private ``many`` helper as ``while elements.more(): ...``. Since hypothesis
6.15x that helper is a context manager iterated with ``for`` and has no ``more()``, so
every object schema fails with ``AttributeError: 'many' object has no attribute
'more'``. ``LegacyMany`` gives it the old interface on top of the new one; it is
installed only when the helper lacks ``more``, and can go once hypothesis-jsonschema
follows hypothesis.
"""

from __future__ import annotations

from typing import Any

from hypothesis.internal.conjecture import utils as cu
from hypothesis_jsonschema import _from_schema, from_schema

__all__ = ["from_schema"]

_END = object()


class LegacyMany:
    """``many(data, min_size=, max_size=, average_size=)`` with ``more()`` and ``reject()``."""

    def __init__(self, data: Any, *, min_size: int, max_size: float, average_size: float) -> None:
        self._many = cu.many(data, min_size=min_size, max_size=max_size, average_size=average_size)
        self._many.__enter__()
        self._steps = iter(self._many)

    def more(self) -> bool:
        if next(self._steps, _END) is not _END:
            return True
        self._many.__exit__(None, None, None)
        return False

    def reject(self, why: str | None = None) -> None:
        self._many.reject(why)


class _Utils:
    many = LegacyMany

    def __getattr__(self, name: str) -> Any:
        return getattr(cu, name)


if not hasattr(cu.many, "more"):
    _from_schema.cu = _Utils()  # type: ignore[attr-defined,assignment]
