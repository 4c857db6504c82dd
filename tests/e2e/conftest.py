"""One running system per e2e module: its processors (``PROCESSORS``) as real processes,
each with the environment the module's ``PROCESSOR_ENV`` gives it, if any."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.harness import Servers, System


@pytest.fixture(scope="module")
async def running(
    servers: Servers, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> AsyncIterator[System]:
    """Shared by the module's scenarios, which keep apart by using their own partners."""
    names: tuple[str, ...] = request.module.PROCESSORS
    system = System(servers, tmp_path_factory.mktemp(request.module.__name__.split(".")[-1]))
    await system.run_processors(names, getattr(request.module, "PROCESSOR_ENV", None))
    try:
        yield system
    finally:
        dead = {name: system.logs(name) for name in system.dead_processors()}
        await system.close()
        if dead:
            pytest.fail(f"processors died during the module: {dead}")
