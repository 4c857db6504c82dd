"""API keys: made once, shown once, stored as a hash; and who a caller is.

A key reads ``lmp_<key id>_<secret>``. The id finds the stored key in one indexed
lookup; the secret's SHA-256 is compared in constant time. The secret is 256 random
bits, so a fast hash is enough (slow hashes exist for guessable passwords).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

from schemas.api import ApiKey, Role
from services.adapters.store import ReportScope
from services.api.recent import RecentlyRead

PREFIX = "lmp"


class Unauthorized(Exception):
    """401: no key, or a key that is unknown, malformed or revoked."""


class Forbidden(Exception):
    """403: a valid key whose role or account may not see this."""


@dataclass(frozen=True)
class Caller:
    key_id: str
    role: Role
    account_id: str | None

    @property
    def scope(self) -> ReportScope:
        if self.role is Role.DISTRIBUTOR:
            return ReportScope(distributor_id=self.account_id)
        if self.role is Role.PARTNER:
            return ReportScope(partner_id=self.account_id)
        return ReportScope()


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_key(role: Role, account_id: str | None, name: str, now: datetime) -> tuple[str, ApiKey]:
    """The plaintext key (to show once) and what is stored of it."""
    if role is Role.OPERATIONS and account_id:
        raise ValueError("an operations key reads everything; it takes no account")
    if role is not Role.OPERATIONS and not account_id:
        raise ValueError(f"a {role.value} key needs the {role.value}'s account id")
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    stored = ApiKey(
        key_id=key_id,
        secret_sha256=_digest(secret),
        role=role,
        account_id=account_id,
        name=name,
        created_at=now,
    )
    return f"{PREFIX}_{key_id}_{secret}", stored


def presented_key(authorization: str | None, api_key_header: str | None) -> str:
    """The key from ``Authorization: Bearer`` or ``X-API-Key``.

    Either header will do; a caller sending both must name the same key in both. Two
    credentials that disagree, or one that is malformed beside a good one, are refused:
    answering for either would act on a credential the caller may not have meant.
    """
    presented: list[str] = []
    if api_key_header is not None:
        key = api_key_header.strip()
        if not key:
            raise Unauthorized("X-API-Key is empty")
        presented.append(key)
    if authorization is not None:
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise Unauthorized("Authorization takes 'Bearer <key>' (the only scheme accepted)")
        presented.append(value.strip())
    if not presented:
        raise Unauthorized(
            "an API key is required: send 'Authorization: Bearer <key>' or X-API-Key"
        )
    if len(set(presented)) > 1:
        raise Unauthorized("Authorization and X-API-Key name different keys: send one key")
    return presented[0]


class KnownKeys(RecentlyRead[str, ApiKey]):
    """Stored keys read lately: each is read from the database at most once per ``ttl``
    seconds in a process. A revocation therefore takes effect within ``ttl`` (0 reads
    every time); a key id not found is asked for again on every request, so a new key
    works at once."""


async def authenticate(keys: KnownKeys, plaintext: str) -> Caller:
    prefix, _, rest = plaintext.partition("_")
    key_id, _, secret = rest.partition("_")
    if prefix != PREFIX or not key_id or not secret:
        raise Unauthorized("this is not an lmp-billing API key")
    stored = await keys.get(key_id)
    if stored is None or not hmac.compare_digest(stored.secret_sha256, _digest(secret)):
        raise Unauthorized("unknown API key")
    if stored.revoked_at is not None:
        raise Unauthorized(f"API key {key_id} was revoked on {stored.revoked_at:%Y-%m-%d}")
    return Caller(key_id=stored.key_id, role=stored.role, account_id=stored.account_id)
