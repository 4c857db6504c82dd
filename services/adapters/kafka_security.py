"""TLS and SASL for every Kafka client, translated from the one settings object.

Every client of the project (aiokafka consumers, producers and admin clients, and faust's
consumer and producer) is built from a ``KafkaConnection``: the bootstrap servers and
how to authenticate to them. The settings are checked when they are read
(``services.security_settings``), so a missing password or an unreadable CA file stops
the process at start with the setting's name.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias

from services.security_settings import SASL, TLS, KafkaProtocol, SaslMechanism

if TYPE_CHECKING:
    from faust.types.auth import CredentialsT

    from services.settings import Settings


@dataclass(frozen=True)
class KafkaSecurity:
    """How a client authenticates: the protocol, SASL credentials, the TLS context."""

    protocol: KafkaProtocol = "PLAINTEXT"
    mechanism: SaslMechanism | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ssl_context: ssl.SSLContext | None = None

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of AIOKafkaConsumer, AIOKafkaProducer and AIOKafkaAdminClient."""
        kwargs: dict[str, Any] = {"security_protocol": self.protocol}
        if self.ssl_context is not None:
            kwargs["ssl_context"] = self.ssl_context
        if self.mechanism is not None:
            kwargs["sasl_mechanism"] = self.mechanism
            kwargs["sasl_plain_username"] = self.username
            kwargs["sasl_plain_password"] = self.password
        return kwargs

    def faust_credentials(self) -> CredentialsT | None:
        """faust's ``broker_credentials``: its consumer, producer and topic creation use them."""
        import faust

        if self.mechanism is not None:
            return faust.SASLCredentials(
                username=self.username,
                password=self.password,
                ssl_context=self.ssl_context,
                mechanism=self.mechanism,
            )
        if self.ssl_context is not None:
            return faust.SSLCredentials(self.ssl_context)
        return None


PLAINTEXT = KafkaSecurity()


@dataclass(frozen=True)
class KafkaConnection:
    """The brokers and how to talk to them; prints as the bootstrap servers."""

    bootstrap_servers: str
    security: KafkaSecurity = PLAINTEXT

    def client_kwargs(self) -> dict[str, Any]:
        return {"bootstrap_servers": self.bootstrap_servers, **self.security.client_kwargs()}

    def __str__(self) -> str:
        return self.bootstrap_servers


Brokers: TypeAlias = str | KafkaConnection
"""What the operations code is handed: a plain ``host:port`` list means plaintext."""


def client_kwargs(brokers: Brokers) -> dict[str, Any]:
    """``bootstrap_servers`` and the security keyword arguments of an aiokafka client."""
    if isinstance(brokers, KafkaConnection):
        return brokers.client_kwargs()
    return {"bootstrap_servers": brokers}


def kafka_security(settings: Settings) -> KafkaSecurity:
    """The security settings as one object; the checks have run when settings were read."""
    protocol = settings.kafka_security_protocol
    context = _ssl_context(settings) if protocol in TLS else None
    if protocol not in SASL:
        return KafkaSecurity(protocol, ssl_context=context)
    return KafkaSecurity(
        protocol,
        settings.kafka_sasl_mechanism,
        settings.kafka_sasl_username,
        settings.kafka_sasl_password.get_secret_value(),
        context,
    )


def kafka_connection(settings: Settings, bootstrap_servers: str | None = None) -> KafkaConnection:
    """The configured brokers (or ``bootstrap_servers``) with the configured security."""
    return KafkaConnection(
        bootstrap_servers or settings.kafka_bootstrap_servers, kafka_security(settings)
    )


def _ssl_context(settings: Settings) -> ssl.SSLContext:
    from aiokafka.helpers import create_ssl_context

    password = settings.kafka_ssl_key_password
    context: ssl.SSLContext = create_ssl_context(
        cafile=settings.kafka_ssl_cafile,
        certfile=settings.kafka_ssl_certfile,
        keyfile=settings.kafka_ssl_keyfile,
        password=password.get_secret_value() if password is not None else None,
    )
    context.check_hostname = settings.kafka_ssl_check_hostname
    return context
