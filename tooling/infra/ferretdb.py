"""FerretDB on its embedded SQLite backend: a second implementation of the MongoDB wire
protocol, for running the store's contract tests and a report's life on something other
than SecantusDB (``make test-ferretdb``; docs/ferretdb.md lists what differs).

Built once with Go from the module proxy into the project cache
(``.lmp/cache/ferretdb-<version>/bin``; GOPATH, GOCACHE and GOTMPDIR live under the cache
while it builds and are removed after). FerretDB 1.x is the last line with a backend that needs no
other server (SQLite); 2.x needs PostgreSQL with Microsoft's DocumentDB extension.

``go install github.com/FerretDB/FerretDB/cmd/ferretdb@VERSION`` builds a binary that
panics at start-up: the module zip lacks ``build/version/version.txt``, which FerretDB's
own build generates from git. So the module is downloaded, its source copied, that file
written, and ``go build`` run in the copy.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tooling.infra.process import InfraError
from tooling.infra.wire_server import WireServer

MODULE = "github.com/FerretDB/FerretDB"
VERSION = "v1.24.2"
BINARY = "ferretdb"
BUILD_TAGS = "ferretdb_no_postgresql"
"""SQLite is all the tests use; leaving out the PostgreSQL handler saves compile time."""

_BUILD_TIMEOUT = 1800.0


def _go() -> str:
    found = shutil.which("go") or "/usr/local/go/bin/go"
    if not Path(found).is_file():
        raise InfraError(f"go not found: building FerretDB {VERSION} needs a Go toolchain (1.24+)")
    return found


def _run(argv: list[str], env: dict[str, str], cwd: Path | None = None) -> str:
    try:
        result = subprocess.run(  # noqa: S603 - argv built here
            argv,
            capture_output=True,
            text=True,
            timeout=_BUILD_TIMEOUT,
            check=False,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=cwd,
        )
    except subprocess.TimeoutExpired as exc:
        raise InfraError(f"{' '.join(argv[:3])} took over {_BUILD_TIMEOUT:.0f}s") from exc
    if result.returncode != 0:
        tail = "\n".join(result.stderr.splitlines()[-40:]) or "(no output)"
        raise InfraError(f"{' '.join(argv[:3])} failed (exit {result.returncode}):\n{tail}")
    return result.stdout


class FerretDB(WireServer):
    """Build, start, wait for and stop one FerretDB storing its SQLite files in ``data_dir``.

    The same calls as :class:`tooling.infra.mongo_server.MongoServer`, so the test session
    can start either.
    """

    def __init__(self, cache_dir: Path, data_dir: Path, port: int = 27017) -> None:
        super().__init__("FerretDB", cache_dir, data_dir, port, "ferretdb")
        self.root = self.cache_dir / f"ferretdb-{VERSION}"
        self.binary = self.root / "bin" / BINARY

    @property
    def version(self) -> str:
        return f"FerretDB {VERSION} (SQLite)"

    def installed(self) -> bool:
        return self.binary.is_file()

    def install(self) -> None:
        """Download the module and build the server (about 1.5 CPU-minutes, once)."""
        if self.installed():
            return
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".ferretdb-", dir=self.cache_dir))
        env = {
            **os.environ,
            "GOPATH": str(staging / "gopath"),
            "GOCACHE": str(staging / "gocache"),
            "GOTMPDIR": str(staging / "tmp"),
            # writable module cache, so that the staging tree can be removed afterwards
            "GOFLAGS": "-modcacherw",
            "CGO_ENABLED": "0",
        }
        print(f"building FerretDB {VERSION} with go (once; ~3 min on 2 cores)")
        sys.stdout.flush()
        try:
            (staging / "tmp").mkdir()
            out = _run([_go(), "mod", "download", "-json", f"{MODULE}@{VERSION}"], env, cwd=staging)
            module_dir = Path(_module_dir(out))
            source = staging / "src"
            shutil.copytree(module_dir, source)
            (source / "build" / "version" / "version.txt").write_text(f"{VERSION}\n")
            _run(
                [
                    _go(),
                    "build",
                    "-trimpath",
                    "-buildvcs=false",
                    "-tags",
                    BUILD_TAGS,
                    "-o",
                    str(staging / "bin" / BINARY),
                    "./cmd/ferretdb",
                ],
                env,
                cwd=source,
            )
            for part in ("gopath", "gocache", "src", "tmp"):
                shutil.rmtree(staging / part, ignore_errors=True)
            with contextlib.suppress(OSError):
                staging.rename(self.root)
            if not self.installed():
                raise InfraError(f"could not move the built server into {self.root}")
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def start(self) -> None:
        self.install()
        self._refuse_if_taken()
        storage = self.data_dir / "sqlite"
        storage.mkdir(parents=True, exist_ok=True)
        self.process.argv = (
            str(self.binary),
            "--handler=sqlite",
            f"--sqlite-url=file:{storage}/",
            f"--state-dir={self.data_dir}",
            f"--listen-addr=127.0.0.1:{self.port}",
            "--debug-addr=-",  # no metrics/pprof HTTP listener on a fixed port
            "--telemetry=disable",
            "--log-level=warn",
            "--log-format=text",
        )
        self.process.start()


def _module_dir(download_json: str) -> str:
    info = json.loads(download_json)
    if "Error" in info or "Dir" not in info:
        raise InfraError(f"go mod download {MODULE}@{VERSION}: {info.get('Error', info)}")
    return str(info["Dir"])


def main(argv: list[str] | None = None) -> int:
    """``python -m tooling.infra.ferretdb install``: build it (if missing) and say how long."""
    parser = argparse.ArgumentParser(description="FerretDB for the tests")
    parser.add_argument("action", choices=["install"])
    parser.parse_args(argv)
    from services.settings import Settings
    from tooling.settings import cache_dir

    settings = Settings()
    server = FerretDB(cache_dir(settings.home), settings.home / "ferretdb")
    if server.installed():
        print(f"{server.version}: {server.binary}")
        return 0
    started = time.monotonic()
    try:
        server.install()
    except InfraError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"{server.version} built in {time.monotonic() - started:.0f} s: {server.binary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
