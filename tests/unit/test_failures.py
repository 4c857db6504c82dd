"""Which failures are retried and which are the message's: a retry that cannot succeed
stalls a partition; giving up on one that can drains a topic into the dead letters."""

from __future__ import annotations

import pytest
from aiokafka.errors import (
    KafkaConnectionError,
    MessageSizeTooLargeError,
    NotLeaderForPartitionError,
    TopicAuthorizationFailedError,
)
from faust.exceptions import ProducerSendError
from pymongo.errors import AutoReconnect, BulkWriteError, DuplicateKeyError, OperationFailure

from services.adapters.failures import is_transient

pytestmark = pytest.mark.unit


def wrapped(exc: Exception) -> Exception:
    try:
        raise ProducerSendError("send failed") from exc
    except ProducerSendError as outer:
        return outer


@pytest.mark.parametrize(
    "exc",
    [
        KafkaConnectionError(),
        NotLeaderForPartitionError(),
        AutoReconnect("primary went away"),
        TimeoutError(),
        ConnectionResetError(),
        OperationFailure("not authorized", 13),
        OperationFailure("out of disk space", 14031),
        BulkWriteError({"writeErrors": [{"code": 91, "index": 0}]}),
        BulkWriteError({"writeErrors": [], "writeConcernErrors": [{"code": 64}]}),
        wrapped(KafkaConnectionError()),
    ],
)
def test_what_can_succeed_later_is_retried(exc: Exception) -> None:
    assert is_transient(exc)


@pytest.mark.parametrize(
    "exc",
    [
        MessageSizeTooLargeError(),
        TopicAuthorizationFailedError(),
        wrapped(MessageSizeTooLargeError()),
        DuplicateKeyError("dup", 11000),
        BulkWriteError({"writeErrors": [{"code": 2, "index": 0}]}),
        ValueError("a bug"),
        OverflowError("int too large for BSON"),
    ],
)
def test_what_never_will_is_not(exc: Exception) -> None:
    assert not is_transient(exc)
