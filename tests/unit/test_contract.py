"""topics.yaml and schemas/ describe the same contract."""

from __future__ import annotations

import pytest
import yaml

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


def test_docker_compose_runs_every_processor_and_the_api_on_the_same_image() -> None:
    """docker-compose.yml cannot be run here (no Docker engine); its wiring is checked."""
    from services.processors import registry

    compose = yaml.safe_load((PROJECT_ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    commands = {
        name: svc["command"]
        for name, svc in services.items()
        if svc.get("image") == "lmp-billing:local"
    }
    assert commands.pop("topics") == ["topics", "ensure"]
    assert commands.pop("api")[:3] == ["api", "--host", "0.0.0.0"]
    assert services["api"]["ports"] == ["8080:8080"]
    assert commands == {name: ["process", name] for name in registry()}
    for name in registry():
        env = services[name]["environment"]
        assert env["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
        assert env["MONGODB_URI"].startswith("mongodb://mongodb:27017")
