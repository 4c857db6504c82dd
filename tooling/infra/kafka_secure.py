"""An optional listener of the embedded broker that authenticates its clients.

Beside the plaintext listener (the broker's own, and the local tooling's), a broker may
listen on a second port where clients log in with SASL (SCRAM-SHA-512, SCRAM-SHA-256 or
PLAIN), over TLS when given a certificate, and where an authorizer applies ACLs. This is
how a managed cluster looks to the processors, so the same settings reach both.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from tooling.infra.process import InfraError

LISTENER = "SECURE"
SCRAM_MECHANISMS = ("SCRAM-SHA-512", "SCRAM-SHA-256")
MECHANISMS = (*SCRAM_MECHANISMS, "PLAIN")
AUTHORIZER = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
BROKER_PRINCIPAL = "User:ANONYMOUS"
"""Who the plaintext and controller listeners see; the broker itself talks through them."""

_PLAIN_WORD = re.compile(r"^[A-Za-z0-9._-]+$")


@dataclass(frozen=True)
class BrokerTls:
    """The broker's PEM certificate chain and PKCS#8 key; ``ca`` checks client certificates."""

    certificate_chain: Path
    private_key: Path
    ca: Path | None = None
    client_auth: Literal["none", "requested", "required"] = "requested"


@dataclass(frozen=True)
class SecureListener:
    """A SASL listener (SASL_SSL with ``tls``, else SASL_PLAINTEXT) and who may log in."""

    port: int
    users: Mapping[str, str]
    """User name -> password, for every mechanism; created when the storage is formatted."""
    tls: BrokerTls | None = None
    authorizer: bool = False
    """Apply ACLs on every listener; no ACL means no access (except for super users)."""
    super_users: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        for name, password in self.users.items():
            if not (_PLAIN_WORD.match(name) and _PLAIN_WORD.match(password)):
                raise InfraError(
                    f"SCRAM user {name!r}: names and passwords of the embedded broker's "
                    "users are letters, digits, '.', '_' and '-'"
                )

    @property
    def protocol(self) -> str:
        return "SASL_SSL" if self.tls is not None else "SASL_PLAINTEXT"

    def server_properties(self) -> dict[str, str]:
        """Settings added to server.properties; listeners are joined by the caller."""
        prefix = f"listener.name.{LISTENER.lower()}"
        plain_users = " ".join(f'user_{name}="{pw}"' for name, pw in self.users.items())
        props = {
            f"{prefix}.sasl.enabled.mechanisms": ",".join(MECHANISMS),
            **{
                f"{prefix}.{m.lower()}.sasl.jaas.config": (
                    "org.apache.kafka.common.security.scram.ScramLoginModule required;"
                )
                for m in SCRAM_MECHANISMS
            },
            f"{prefix}.plain.sasl.jaas.config": (
                f"org.apache.kafka.common.security.plain.PlainLoginModule required {plain_users};"
            ),
        }
        if self.tls is not None:
            props |= _tls_properties(prefix, self.tls)
        if self.authorizer:
            props |= {
                "authorizer.class.name": AUTHORIZER,
                "allow.everyone.if.no.acl.found": "false",
                "super.users": ";".join(dict.fromkeys((BROKER_PRINCIPAL, *self.super_users))),
            }
        return props

    def format_arguments(self) -> list[str]:
        """``kafka-storage format`` arguments creating the SCRAM users."""
        return [
            argument
            for name, password in self.users.items()
            for mechanism in SCRAM_MECHANISMS
            for argument in ("--add-scram", f"{mechanism}=[name={name},password={password}]")
        ]


def _tls_properties(prefix: str, tls: BrokerTls) -> dict[str, str]:
    """A PEM keystore given inline (a PEM file keystore would need an encrypted key)."""
    props = {
        f"{prefix}.ssl.keystore.type": "PEM",
        f"{prefix}.ssl.keystore.certificate.chain": _inline(tls.certificate_chain),
        f"{prefix}.ssl.keystore.key": _inline(tls.private_key),
        f"{prefix}.ssl.client.auth": tls.client_auth,
    }
    if tls.ca is not None:
        props |= {
            f"{prefix}.ssl.truststore.type": "PEM",
            f"{prefix}.ssl.truststore.certificates": _inline(tls.ca),
        }
    return props


def _inline(path: Path) -> str:
    """A PEM file as one properties value (``\\n`` is a newline to java.util.Properties)."""
    try:
        text = path.read_text().strip()
    except OSError as exc:
        raise InfraError(f"cannot read {path} for the broker's TLS listener: {exc}") from exc
    return text.replace("\\", "\\\\").replace("\n", "\\n")
