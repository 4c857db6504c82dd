"""The two MongoDB-wire servers share their process handling (tooling/infra/wire_server.py):
the same address, the same refusal of a taken port, stopped alike."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tooling.infra.ferretdb import FerretDB
from tooling.infra.mongo_server import MongoServer
from tooling.infra.process import InfraError
from tooling.infra.wire_server import WireServer

pytestmark = pytest.mark.unit


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.mark.parametrize("kind", [MongoServer, FerretDB])
def test_a_taken_port_is_refused_with_the_address(
    kind: Callable[[Path, Path, int], WireServer], taken_port: int, tmp_path: Path
) -> None:
    server = kind(tmp_path / "cache", tmp_path / "data", taken_port)
    assert server.uri == f"mongodb://127.0.0.1:{taken_port}/?directConnection=true"
    assert not server.running()
    with pytest.raises(InfraError, match=f"127.0.0.1:{taken_port} is already in use"):
        server._refuse_if_taken()
    server.stop()  # nothing runs: a no-op, not an error
