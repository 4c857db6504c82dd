"""Which failures can succeed on a retry, and which never will.

Retrying a permanent error (a message too large, a missing authorization, a bug) stalls
a partition for good; giving up on a transient one (a broker restart, a database that is
away) loses work. Everything the processors catch is sorted here, once.
"""

from __future__ import annotations

from aiokafka.errors import (
    KafkaConnectionError,
    KafkaError,
    KafkaTimeoutError,
    KafkaUnavailableError,
    ProducerClosed,
)
from pymongo.errors import (
    BulkWriteError,
    ConnectionFailure,
    CursorNotFound,
    ExecutionTimeout,
    OperationFailure,
    WaitQueueTimeoutError,
    WTimeoutError,
)

_TRANSIENT_KAFKA = (KafkaConnectionError, KafkaTimeoutError, KafkaUnavailableError, ProducerClosed)
_TRANSIENT_MONGO = (
    ConnectionFailure,  # AutoReconnect, NetworkTimeout, NotPrimaryError, server selection
    ExecutionTimeout,
    WTimeoutError,
    WaitQueueTimeoutError,
    CursorNotFound,
)
_RETRYABLE_MONGO_CODES = frozenset(
    {6, 7, 50, 89, 91, 112, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436}
)
"""Host unreachable/not found, time limits, write conflict, shutdown, not primary."""
_OPERATOR_MONGO_CODES = frozenset({13, 18, 64, 100, 14031})
"""Unauthorized, authentication failed, write concern failed or unsatisfiable, out of disk
space: no message is at fault, and the same write succeeds once someone fixes the server
or the credentials. Retried (loudly), never dead-lettered: otherwise one bad password
would drain every topic into the dead-letter topic."""


_RETRY_MONGO_CODES = _RETRYABLE_MONGO_CODES | _OPERATOR_MONGO_CODES


def is_transient(exc: BaseException) -> bool:
    """True when the same call can succeed later without anything changing in the data."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if _transient_itself(current):
            return True
        current = current.__cause__
    return False


def _transient_itself(exc: BaseException) -> bool:
    if isinstance(exc, _TRANSIENT_KAFKA + _TRANSIENT_MONGO):
        return True
    if isinstance(exc, KafkaError):
        return bool(getattr(exc, "retriable", False))
    if isinstance(exc, BulkWriteError):
        details = exc.details or {}
        written = {err.get("code") for err in details.get("writeErrors", [])}
        return bool(details.get("writeConcernErrors")) or bool(written & _RETRY_MONGO_CODES)
    if isinstance(exc, OperationFailure):
        labels = ("RetryableWriteError", "TransientTransactionError", "ResumableChangeStreamError")
        return exc.code in _RETRY_MONGO_CODES or any(exc.has_error_label(x) for x in labels)
    return isinstance(exc, TimeoutError | OSError)


def describe(exc: BaseException) -> str:
    """One line for a dead letter or a log: the type and the message, bounded."""
    return f"{type(exc).__name__}: {exc}"[:500]
