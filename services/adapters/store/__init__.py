"""The store: the only package that speaks MongoDB, a module per aggregate.

::

    protocol.py    StoreProtocol: every call the system makes; After, Cursor, DuePage, ReportScope
    connection.py  connect(), durability(): the client and its write/read concerns
    documents.py   reading stored documents back; duplicate keys told from failures
    mongo.py       Store: the collections, composed of the parts below
    reports.py     conditional writes, the outbox relay's queries and markers, due pages,
                   retention
    outcomes.py    refusals: of actions on missing reports, or that changed nothing
    archive.py     what long reports moved out: applied answers, history
    bounds.py      which answers and history stay inline, which move out
    rules.py       what MongoDB refuses, checked before every write
    quarantine.py  events the broker can never accept
    reference.py   prices, promotions, partner/distributor accounts, regions
    receipts.py    (message key, payload hash) of every inbound message
    api_keys.py    the read API's keys
    counters.py    processors' counters and the reports-per-status counts
    queries.py     the read API's lists (by skip or by key), CSV stream, one report, partner
                   directory
    memory.py      MemoryStore: the same protocol in memory, for fast tests
    matching.py    the MongoDB filter, sort and projection semantics MemoryStore needs
"""

from services.adapters.store.connection import connect, durability
from services.adapters.store.documents import DUPLICATE_KEY
from services.adapters.store.mongo import Store
from services.adapters.store.protocol import After, Cursor, DuePage, ReportScope, StoreProtocol
from services.adapters.store.queries import (
    LIST_PROJECTION,
    READ_PROJECTION,
    position,
    report_filter,
)
from services.adapters.store.reports import REPORT_INDEXES, WRITER_STAMP

__all__ = [
    "DUPLICATE_KEY",
    "LIST_PROJECTION",
    "READ_PROJECTION",
    "REPORT_INDEXES",
    "WRITER_STAMP",
    "After",
    "Cursor",
    "DuePage",
    "ReportScope",
    "Store",
    "StoreProtocol",
    "connect",
    "durability",
    "position",
    "report_filter",
]
