"""``lmp-billing`` as a user meets it: --version, the global options, LMP_LOG_LEVEL,
subcommand groups, JSON Lines, readable help, and ``process`` without a name.

Commands run in this process through ``services.cli.main`` (no servers: those that need
one are given an in-memory store or stop before connecting).
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterator
from importlib.metadata import version
from typing import Any

import pytest
import typer

from services import bootstrap
from services.adapters.kafka_admin import GroupLag, TopicStatus
from services.adapters.store.memory import MemoryStore
from services.cli import application, main
from services.cli.options import command_name
from services.ops.status import status_json
from services.processors import registry

pytestmark = pytest.mark.unit

ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@pytest.fixture(autouse=True)
def kept_logging_and_servers(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """``main`` sets the root logger's level; the servers come from nowhere by default."""
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    for name in ("KAFKA_BOOTSTRAP_SERVERS", "MONGODB_URI", "LMP_LOG_LEVEL"):
        monkeypatch.delenv(name, raising=False)
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def lines_of(text: str) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert all(isinstance(row, dict) for row in rows), "JSON Lines hold objects, never arrays"
    return rows


# --version, global options --------------------------------------------------


def test_version_is_the_installed_distributions(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"lmp-billing {version('lmp-billing')}\n"


def test_global_server_options_win_over_the_environment_and_are_given_back(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "from-env:9092")
    argv = ["-b", "broker-a:9092,broker-b:9092", "--mongodb-uri", "mongodb://db:27017"]

    assert main([*argv, "infra", "status"]) == 0

    rows = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert rows == [
        ["kafka", "external", "broker-a:9092,broker-b:9092"],
        ["mongodb", "external", "mongodb://db:27017"],
    ]
    assert os.environ["KAFKA_BOOTSTRAP_SERVERS"] == "from-env:9092"
    assert "MONGODB_URI" not in os.environ


def test_without_global_options_the_environment_names_the_servers(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "from-env:9092")
    monkeypatch.setenv("MONGODB_URI", "mongodb://from-env")
    assert main(["infra", "status"]) == 0
    assert capsys.readouterr().out.split()[2::3] == ["from-env:9092", "mongodb://from-env"]


def test_processes_started_by_up_inherit_the_global_options(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``up`` starts every processor with this process's environment (ManagedProcess)."""
    seen: dict[str, str | None] = {}

    def fake_up(_instances: int, _keep_servers: bool) -> int:
        seen.update({k: os.environ.get(k) for k in bootstrap.SERVER_VARIABLES})
        seen["settings"] = bootstrap.settings().kafka_bootstrap_servers
        return 0

    monkeypatch.setattr("tooling.up.up", fake_up)
    assert main(["--bootstrap-server", "k:1", "--mongodb-uri", "mongodb://m:2", "up"]) == 0
    assert seen == {
        "KAFKA_BOOTSTRAP_SERVERS": "k:1",
        "MONGODB_URI": "mongodb://m:2",
        "settings": "k:1",
    }


@pytest.mark.parametrize(
    ("argv", "command"),
    [
        (["up"], "up"),
        (["-b", "h:1", "infra", "up"], "infra"),
        (["--mongodb-uri", "mongodb://x", "--bootstrap-server", "h:1", "demo"], "demo"),
        (["--version"], None),
    ],
)
def test_the_command_is_found_past_the_global_options(argv: list[str], command: str | None) -> None:
    assert command_name(argv) == command


# LMP_LOG_LEVEL ----------------------------------------------------------------


@pytest.mark.parametrize(("given", "level"), [("WARNING", logging.WARNING), ("debug", 10)])
def test_every_command_logs_at_lmp_log_level(
    given: str, level: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LMP_LOG_LEVEL", given)
    assert main(["process", "--list"]) == 0
    assert logging.getLogger().level == level


def test_an_unknown_log_level_is_a_usage_error_naming_the_levels(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LMP_LOG_LEVEL", "loud")
    assert main(["process", "--list"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "LMP_LOG_LEVEL: 'loud' is not a log level; one of debug, info, warning" in captured.err


def test_the_processors_settings_refuse_an_unknown_log_level() -> None:
    from pydantic import ValidationError

    from services.settings import Settings

    assert Settings(log_level="ERROR").log_level == "error"
    with pytest.raises(ValidationError, match="not a log level"):
        Settings(log_level="verbose")


# process ------------------------------------------------------------------------


@pytest.mark.parametrize("argv", [["process"], ["process", "--list"]])
def test_process_without_a_name_lists_the_processors(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 0
    assert capsys.readouterr().out.splitlines() == list(registry())


def test_process_list_as_json_lines(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["process", "--list", "--json"]) == 0
    rows = lines_of(capsys.readouterr().out)
    assert [row["name"] for row in rows] == list(registry())
    assert rows[0] == {"name": "usage", "topics": ["lmp.usage.v1"]}


def test_an_unknown_processor_is_a_usage_error_listing_the_names(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["process", "usgae"]) == 2
    err = capsys.readouterr().err
    assert "unknown processor 'usgae'; one of: " + ", ".join(registry()) in err


# keys and infra: groups of subcommands -------------------------------------------


@pytest.fixture
def memory_store(monkeypatch: pytest.MonkeyPatch) -> MemoryStore:
    store = MemoryStore()
    monkeypatch.setattr(bootstrap, "servers", lambda settings: settings)
    monkeypatch.setattr(bootstrap, "store", lambda _settings: store)
    return store


@pytest.mark.usefixtures("memory_store")
def test_keys_create_list_and_revoke(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keys", "create", "--role", "partner", "--account", "P1", "--name", "desk"]) == 0
    plaintext = capsys.readouterr().out.strip()
    assert main(["keys", "create", "--role", "operations"]) == 0
    capsys.readouterr()

    assert main(["keys", "list", "--json"]) == 0
    rows = {row["account_id"]: row for row in lines_of(capsys.readouterr().out)}
    partner = rows["P1"]
    assert set(partner) == {"key_id", "role", "account_id", "name", "created_at", "revoked_at"}
    assert (partner["role"], partner["name"], partner["revoked_at"]) == ("partner", "desk", None)
    assert ISO_UTC.match(partner["created_at"])
    assert partner["key_id"] in plaintext
    assert rows[None]["role"] == "operations"

    assert main(["keys", "revoke", partner["key_id"]]) == 0
    assert capsys.readouterr().out == f"revoked {partner['key_id']}\n"
    assert main(["keys", "list", "--json"]) == 0
    revoked = {row["key_id"]: row for row in lines_of(capsys.readouterr().out)}
    assert ISO_UTC.match(revoked[partner["key_id"]]["revoked_at"])

    assert main(["keys", "list"]) == 0
    text = capsys.readouterr().out
    assert f"{partner['key_id']}  partner" in text
    assert "revoked " in text


def test_keys_usage_errors(memory_store: MemoryStore, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keys", "create", "--role", "partner"]) == 2
    assert "a partner key needs the partner's account id" in capsys.readouterr().err
    assert main(["keys", "revoke"]) == 2
    assert "Missing argument 'KEY_ID'" in capsys.readouterr().err
    assert main(["keys", "revoke", "nothing"]) == 1
    assert "no active key 'nothing'" in capsys.readouterr().err
    assert main(["keys", "destroy"]) == 2
    assert memory_store.collections.get("api_keys", {}) == {}


def test_infra_is_a_group_of_subcommands(capsys: pytest.CaptureFixture[str]) -> None:
    command = typer.main.get_command(application())
    infra = command.commands["infra"]  # type: ignore[attr-defined]
    assert sorted(infra.commands) == ["down", "install", "status", "up"]
    keys = command.commands["keys"]  # type: ignore[attr-defined]
    assert sorted(keys.commands) == ["create", "list", "revoke"]
    assert main(["infra", "restart"]) == 2
    assert "No such command 'restart'" in capsys.readouterr().err


# JSON Lines --------------------------------------------------------------------


def test_topics_list_json_is_one_object_per_topic() -> None:
    group = GroupLag(
        group="g", declared=True, committed=1, partitions_committed=1, lag=0, lag_by_partition={}
    )
    rows = [
        TopicStatus(
            contract_name=name,
            name=name,
            direction="in",
            declared_partitions=1,
            partitions=1,
            end_offset=1,
            beginning_offset=0,
            groups=(group,),
        )
        for name in ("a.v1", "b.v1")
    ]
    lines = lines_of(status_json(rows))
    assert [line["name"] for line in lines] == ["a.v1", "b.v1"]
    assert lines[0]["groups"][0]["partitions_committed"] == 1


def test_infra_status_json_is_one_object_per_server(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["-b", "k:1", "--mongodb-uri", "mongodb://m", "infra", "status", "--json"]) == 0
    assert lines_of(capsys.readouterr().out) == [
        {"server": "kafka", "state": "external", "address": "k:1"},
        {"server": "mongodb", "state": "external", "address": "mongodb://m"},
    ]


def test_topics_acls_json_is_one_object_per_grant(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["topics", "acls", "--json"]) == 0
    rows = lines_of(capsys.readouterr().out)
    assert len(rows) > 1
    assert {"party", "principal", "operations", "resource", "names"} <= set(rows[0])


async def test_outbox_list_json_names_the_size_as_dead_letters_do() -> None:
    import io

    from schemas.report import OutboxEntry
    from services.ops import list_quarantined

    store = MemoryStore()
    entry = OutboxEntry(id="e1", topic="t", key="k", value='{"a": 1}')
    await store.quarantine_events([(entry, "TopicAuthorizationFailedError: no")])
    out = io.StringIO()
    assert await list_quarantined(store, True, out) == 0
    assert lines_of(out.getvalue()) == [
        {
            "id": "e1",
            "topic": "t",
            "key": "k",
            "value_size": 8,
            "reason": "TopicAuthorizationFailedError: no",
        }
    ]


# help --------------------------------------------------------------------------


def _command_paths() -> list[list[str]]:
    paths: list[list[str]] = [[]]

    def walk(command: Any, path: list[str]) -> None:
        for name, sub in getattr(command, "commands", {}).items():
            paths.append([*path, name])
            walk(sub, [*path, name])

    walk(typer.main.get_command(application()), [])
    return paths


TYPE_LABEL = re.compile(r"<(str|int|float|bool|path|list\[[^>]*|[a-z]+ range|[a-z|]+\|[a-z|]+)>")


@pytest.mark.parametrize("path", _command_paths(), ids=lambda p: " ".join(p) or "lmp-billing")
def test_help_names_values_by_metavar_without_rst_markup(
    path: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*path, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Usage: lmp-billing")
    assert TYPE_LABEL.search(out) is None, out
    assert "``" not in out, out


def test_every_listing_has_json(capsys: pytest.CaptureFixture[str]) -> None:
    for path in (
        ["topics", "list"],
        ["topics", "ensure"],
        ["topics", "acls"],
        ["infra", "status"],
        ["dlq", "list"],
        ["outbox", "list"],
        ["keys", "list"],
        ["tail"],
        ["process"],
        ["publish"],
    ):
        assert main([*path, "--help"]) == 0
        assert "--json" in capsys.readouterr().out, path
