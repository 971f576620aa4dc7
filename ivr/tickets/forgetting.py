"""Forgetting personal data: one caller's on request, everyone's after retention.

A ticket keeps its shape (times, path, disposition, intent, queue, agent) so
the figures stay right; what identifies or quotes the caller goes: the number,
typed keys, variables, transcript, agent notes, the recording. Both stores run
the same two steps: the reads below in one transaction, then the writes
:func:`writes` derives from what was read, in another. Every write is
idempotent, so a sweep cut off half-way is finished by the next one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ivr.tickets.model import UTTERANCE

BATCH = 500  # tickets per transaction: a long sweep never holds the database for long

# Event details that say what happened without saying who or what was said.
_KEPT_ON_ERASURE = frozenset(
    {
        "node",
        "intent",
        "confidence",
        "best",
        "reason",
        "queue",
        "place",
        "agent",
        "claim",
        "outcome",
        "request",
        "attempt",
        "started_at",
        "ended_at",
        "decode_ms",
        "ended_by",
        "at",
    }
)
ERASED_VARIABLES = json.dumps({"personal_data": "erased on request"})


@dataclass(frozen=True)
class Forget:
    """One forgetting step; exactly one field is set."""

    caller_number: str | None = None  # erase this caller's personal data
    recordings_before: float | None = None  # drop recordings of calls started before (Unix s)
    transcripts_before: float | None = None  # drop transcripts of calls started before


@dataclass(frozen=True)
class CallFiles:
    """Where a call's recording and messages are: its worker's node, its day folder."""

    ticket_id: int
    worker_id: str  # the worker that wrote the files (its node deletes them)
    started_at: float  # Unix seconds


@dataclass(frozen=True)
class Forgotten:
    tickets: int  # tickets changed in this step
    files: tuple[CallFiles, ...]  # recordings and messages the caller of ``forget`` deletes
    more: bool  # a full batch: call again for the rest


Statement = tuple[str, tuple[Any, ...]]
Batch = tuple[str, list[tuple[Any, ...]]]


def _selected(spec: Forget) -> tuple[str, tuple[Any, ...]]:
    """The tickets this step works on, as a WHERE clause over ``tickets``."""
    if spec.caller_number is not None:
        return "caller_number = ?", (spec.caller_number,)
    if spec.recordings_before is not None:
        return "started_at < ? AND recording_path IS NOT NULL", (spec.recordings_before,)
    if spec.transcripts_before is not None:
        return (
            "started_at < ? AND (transcript <> '' OR unrecognised <> '')",
            (spec.transcripts_before,),
        )
    raise ValueError("Forget needs a caller_number or a cutoff")


def reads(spec: Forget) -> list[Statement]:
    """The tickets (id, worker, start) then the events to rewrite (ticket, seq, kind, detail)."""
    where, params = _selected(spec)
    ids = f"SELECT id FROM tickets WHERE {where} ORDER BY id LIMIT {BATCH}"
    tickets = f"SELECT id, worker_id, started_at FROM tickets WHERE id IN ({ids})"
    events = f"SELECT ticket_id, seq, kind, detail FROM ticket_events WHERE ticket_id IN ({ids})"
    if spec.recordings_before is not None:
        return [(tickets, params)]
    if spec.transcripts_before is not None:
        events += f" AND kind = '{UTTERANCE}'"
    return [(tickets, params), (events, params)]


def writes(spec: Forget, results: list[list[tuple[Any, ...]]]) -> tuple[list[Batch], Forgotten]:
    """The statements (for ``executemany``) that forget what ``reads`` found."""
    tickets = results[0]
    ticket_ids = [(row[0],) for row in tickets]
    files = tuple(CallFiles(int(row[0]), str(row[1]), float(row[2])) for row in tickets)
    batches: list[Batch] = []
    if spec.recordings_before is not None:
        batches.append(("UPDATE tickets SET recording_path = NULL WHERE id = ?", ticket_ids))
    elif spec.transcripts_before is not None:
        batches.append((_SET_DETAIL, _rewritten(results[1], _without_text)))
        batches.append((_DROP_TRANSCRIPT, ticket_ids))
    else:
        batches.append((_SET_DETAIL, _rewritten(results[1], _erased)))
        batches.append(("DELETE FROM ticket_notes WHERE ticket_id = ?", ticket_ids))
        batches.append(("DELETE FROM webhook_outbox WHERE ticket_id = ?", ticket_ids))
        # Last: until the number is gone, a repeated request finds these tickets again.
        batches.append((_ERASE_TICKET, [(ERASED_VARIABLES, *row) for row in ticket_ids]))
    forgotten = Forgotten(len(tickets), files, more=len(tickets) == BATCH)
    return [b for b in batches if b[1]], forgotten


_SET_DETAIL = "UPDATE ticket_events SET detail = ? WHERE ticket_id = ? AND seq = ?"
_DROP_TRANSCRIPT = "UPDATE tickets SET transcript = '', unrecognised = '' WHERE id = ?"
_ERASE_TICKET = (
    "UPDATE tickets SET caller_number = '', recording_path = NULL, keys = '', variables = ?, "
    "employee_id = NULL, transcript = '', unrecognised = '' WHERE id = ?"
)


def _rewritten(rows: list[tuple[Any, ...]], scrub: Any) -> list[tuple[Any, ...]]:
    changed = []
    for ticket_id, seq, kind, detail in rows:
        before = _detail(detail)
        after = scrub(str(kind), before)
        if after != before:
            changed.append((json.dumps(after), ticket_id, seq))
    return changed


def _detail(text: Any) -> dict[str, Any]:
    try:
        value = json.loads(text) if isinstance(text, str) else text
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _without_text(kind: str, detail: dict[str, Any]) -> dict[str, Any]:
    if "text" not in detail:
        return detail
    return {**{k: v for k, v in detail.items() if k != "text"}, "text_removed": "retention"}


def _erased(kind: str, detail: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in detail.items() if k in _KEPT_ON_ERASURE}
