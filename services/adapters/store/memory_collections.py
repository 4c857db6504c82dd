"""The in-memory store's collections: find, put, insert once (``MemoryStore``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from services.adapters.store.matching import matches, ordered, project, stored

Collection = dict[Any, dict[str, Any]]


class MemoryCollections:
    """Documents by collection, kept as the database would (a BSON round trip each way)."""

    def __init__(self) -> None:
        self.collections: dict[str, Collection] = {}

    def collection(self, name: str) -> Collection:
        """A collection's documents by ``_id`` (tests may put raw documents in)."""
        return self.collections.setdefault(name, {})

    def _find(
        self,
        name: str,
        criteria: Mapping[str, Any],
        order: Sequence[tuple[str, int]] = (),
        projection: Mapping[str, int] | None = None,
    ) -> list[dict[str, Any]]:
        found = [doc for doc in self.collection(name).values() if matches(doc, criteria)]
        return [project(stored(doc), projection) for doc in ordered(found, order)]

    def _put(self, name: str, doc: Mapping[str, Any]) -> None:
        self.collection(name)[doc["_id"]] = stored(doc)

    def _insert_once(self, name: str, docs: Sequence[Mapping[str, Any]]) -> list[int]:
        """Insert each document whose ``_id`` is new; the positions of those that were not."""
        taken = []
        for i, doc in enumerate(docs):
            if doc["_id"] in self.collection(name):
                taken.append(i)
            else:
                self._put(name, doc)
        return taken
