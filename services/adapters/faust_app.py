"""A faust app whose producer is idempotent, as every producer of the project is.

faust sets ``acks`` (``producer_acks=-1``) but turns on idempotence only inside
transactions, so a retried send after a broker failure could write a record twice.
With idempotence the broker drops the retry's copy (per producer and partition
sequence numbers), so a leader change costs nothing but a retry.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import faust
from faust.transport.drivers.aiokafka import Producer as AiokafkaFaustProducer
from faust.types import ProducerT


class IdempotentProducer(AiokafkaFaustProducer):
    def _settings_extra(self) -> Mapping[str, Any]:
        return {**super()._settings_extra(), "acks": "all", "enable_idempotence": True}


class IdempotentApp(faust.App):
    def _new_producer(self) -> ProducerT:
        return IdempotentProducer(self.transport, loop=self.loop, beacon=self.beacon)
