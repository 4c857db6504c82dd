"""The ACLs each party needs on a cluster with an authorizer, derived and applied.

Derived, not listed by hand: topics.yaml names who produces and consumes each topic, the
processors declare the topics they read, and the tooling's needs follow from what its
commands do. ``lmp-billing topics acls`` prints the result; ``--apply`` creates it with
CreateAcls requests (aiokafka 0.14 has the protocol messages but no admin method).
Read and Write imply Describe on a topic, so Describe is named only where it is alone.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from aiokafka.client import AIOKafkaClient
from aiokafka.errors import for_code
from aiokafka.protocol.admin import CreateAclsRequest_v1
from aiokafka.protocol.api import Request

from services.adapters.catalogue import Catalogue
from services.adapters.kafka_security import Brokers, client_kwargs

Resource = Literal["topic", "group", "cluster"]

CLUSTER = "kafka-cluster"
OPERATIONS_PARTY = "operations"
READ_API_PARTY = "read-api"
EVERY_PROCESSOR = "every processor"
GROUPS_OF_NAMES = {"portals": ("partner portal", "distributor portal")}
"""Collective names topics.yaml uses for several parties."""

# Kafka's wire codes (org.apache.kafka.common.acl / resource).
_RESOURCE_CODES = {"topic": 2, "group": 3, "cluster": 4}
_OPERATION_CODES = {
    "All": 2,
    "Read": 3,
    "Write": 4,
    "Create": 5,
    "Delete": 6,
    "Alter": 7,
    "Describe": 8,
    "DescribeConfigs": 10,
    "AlterConfigs": 11,
    "IdempotentWrite": 12,
}
_LITERAL, _PREFIXED = 3, 4
_ALLOW = 3
_ANY_HOST = "*"


@dataclass(frozen=True, order=True)
class Acl:
    """One allow rule: principal may do operation on a resource (name, or names from prefix)."""

    principal: str
    resource: Resource
    name: str
    prefixed: bool
    operation: str


@dataclass(frozen=True)
class Grant:
    """Operations one party has on some resources, and why it needs them."""

    party: str
    principal: str
    operations: tuple[str, ...]
    resource: Resource
    names: tuple[str, ...]
    prefixed: bool
    why: str

    def acls(self) -> list[Acl]:
        return [
            Acl(self.principal, self.resource, name, self.prefixed, op)
            for name in self.names
            for op in self.operations
        ]

    def describe(self) -> str:
        star = "*" if self.prefixed else ""
        return ", ".join(f"{name}{star}" for name in self.names)


def party_name(words: str) -> str:
    """``Trend Micro back office`` -> ``trend-micro-back-office``: a party's handle."""
    return re.sub(r"[^a-z0-9]+", "-", words.lower()).strip("-")


class UnknownParty(ValueError):
    pass


@dataclass
class _Needs:
    """Per party: resource -> operations, with the reasons, before they are grouped."""

    ops: dict[tuple[Resource, str, bool], set[str]]
    why: dict[tuple[Resource, str, bool], str]

    def add(
        self, resource: Resource, name: str, prefixed: bool, ops: Iterable[str], why: str
    ) -> None:
        key = (resource, name, prefixed)
        self.ops.setdefault(key, set()).update(ops)
        self.why.setdefault(key, why)


def plan_acls(  # noqa: C901 - one table of who may do what, a branch per kind of principal
    catalogue: Catalogue,
    processors: Mapping[str, Sequence[str]],
    group_prefix: str,
    principals: Mapping[str, str] | None = None,
) -> list[Grant]:
    """Every party's grants. ``processors`` maps each processor to the contract topics it
    reads (its declaration); ``principals`` overrides the default ``User:<party>``."""
    needs: dict[str, _Needs] = defaultdict(lambda: _Needs({}, {}))
    every_topic = list(catalogue.topics)

    def parties(names: Iterable[str]) -> list[str]:
        found: list[str] = []
        for name in names:
            if name == EVERY_PROCESSOR:
                found += processors
            else:
                found += [party_name(n) for n in GROUPS_OF_NAMES.get(name, (name,))]
        return found

    for topic, spec in catalogue.topics.items():
        contract = catalogue.contract_name(topic)
        for party in parties(spec.producers):
            needs[party].add("topic", topic, False, ["Write"], f"produces to {contract}")
        for party in parties(spec.consumers):
            needs[party].add("topic", topic, False, ["Read"], f"consumes {contract}")
            if party not in processors and party != OPERATIONS_PARTY:
                needs[party].add(
                    "group", party, True, ["Read"], "its consumer groups, named <party>..."
                )
    for name, reads in processors.items():
        own = f"{group_prefix}-{name}"
        for contract in reads:
            needs[name].add(
                "topic", catalogue.physical(contract), False, ["Read"], "declared input"
            )
        needs[name].add("group", own, True, ["Read"], "its consumer group and faust's worker group")
        needs[name].add(
            "topic",
            own,
            True,
            ["Create", "Read", "Write"],
            "faust's internal topics (leader election)",
        )
        for topic in every_topic:
            needs[name].add("topic", topic, False, ["Describe"], "checks the catalogue at start")
        needs[name].add("cluster", CLUSTER, False, ["IdempotentWrite"], "idempotent producer")
    for topic in every_topic:
        needs[OPERATIONS_PARTY].add(
            "topic",
            topic,
            False,
            ["Create", "Read", "Write", "DescribeConfigs"],
            "topics ensure/list, tail, dlq replay, outbox retry",
        )
        needs[READ_API_PARTY].add("topic", topic, False, ["Describe"], "consumer lag")
    for party in (OPERATIONS_PARTY, READ_API_PARTY):
        needs[party].add("group", group_prefix, True, ["Describe"], "consumer lag")
        needs[party].add("cluster", CLUSTER, False, ["Describe"], "cluster and group listing")
    # Outside parties first, then the processors, then the tooling.
    rank = dict.fromkeys(processors, 1) | {OPERATIONS_PARTY: 2, READ_API_PARTY: 2}
    ordered = dict(sorted(needs.items(), key=lambda item: rank.get(item[0], 0)))
    return _grants(ordered, _principals(ordered, principals or {}))


