"""TLS and SASL for every Kafka client, translated from the one settings object.

Every client of the project (aiokafka consumers, producers and admin clients, and faust's
consumer and producer) is built from a ``KafkaConnection``: the bootstrap servers and
how to authenticate to them. The settings are checked when they are read, so a missing
password or an unreadable CA file stops the process at start with the setting's name.
"""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

if TYPE_CHECKING:
    from faust.types.auth import CredentialsT

    from services.settings import Settings

KafkaProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"]

_TLS = frozenset({"SSL", "SASL_SSL"})
_SASL = frozenset({"SASL_PLAINTEXT", "SASL_SSL"})


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
    context = _ssl_context(settings) if protocol in _TLS else None
    if protocol not in _SASL:
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


def check_kafka_security(settings: Settings) -> None:
    """Refuse settings that cannot work, naming the variable to fix (a ValueError)."""
    protocol = settings.kafka_security_protocol
    problems: list[str] = []
    if protocol != "PLAINTEXT" and not settings.kafka_bootstrap_servers:
        problems.append(
            f"KAFKA_SECURITY_PROTOCOL={protocol} needs KAFKA_BOOTSTRAP_SERVERS: "
            "the embedded broker listens in plaintext"
        )
    password = settings.kafka_sasl_password.get_secret_value()
    if protocol in _SASL:
        problems += [
            f"{name} is required with KAFKA_SECURITY_PROTOCOL={protocol}"
            for name, value in (
                ("KAFKA_SASL_USERNAME", settings.kafka_sasl_username),
                ("KAFKA_SASL_PASSWORD", password),
            )
            if not value
        ]
    elif settings.kafka_sasl_username or password:
        problems.append(
            f"KAFKA_SASL_USERNAME/PASSWORD are set but KAFKA_SECURITY_PROTOCOL={protocol} "
            "does not authenticate with SASL: use SASL_SSL or SASL_PLAINTEXT"
        )
    files = {
        "KAFKA_SSL_CAFILE": settings.kafka_ssl_cafile,
        "KAFKA_SSL_CERTFILE": settings.kafka_ssl_certfile,
        "KAFKA_SSL_KEYFILE": settings.kafka_ssl_keyfile,
    }
    given = {name: path for name, path in files.items() if path is not None}
    if given and protocol not in _TLS:
        problems.append(
            f"{', '.join(given)} set but KAFKA_SECURITY_PROTOCOL={protocol} does not use TLS: "
            "use SSL or SASL_SSL"
        )
    if settings.kafka_ssl_keyfile is not None and settings.kafka_ssl_certfile is None:
        problems.append("KAFKA_SSL_KEYFILE is set without KAFKA_SSL_CERTFILE")
    problems += [
        f"{name}={path}: {why}" for name, path in given.items() if (why := _unreadable(path))
    ]
    if not problems and protocol in _TLS:
        problems += _tls_problems(settings)
    if problems:
        raise ValueError("\n".join(problems))


def _unreadable(path: Path) -> str | None:
    if not path.is_file():
        return "no such file"
    if not os.access(path, os.R_OK):
        return "not readable by this process"
    return None


def _tls_problems(settings: Settings) -> list[str]:
    """Load the CA and the client certificate once, as the clients will."""
    problems = []
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    if settings.kafka_ssl_cafile is not None:
        try:
            context.load_verify_locations(cafile=settings.kafka_ssl_cafile)
        except (ssl.SSLError, ValueError) as exc:
            problems.append(
                f"KAFKA_SSL_CAFILE={settings.kafka_ssl_cafile}: not a PEM CA bundle ({exc})"
            )
    if settings.kafka_ssl_certfile is not None:
        password = settings.kafka_ssl_key_password
        try:
            context.load_cert_chain(
                settings.kafka_ssl_certfile,
                settings.kafka_ssl_keyfile,
                password.get_secret_value() if password is not None else None,
            )
        except (ssl.SSLError, ValueError) as exc:
            problems.append(
                f"KAFKA_SSL_CERTFILE={settings.kafka_ssl_certfile}: the client certificate and "
                f"key do not load (wrong file, key or KAFKA_SSL_KEY_PASSWORD: {exc})"
            )
    return problems
