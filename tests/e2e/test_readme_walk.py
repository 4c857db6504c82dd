"""The README's five-minute walk, run as written.

The walk is the bash between the README's walk markers (the same lines the docs site
includes). Its one `make run` line is replaced by what `make run` runs, `lmp-billing up`,
on a home and ports of its own; the rest runs unchanged under `set -euo pipefail`, with
the environment `up` was given, which the walk honours (`LMP_API_PORT`; the commands find
the servers from `LMP_HOME` and the ports). It must print the report the usage opened,
and `tail` must show that usage.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from services.processors import registry
from services.settings import PROJECT_ROOT
from tests.e2e.up_support import up_environment
from tests.harness import eventually

pytestmark = pytest.mark.e2e

README = PROJECT_ROOT / "README.md"
START, END = "<!-- --8<-- [start:walk] -->", "<!-- --8<-- [end:walk] -->"
RUN_LINE = "make run"


def walk_script(readme: str) -> str:
    """The bash blocks between the markers, in order, without the `make run` line."""
    assert readme.count(START) == 1, "one walk start marker"
    assert readme.count(END) == 1, "one walk end marker"
    section = readme[readme.index(START) + len(START) : readme.index(END)]
    blocks = re.findall(r"^```bash\n(.*?)^```$", section, flags=re.DOTALL | re.MULTILINE)
    assert blocks, "the walk has no ```bash block"
    lines = "\n".join(blocks).splitlines()
    assert lines.count(RUN_LINE) == 1, f"the walk starts the system with one `{RUN_LINE}` line"
    return "\n".join(line for line in lines if line != RUN_LINE) + "\n"


def test_the_walk_is_extracted_whole_and_only_make_run_is_left_out() -> None:
    script = walk_script(README.read_text())
    assert "make run" not in script
    for command in ("lmp-billing example", "lmp-billing publish", "keys create", "tail --report"):
        assert command in script, command
    assert "${LMP_API_PORT:-8080}" in script, "the walk reads the API's port as `up` does"


async def stable_groups(bootstrap: str, groups: list[str]) -> bool:
    """Every group has a member: the processors consume (messages sent before would be
    read from the start anyway; this keeps the walk's own wait short)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        await admin.start()
        for group in groups:
            responses = await admin.describe_consumer_groups([group])
            # Raw DescribeGroups answers: (error, group, state, protocol type, protocol, members)
            if not any(e[2] == "Stable" and e[5] for r in responses for e in r.groups):
                return False
        return True
    except Exception:
        return False
    finally:
        await admin.close()


async def test_the_readme_walk_opens_a_report_and_reads_it_back(tmp_path: Path) -> None:
    script = walk_script(README.read_text())
    env, kafka_port = up_environment(tmp_path, "walk")
    up_log = tmp_path / "up.log"
    with up_log.open("w") as log:
        up = await asyncio.create_subprocess_exec(
            *[sys.executable, "-m", "services.cli", "up"],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        groups = [f"walk-{name}" for name in registry()]

        async def serving() -> bool:
            if up.returncode is not None:
                raise AssertionError(up_log.read_text())
            return "read API on" in up_log.read_text() and await stable_groups(
                f"127.0.0.1:{kafka_port}", groups
            )

        await eventually(serving, timeout=120, interval=1.0)
        walk = await asyncio.create_subprocess_exec(
            "bash",
            "-c",
            f'set -euo pipefail\n{script}echo "walk-report=$REPORT"\n',
            cwd=PROJECT_ROOT,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out_bytes, err_bytes = await asyncio.wait_for(walk.communicate(), timeout=90)
    finally:
        if up.returncode is None:
            os.killpg(up.pid, signal.SIGTERM)
        await asyncio.wait_for(up.wait(), timeout=120)
    out, err = out_bytes.decode(), err_bytes.decode()
    context = f"walk exited {walk.returncode}\nstdout:\n{out}\nstderr:\n{err}"
    assert walk.returncode == 0, context
    report = re.findall(r"^walk-report=(\S+)$", out, flags=re.MULTILINE)
    assert len(report) == 1, context
    report_id = report[0]
    assert re.fullmatch(r"[^:]+:\d{4}-\d{2}", report_id), context

    # The read API's answer, pretty-printed by the walk: the report it asked for.
    opening = re.search(r"^\{$", out, flags=re.MULTILINE)
    assert opening, context
    body, _ = json.JSONDecoder().raw_decode(out[opening.start() :])
    assert body["report_id"] == report_id, context

    # tail: one line per message, `time topic partition:offset type id about summary`.
    usage_lines = [
        line for line in out.splitlines() if " lmp.usage.v1 " in f" {line} " and report_id in line
    ]
    assert any("lmp.usage.reported" in line for line in usage_lines), context

    # The partner's submission priced the report and put it under its distributor's review.
    priced = re.findall(r"^(\w+) ([0-9]+\.[0-9]{2})$", out, flags=re.MULTILINE)
    assert priced == [("manual_submission", "200.00")], context
    assert any("lmp.report.submitted" in line for line in out.splitlines()), context
