"""The one composition root: finds the servers and builds what each entry point needs.

The processors, the read API (``services.api.run.api_context``), the operations commands
and the demo are each handed what they use (settings pointed at the servers, the store,
the producer's publisher, the catalogue, the clock, a processor's runtime); none of them
looks for servers or builds its collaborators itself. The servers are the configured
ones, or the embedded ones a plugin provides (the development tooling's, found through
``services.plugins``: ``servers``, ``running_broker``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING

from services.adapters.catalogue import Catalogue
from services.adapters.kafka_security import KafkaConnection, kafka_connection
from services.adapters.publisher import Publisher
from services.adapters.store import Store, connect
from services.plugins import embedded_servers
from services.runtime.context import ProcessorSpec, Runtime, build_runtime, utc_now
from services.settings import Settings

if TYPE_CHECKING:
    from services.app import Processor

clock: Callable[[], datetime] = utc_now
"""The one clock of every entry point (a processor's runtime, the API, the commands)."""

RuntimeBuilder = Callable[[Publisher], Awaitable[Runtime]]


class ServersMissing(Exception):
    """A server the command needs is neither configured nor running embedded."""


SERVER_VARIABLES = ("KAFKA_BOOTSTRAP_SERVERS", "MONGODB_URI")
"""Where the servers are: what ``use_servers`` sets."""


def use_servers(bootstrap_servers: str | None, mongodb_uri: str | None) -> None:
    """Servers named on the command line (``--bootstrap-server``, ``--mongodb-uri``): set
    in this process's environment, they win over the variables' values for ``settings``
    and every process started from here inherits them (``up``'s processors, the API's
    workers). ``None`` leaves a variable as it is."""
    for name, value in zip(SERVER_VARIABLES, (bootstrap_servers, mongodb_uri), strict=True):
        if value is not None:
            os.environ[name] = value


def settings() -> Settings:
    return Settings()


def catalogue(settings: Settings) -> Catalogue:
    return Catalogue.load(*settings.catalogue_args())


def store(settings: Settings) -> Store:
    return connect(settings)


def servers(settings: Settings) -> Settings:
    """``settings`` pointed at the embedded servers where no external ones are configured
    (whether or not they run: a command that needs them says so when it connects)."""
    infra = embedded_servers(settings)
    if infra is not None:
        return infra.settings(settings)
    if not settings.mongodb_uri:
        raise ServersMissing(
            "MONGODB_URI is not set and the development tooling, whose embedded servers "
            "stand in for unset ones, is not installed"
        )
    return settings


def running_broker(settings: Settings) -> KafkaConnection:
    """The broker the operations commands talk to: the configured one (with the configured
    security), or the embedded one when it is running (they never start it)."""
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    bootstrap = kafka_connection(settings)
    if bootstrap.bootstrap_servers:
        return bootstrap
    infra = embedded_servers(settings)
    if infra is None or not infra.kafka_running():
        raise ServersMissing(
            "KAFKA_BOOTSTRAP_SERVERS is not set and the embedded broker is not running "
            "(start it with `make run` or `lmp-billing infra up`)"
        )
    return kafka_connection(settings, infra.bootstrap_servers)


def running_database(settings: Settings) -> Settings:
    """``settings`` on the database: MONGODB_URI, or the embedded server when it runs
    (the operations commands never start it)."""
    if settings.mongodb_uri:
        return settings
    infra = embedded_servers(settings)
    if infra is None or not infra.database_running():
        raise ServersMissing(
            "MONGODB_URI is not set and the embedded database is not running "
            "(start it with `make run` or `lmp-billing infra up`)"
        )
    return settings.model_copy(update={"mongodb_uri": infra.mongodb_uri})


def runtime_builder(settings: Settings, name: str, catalogue: Catalogue) -> RuntimeBuilder:
    """How processor ``name`` gets its runtime once its worker has a producer to publish with."""

    async def build(publisher: Publisher) -> Runtime:
        store = connect(settings)
        await store.ensure_indexes()
        return build_runtime(name, settings, catalogue, store, publisher, clock)

    return build


def processor(settings: Settings, spec: ProcessorSpec) -> Processor:
    """The faust app of one processor and the services its worker starts before it."""
    from services.app import build_processor

    loaded = catalogue(settings)
    return build_processor(settings, spec, loaded, runtime_builder(settings, spec.name, loaded))


def run_processor(settings: Settings, spec: ProcessorSpec) -> None:
    """Run ``spec`` in this process until SIGTERM/SIGINT (its topics must exist)."""
    from services.app import run_worker

    run_worker(lambda: processor(settings, spec), settings)
