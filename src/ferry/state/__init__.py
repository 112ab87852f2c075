"""ferry's state: the SQLite ledger (one writer thread) and its read helpers."""

from ferry.state.ledger import (
    BAD,
    DONE,
    REMOVED,
    STATE_OF_ACTION,
    STATES,
    TRANSIENT,
    Call,
    LedgerWriter,
    Planned,
    RunNotes,
    Transition,
    connect,
)
from ferry.state.migrations import SCHEMA_VERSION
from ferry.state.reader import GroupSummary, ItemRow, LedgerReader, RunRow
from ferry.state.upsert import Upsert, UpsertStatement

__all__ = [
    "BAD",
    "DONE",
    "REMOVED",
    "SCHEMA_VERSION",
    "STATES",
    "STATE_OF_ACTION",
    "TRANSIENT",
    "Call",
    "GroupSummary",
    "ItemRow",
    "LedgerReader",
    "LedgerWriter",
    "Planned",
    "RunNotes",
    "RunRow",
    "Transition",
    "Upsert",
    "UpsertStatement",
    "connect",
]
