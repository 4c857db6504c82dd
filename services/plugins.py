"""What an installed distribution adds to the product, found through entry points.

The product never imports the development tooling: the tooling registers itself
(``tooling/pyproject.toml``, ``[project.entry-points]``) and the product looks up these
groups. A production install has none, and the product runs without them.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Protocol, cast

if TYPE_CHECKING:
    import typer

    from services.settings import Settings

COMMANDS = "lmp_billing.commands"
"""Functions that add commands to ``lmp-billing`` (a ``typer.Typer``)."""
SERVERS = "lmp_billing.servers"
"""One factory of the embedded servers that stand in for unset ones (``EmbeddedServers``)."""


class EmbeddedServers(Protocol):
    """Servers run on this machine for development, where none are configured."""

    @property
    def bootstrap_servers(self) -> str: ...

    @property
    def mongodb_uri(self) -> str: ...

    def settings(self, settings: Settings) -> Settings:
        """``settings`` pointed at these servers where none are configured."""
        ...

    def kafka_running(self) -> bool: ...

    def database_running(self) -> bool: ...


def command_plugins() -> list[Callable[[typer.Typer], None]]:
    """Every installed ``lmp_billing.commands`` entry point, loaded."""
    return [
        cast("Callable[[typer.Typer], None]", point.load())
        for point in entry_points(group=COMMANDS)
    ]


def embedded_servers(settings: Settings) -> EmbeddedServers | None:
    """The embedded servers for ``settings``, if a distribution provides them."""
    for point in entry_points(group=SERVERS):
        factory = cast("Callable[[Settings], EmbeddedServers]", point.load())
        return factory(settings)
    return None