def _principals(needs: Mapping[str, Any], given: Mapping[str, str]) -> dict[str, str]:
    unknown = sorted(set(given) - set(needs))
    if unknown:
        raise UnknownParty(
            f"unknown part{'ies' if len(unknown) > 1 else 'y'} {', '.join(unknown)}; "
            f"known: {', '.join(needs)}"
        )
    for party, principal in given.items():
        if ":" not in principal:
            raise UnknownParty(f"principal of {party} must read TYPE:NAME (User:{principal})")
    return {party: given.get(party, f"User:{party}") for party in needs}


def _grants(needs: Mapping[str, _Needs], principals: Mapping[str, str]) -> list[Grant]:
    """One grant per party, resource kind, pattern and set of operations."""
    grants = []
    for party, party_needs in needs.items():
        grouped: dict[tuple[Resource, bool, tuple[str, ...]], list[str]] = defaultdict(list)
        reasons: dict[tuple[Resource, bool, tuple[str, ...]], list[str]] = defaultdict(list)
        for (resource, name, prefixed), ops in party_needs.ops.items():
            key = (resource, prefixed, _ordered(ops))
            grouped[key].append(name)
            why = party_needs.why[(resource, name, prefixed)]
            if why not in reasons[key]:
                reasons[key].append(why)
        for (resource, prefixed, operations), names in grouped.items():
            grants.append(
                Grant(
                    party,
                    principals[party],
                    operations,
                    resource,
                    tuple(names),
                    prefixed,
                    "; ".join(reasons[(resource, prefixed, operations)]),
                )
            )
    return grants


def _ordered(ops: Iterable[str]) -> tuple[str, ...]:
    """Operations in Kafka's order; Describe dropped where Read or Write implies it."""
    wanted = set(ops)
    if wanted & {"Read", "Write"}:
        wanted.discard("Describe")
    return tuple(op for op in _OPERATION_CODES if op in wanted)


def render(grants: Sequence[Grant]) -> str:
    rows = [("PARTY", "PRINCIPAL", "OPERATIONS", "RESOURCE", "NAMES (* = prefix)")]
    rows += [
        (g.party, g.principal, ",".join(g.operations), g.resource, g.describe()) for g in grants
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row[:4], widths, strict=True)) + "  " + row[4]
        for row in rows
    )


class _CreateAcls(Request[CreateAclsRequest_v1]):  # type: ignore[misc]
    """CreateAcls with many rules in one request (aiokafka's builder sends one)."""

    API_KEY = 30

    def __init__(self, acls: Sequence[Acl]) -> None:
        self._acls = acls

    def build(self, request_struct_class: type[CreateAclsRequest_v1]) -> CreateAclsRequest_v1:
        return request_struct_class([_creation(acl) for acl in self._acls])


def _creation(acl: Acl) -> tuple[int, str, int, str, str, int, int]:
    pattern = _PREFIXED if acl.prefixed else _LITERAL
    operation = _OPERATION_CODES[acl.operation]
    return (
        _RESOURCE_CODES[acl.resource],
        acl.name,
        pattern,
        acl.principal,
        _ANY_HOST,
        operation,
        _ALLOW,
    )


class AclError(RuntimeError):
    pass


async def apply_acls(brokers: Brokers, acls: Sequence[Acl]) -> int:
    """Create ``acls`` (creating one that exists changes nothing); returns how many.

    The connecting principal needs Alter on the cluster (a super user, in practice).
    """
    client = AIOKafkaClient(**client_kwargs(brokers))
    try:
        await client.bootstrap()
        response = await client.send(client.get_random_node(), _CreateAcls(acls))
    finally:
        await client.close()
    failed = [
        f"{acl.principal} {acl.operation} {acl.resource} {acl.name}: "
        f"{for_code(code).__name__}{f' ({message})' if message else ''}"
        for acl, (code, message) in zip(acls, response.creation_responses, strict=True)
        if code != 0
    ]
    if failed:
        raise AclError(f"{len(failed)} of {len(acls)} ACLs were refused:\n" + "\n".join(failed))
    return len(acls)
