"""SQL both ticket databases understand, with ``?`` placeholders, and rows to tickets.

The stores run these statements with their own drivers (PostgreSQL's swaps
the placeholders); only what the dialects spell differently lives in the store
modules (:class:`Dialect`).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import astuple, dataclass
from typing import Any

from ivr.tickets.model import (
    CALLBACK_CONNECTED,
    CALLBACK_REQUESTED,
    UTTERANCE,
    Disposition,
    Handling,
    Ticket,
    TicketEnd,
    TicketEvent,
    TicketNote,
    TicketQuery,
    TicketStart,
    TicketUpdate,
    WorkStatus,
)


@dataclass(frozen=True)
class Dialect:
    """The few expressions the two databases spell differently."""

    name: str
    bucket_15min: str  # integer 15-minute slot of ``started_at``


COLUMNS = (
    "id, call_id, worker_id, caller_number, called_number, plan_name, plan_version, "
    "started_at, answered_at, ended_at, disposition, end_reason, nodes, keys, recording_path, "
    "variables, satisfaction, intent, queue, wait_seconds, agent_id, ring_attempts, "
    "talk_seconds, transfer_method, work_status, assignee, external_id, external_url"
)

INSERT_TICKET = (
    "INSERT INTO tickets (call_id, worker_id, caller_number, called_number, "
    "plan_name, plan_version, started_at, disposition) VALUES (?,?,?,?,?,?,?,?) RETURNING id"
)

FINISH_TICKET = (
    "UPDATE tickets SET answered_at=?, ended_at=?, disposition=?, end_reason=?, "
    "nodes=?, keys=?, recording_path=?, variables=?, satisfaction=?, intent=?, queue=?, "
    "wait_seconds=?, agent_id=?, ring_attempts=?, talk_seconds=?, transfer_method=?, "
    "employee_id=?, transcript=?, unrecognised=?, unrecognised_count=?, "
    "callbacks_requested=?, callbacks_connected=? WHERE id=?"
)
# ``callbacks_connected`` counts the call's own events (written whole, so a closing
# replayed from the spool sets the same figure again); events appended after the
# call count in their own column, raised by each append. Neither write touches the
# other's column, so a callback attempt connected before the booking call ends
# (another number) or after it is counted once either way, in any order.

UPSERT_EVENT = (
    "INSERT INTO ticket_events (ticket_id, seq, at, kind, detail) VALUES (?,?,?,?,?) "
    "ON CONFLICT (ticket_id, seq) DO UPDATE "
    "SET at=excluded.at, kind=excluded.kind, detail=excluded.detail"
)

# Events added after the call (callback attempts) number from APPENDED_SEQ on, so the
# call's own events, written at its end, can never overwrite them.
APPENDED_SEQ = 1_000_000
APPEND_EVENT = (
    "INSERT INTO ticket_events (ticket_id, seq, at, kind, detail) "
    f"SELECT ?, COALESCE(MAX(seq), {APPENDED_SEQ - 1}) + 1, ?, ?, ? FROM ticket_events "
    f"WHERE ticket_id=? AND seq >= {APPENDED_SEQ}"
)

# Counters the stats read from the ticket row, kept in step with appended events.
COUNT_APPENDED = {
    CALLBACK_CONNECTED: "UPDATE tickets SET appended_callbacks_connected = "
    "appended_callbacks_connected + 1 WHERE id=?",
}

SELECT_TICKET = f"SELECT {COLUMNS} FROM tickets WHERE id=?"
# In time order: events appended after the call (seq from APPENDED_SEQ) may have
# happened during it (a callback to another number while the caller was on the line).
SELECT_EVENTS = "SELECT at, kind, detail FROM ticket_events WHERE ticket_id=? ORDER BY at, seq"
SELECT_NOTES = "SELECT at, text, author FROM ticket_notes WHERE ticket_id=? ORDER BY id"
INSERT_NOTE = "INSERT INTO ticket_notes (ticket_id, at, author, text) VALUES (?,?,?,?)"

INSERT_OUTBOX = (
    "INSERT INTO webhook_outbox (ticket_id, event, payload, created_at, consumer) "
    "VALUES (?,?,?,?,?)"
)
# Oldest first: delivery order is write order, so a ticket's events arrive in order.
SELECT_OUTBOX = (
    "SELECT id, ticket_id, event, payload, attempts FROM webhook_outbox "
    "WHERE consumer=? AND dead_at IS NULL ORDER BY id LIMIT ?"
)
SET_EXTERNAL = "UPDATE tickets SET external_id=?, external_url=? WHERE id=?"
DELETE_OUTBOX = "DELETE FROM webhook_outbox WHERE id=?"
OUTBOX_FAILED = "UPDATE webhook_outbox SET attempts=attempts+1, last_error=? WHERE id=?"
OUTBOX_DEAD = "UPDATE webhook_outbox SET attempts=attempts+1, last_error=?, dead_at=? WHERE id=?"


def finish_params(ticket_id: int, end: TicketEnd) -> tuple[Any, ...]:
    said = [e for e in end.events if e.kind == UTTERANCE]
    transcript = [_line(e.detail.get("text")) for e in said]
    # Newest first, as stats read them.
    unrecognised = [
        _line(e.detail.get("text")) for e in reversed(said) if e.detail.get("intent") is None
    ]
    kinds = Counter(e.kind for e in end.events)
    return (
        end.answered_at,
        end.ended_at,
        end.disposition.value,
        end.end_reason,
        json.dumps(list(end.nodes)),
        end.keys,
        end.recording_path,
        json.dumps(end.variables),
        end.satisfaction,
        *astuple(end.handling),
        end.variables.get("employee_id"),
        "\n".join(transcript),
        "\n".join(unrecognised),
        len(unrecognised),
        kinds[CALLBACK_REQUESTED],
        kinds[CALLBACK_CONNECTED],
        ticket_id,
    )


def _line(text: Any) -> str:
    return " ".join(str(text or "").split())


def event_rows(ticket_id: int, end: TicketEnd) -> list[tuple[Any, ...]]:
    return [
        (ticket_id, seq, e.at, e.kind, json.dumps(e.detail)) for seq, e in enumerate(end.events)
    ]


def insert_params(start: TicketStart) -> tuple[Any, ...]:
    return (
        start.call_id,
        start.worker_id,
        start.caller_number,
        start.called_number,
        start.plan_name,
        start.plan_version,
        start.started_at,
        Disposition.LIVE.value,
    )


def update_statements(ticket_id: int, update: TicketUpdate) -> list[tuple[str, tuple[Any, ...]]]:
    """The writes for one :class:`TicketUpdate`, to run in one transaction."""
    writes: list[tuple[str, tuple[Any, ...]]] = []
    if update.work_status is not None:
        writes.append(
            ("UPDATE tickets SET work_status=? WHERE id=?", (update.work_status.value, ticket_id))
        )
    if update.assignee is not None or update.unassign:
        writes.append(("UPDATE tickets SET assignee=? WHERE id=?", (update.assignee, ticket_id)))
    if update.note is not None:
        note = update.note
        writes.append((INSERT_NOTE, (ticket_id, note.at, note.author, note.text)))
    return writes


def _like_pattern(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def where_clause(query: TicketQuery) -> tuple[str, list[Any]]:
    """``WHERE ...`` (or empty) and its parameters for every filter ``query`` sets."""
    clauses: list[str] = []
    params: list[Any] = []
    equal = (
        ("caller_number", query.caller),
        ("employee_id", query.employee),
        ("intent", query.intent),
        ("disposition", query.disposition.value if query.disposition else None),
        ("queue", query.queue),
        ("agent_id", query.agent),
        ("work_status", query.work_status.value if query.work_status else None),
        ("assignee", query.assignee),
    )
    for column, value in equal:
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    if query.since is not None:
        clauses.append("started_at >= ?")
        params.append(query.since)
    if query.until is not None:
        clauses.append("started_at < ?")
        params.append(query.until)
    if query.text:
        clauses.append("lower(transcript) LIKE ? ESCAPE '\\'")
        params.append(_like_pattern(query.text))
    return (f"WHERE {' AND '.join(clauses)}" if clauses else ""), params


def search_sql(query: TicketQuery) -> tuple[str, list[Any]]:
    where, params = where_clause(query)
    sql = (
        f"SELECT {COLUMNS} FROM tickets {where} ORDER BY started_at DESC, id DESC LIMIT ? OFFSET ?"
    )
    return sql, [*params, query.limit, query.offset]


def count_sql(query: TicketQuery) -> tuple[str, list[Any]]:
    where, params = where_clause(query)
    return f"SELECT COUNT(*) FROM tickets {where}", params


def ticket_from_row(
    row: tuple[Any, ...],
    events: tuple[TicketEvent, ...] = (),
    notes: tuple[TicketNote, ...] = (),
) -> Ticket:
    (
        ticket_id,
        call_id,
        worker_id,
        caller,
        called,
        plan_name,
        plan_version,
        started_at,
        answered_at,
        ended_at,
        disposition,
        end_reason,
        nodes,
        keys,
        recording_path,
        variables,
        satisfaction,
        *rest,
    ) = row
    *handling, work_status, assignee, external_id, external_url = rest
    return Ticket(
        id=int(ticket_id),
        start=TicketStart(call_id, worker_id, caller, called, plan_name, plan_version, started_at),
        disposition=Disposition(disposition),
        answered_at=answered_at,
        ended_at=ended_at,
        end_reason=end_reason,
        nodes=tuple(json.loads(nodes)),
        keys=keys,
        recording_path=recording_path,
        events=events,
        variables=json.loads(variables),
        satisfaction=satisfaction,
        handling=Handling(*handling),
        work_status=WorkStatus(work_status),
        assignee=assignee,
        notes=notes,
        external_id=external_id,
        external_url=external_url,
    )


def events_from_rows(rows: list[tuple[Any, ...]]) -> tuple[TicketEvent, ...]:
    return tuple(TicketEvent(at, kind, json.loads(detail)) for at, kind, detail in rows)


def notes_from_rows(rows: list[tuple[Any, ...]]) -> tuple[TicketNote, ...]:
    return tuple(TicketNote(at, text, author) for at, text, author in rows)
