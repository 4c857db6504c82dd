"""A local MongoDB-wire-protocol server: SecantusDB, built on WiredTiger.

No ``mongod`` can be installed on the machines this project targets, so the
embedded default is SecantusDB's Rust server ``secantusd-rs`` (crate
``secantus-mdb`` on crates.io), which cargo builds once into the cache. Its Python
sibling ``secantusd-py`` (PyPI ``secantusdb``, a project dependency) is kept as a
fallback that needs no Rust toolchain: ``LMP_MONGO_SERVER=secantusd-py``. Point
``MONGODB_URI`` at a real MongoDB to skip both. Why this server and what it cannot
do: docs/servers.md, "Database", and ``benchmarks/probe_database.py``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tooling.infra.process import InfraError
from tooling.infra.wire_server import WireServer

RUST_CRATE = "secantus-mdb"
RUST_VERSION = "0.5.3-beta.196"
RUST_BINARY = "secantusd-rs"
PYTHON_BINARY = "secantusd-py"
FLAVOURS = (RUST_BINARY, PYTHON_BINARY)

_BUILD_TIMEOUT = 3600.0


def _output_tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.splitlines()[-lines:]) or "(no output)"


class MongoServer(WireServer):
    """Install, start, wait for and stop one SecantusDB server storing into ``data_dir``."""

    def __init__(
        self, cache_dir: Path, data_dir: Path, port: int = 27017, flavour: str = RUST_BINARY
    ) -> None:
        if flavour not in FLAVOURS:
            raise InfraError(f"unknown MongoDB-wire server {flavour!r}; choose one of {FLAVOURS}")
        super().__init__(flavour, cache_dir, data_dir, port, "secantusd")
        self.flavour = flavour
        self.storage_dir = self.data_dir / "wiredtiger"
        self.rust_root = self.cache_dir / f"{RUST_CRATE}-{RUST_VERSION}"

    @property
    def version(self) -> str:
        return f"{self.flavour} {RUST_VERSION}" if self.flavour == RUST_BINARY else self.flavour

    def installed(self) -> bool:
        if self.flavour == PYTHON_BINARY:
            return self._python_launcher() is not None
        return (self.rust_root / "bin" / RUST_BINARY).is_file()

    def install(self) -> None:
        """Build the Rust server with cargo once (about 14 minutes on 2 cores)."""
        if self.installed():
            return
        if self.flavour == PYTHON_BINARY:
            raise InfraError(f"{PYTHON_BINARY} not found: run `make install` or set MONGODB_URI")
        cargo = shutil.which("cargo") or str(Path.home() / ".cargo" / "bin" / "cargo")
        if not Path(cargo).is_file():
            raise InfraError(
                f"cargo not found: building {RUST_CRATE} {RUST_VERSION} needs a Rust toolchain "
                f"(or set LMP_MONGO_SERVER={PYTHON_BINARY}, or MONGODB_URI to a real MongoDB)"
            )
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{RUST_CRATE}-", dir=self.cache_dir))
        print(f"building {RUST_CRATE} {RUST_VERSION} with cargo (once; ~15 min on 2 cores)")
        sys.stdout.flush()
        argv = [
            cargo,
            "install",
            RUST_CRATE,
            "--version",
            f"={RUST_VERSION}",
            # The crate declares rust-version 1.98; it builds and passes the probe on the
            # 1.95 toolchain these machines have.
            "--ignore-rust-version",
            "--root",
            str(staging),
            "--target-dir",
            str(staging / "target"),
        ]
        try:
            result = subprocess.run(  # noqa: S603 - argv built here
                argv,
                capture_output=True,
                text=True,
                timeout=_BUILD_TIMEOUT,
                check=False,
                stdin=subprocess.DEVNULL,
                env={**os.environ, "CARGO_TERM_COLOR": "never"},
            )
            if result.returncode != 0 or not (staging / "bin" / RUST_BINARY).is_file():
                raise InfraError(
                    f"cargo install {RUST_CRATE} {RUST_VERSION} failed "
                    f"(exit {result.returncode}):\n{_output_tail(result.stderr)}"
                )
            shutil.rmtree(staging / "target", ignore_errors=True)
            with contextlib.suppress(OSError):
                staging.rename(self.rust_root)
            if not self.installed():
                raise InfraError(f"could not move the built server into {self.rust_root}")
        except subprocess.TimeoutExpired as exc:
            raise InfraError(f"building {RUST_CRATE} took over {_BUILD_TIMEOUT:.0f}s") from exc
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def start(self) -> None:
        self.install()
        self._refuse_if_taken()
        self.storage_dir.mkdir(parents=True, exist_ok=True)
        common = (
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--storage-path",
            str(self.storage_dir),
            "--log-level",
            "WARNING",
            "--cache-size",
            "1G",
            "--oplog-max-entries",
            "10000",
            "--oplog-retention-seconds",
            "600",
        )
        if self.flavour == RUST_BINARY:
            binary = str(self.rust_root / "bin" / RUST_BINARY)
            self.process.argv = (binary, *common, "--log-file-max", "32MB")
        else:
            launcher = self._python_launcher()
            assert launcher is not None  # installed() was checked by install()
            self.process.argv = (launcher, *common)
        self.process.start()

    @staticmethod
    def _python_launcher() -> str | None:
        beside = Path(sys.executable).parent / PYTHON_BINARY
        return str(beside) if beside.is_file() else shutil.which(PYTHON_BINARY)
