"""The processor healthcheck of docker-compose.yml: healthy while the last beat is recent."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from services.runtime import heartbeat

pytestmark = pytest.mark.unit


def test_a_recent_beat_is_healthy_an_old_or_missing_one_is_not(tmp_path: Path) -> None:
    path = tmp_path / "run" / "heartbeat"
    now = time.time()
    assert heartbeat.problem(path, 30, now) == f"no heartbeat yet at {path}"
    heartbeat.beat(path)
    assert heartbeat.problem(path, 30, time.time()) is None
    os.utime(path, (now - 31, now - 31))
    found = heartbeat.problem(path, 30, now)
    assert found is not None
    assert found.startswith("last heartbeat 31.0 s ago")
    heartbeat.beat(path)
    assert heartbeat.problem(path, 30, time.time()) is None


def test_the_check_reads_the_file_from_the_settings_and_answers_with_its_exit_status(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("LMP_HEARTBEAT_FILE", raising=False)
    assert heartbeat.main([]) == 1
    assert "LMP_HEARTBEAT_FILE is not set" in capsys.readouterr().err
    path = tmp_path / "heartbeat"
    monkeypatch.setenv("LMP_HEARTBEAT_FILE", str(path))
    assert heartbeat.main([]) == 1
    assert "no heartbeat yet" in capsys.readouterr().err
    heartbeat.beat(path)
    assert heartbeat.main(["--max-age", "30"]) == 0
    assert capsys.readouterr().out == "healthy\n"
    old = time.time() - 10
    os.utime(path, (old, old))
    assert heartbeat.main(["--max-age", "5"]) == 1
    assert "last heartbeat" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:
        heartbeat.main(["--max-age", "0"])
    assert exited.value.code == 2
    assert "--max-age must be positive" in capsys.readouterr().err
