"""Kafka's security settings: the protocols, the SASL mechanisms and the check that they
hold together, run when the settings are read (the clients are built from them by
``services.adapters.kafka_security``)."""

from __future__ import annotations

import os
import ssl
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from services.settings import Settings

KafkaProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"]

TLS = frozenset({"SSL", "SASL_SSL"})
"""The protocols that use TLS."""
SASL = frozenset({"SASL_PLAINTEXT", "SASL_SSL"})
"""The protocols that authenticate with SASL."""


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
    if protocol in SASL:
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
    if given and protocol not in TLS:
        problems.append(
            f"{', '.join(given)} set but KAFKA_SECURITY_PROTOCOL={protocol} does not use TLS: "
            "use SSL or SASL_SSL"
        )
    if settings.kafka_ssl_keyfile is not None and settings.kafka_ssl_certfile is None:
        problems.append("KAFKA_SSL_KEYFILE is set without KAFKA_SSL_CERTFILE")
    problems += [
        f"{name}={path}: {why}" for name, path in given.items() if (why := _unreadable(path))
    ]
    if not problems and protocol in TLS:
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
