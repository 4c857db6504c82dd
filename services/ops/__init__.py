"""Operators' view of the live topics: catalogue status, tailing messages, dead-letter
replay, quarantined outbound events.

Everything here reads the broker without a consumer group, so looking never moves a
processor's offsets. ``reading`` reads topics (``merge`` merges partitions in time order),
``messages`` decodes and filters what was read, ``render`` prints it, ``tailing`` is ``tail``,
``letters`` and ``replay`` handle the dead-letter topic, ``status`` renders
``topics list`` and ``outbox`` the quarantined outbound events.
"""

from services.ops.letters import (
    REPLAY_CLOCK_MARGIN,
    dead_letter_row,
    dead_letters,
    find_replays,
    list_dead_letters,
    position_text,
    replay_marker,
)
from services.ops.merge import MERGE_BUFFER
from services.ops.messages import (
    REPLAYED_FROM,
    MessageFilter,
    TailedMessage,
    letter_bytes,
    read_message,
)
from services.ops.outbox import list_quarantined, retry_quarantined
from services.ops.reading import (
    OpsError,
    Position,
    TopicRecord,
    read_at,
    read_records,
    resolve_topics,
)
from services.ops.render import json_object, summary, text_line
from services.ops.replay import Replay, ReplayRequest, replay_dead_letters
from services.ops.status import status_json, status_text
from services.ops.tailing import TailRequest, tail

__all__ = [
    "MERGE_BUFFER",
    "REPLAYED_FROM",
    "REPLAY_CLOCK_MARGIN",
    "MessageFilter",
    "OpsError",
    "Position",
    "Replay",
    "ReplayRequest",
    "TailRequest",
    "TailedMessage",
    "TopicRecord",
    "dead_letter_row",
    "dead_letters",
    "find_replays",
    "json_object",
    "letter_bytes",
    "list_dead_letters",
    "list_quarantined",
    "position_text",
    "read_at",
    "read_message",
    "read_records",
    "replay_dead_letters",
    "replay_marker",
    "resolve_topics",
    "retry_quarantined",
    "status_json",
    "status_text",
    "summary",
    "tail",
    "text_line",
]
