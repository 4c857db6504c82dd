"""topics.yaml and schemas/ describe the same contract."""

from __future__ import annotations

import pytest

from schemas.registry import MESSAGE_TYPES
from services.adapters.catalogue import Catalogue
from services.settings import PROJECT_ROOT

pytestmark = pytest.mark.unit


def test_every_type_in_the_catalogue_has_a_model_and_back() -> None:
    catalogue = Catalogue.load(PROJECT_ROOT / "topics.yaml")
    assert catalogue.all_types() == set(MESSAGE_TYPES)


def test_each_type_travels_on_exactly_one_topic() -> None:
    catalogue = Catalogue.load(PROJECT_ROOT / "topics.yaml")
    seen: dict[str, str] = {}
    for topic in catalogue.topics.values():
        for message_type in topic.types:
            assert message_type not in seen, (
                f"{message_type} on {seen.get(message_type)} and {topic.name}"
            )
            seen[message_type] = topic.name


def test_spec_topic_names_are_all_present() -> None:
    catalogue = Catalogue.load(PROJECT_ROOT / "topics.yaml")
    assert set(catalogue.topics) == {
        "lmp.usage.v1",
        "lmp.accounts.v1",
        "lmp.pricing.v1",
        "lmp.partner-actions.v1",
        "lmp.distributor-actions.v1",
        "lmp.trendmicro-responses.v1",
        "lmp.trendmicro-submissions.v1",
        "lmp.report-events.v1",
        "lmp.penalties.v1",
        "lmp.dead-letter.v1",
    }
    assert catalogue["lmp.accounts.v1"].cleanup_policy == "compact"
