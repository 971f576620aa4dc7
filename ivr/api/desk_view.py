"""What one agent's desk shows, as JSON: their state, their queues, and their call.

The call is the record the worker carrying it keeps in Redis
(:mod:`ivr.agents.desk_calls`): who is calling (the directory's name, department
and employee id; the number masked unless ``privacy.mask_desk_numbers`` is off),
the path through the plan with the keys and what was said at each step, the
wait, whether it is a callback and which attempt, and the caller's last tickets.
A callback's path is the booking call's, read from its ticket. A call handed on by
an escalation says by whom (``escalated``); the agent's own escalation of it shows as
it goes (``escalation``). The agent part carries the end of a wrap-up (the page counts
it down), and ``callbacks`` the bookings coming to the agent (:mod:`ivr.api.desk_callbacks`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

from redis.exceptions import RedisError

from callback.requests import CallbackRequests
from ivr.agents.board import AgentView
from ivr.agents.desk_calls import ENDED, MISSED, DeskCall, DeskCalls, caller_fields, ivr_steps
from ivr.agents.queues import QueueDesk
from ivr.api.desk_callbacks import my_callbacks
from ivr.exceptions import IvrError
from ivr.privacy.masking import KEPT_DIGITS
from ivr.tickets.json_view import iso
from ivr.tickets.model import Ticket, TicketQuery
from ivr.tickets.store import TicketStore

HISTORY_SIZE = 5  # the caller's last tickets on the desk
QUEUES_MAX_AGE_SECONDS = 1.0  # queue figures cost several reads: at most once a second


def masked_number(number: str) -> str:
    """``13812345678`` -> ``*********78``: the last two digits, as in the logs."""
    if len(number) <= KEPT_DIGITS:
        return number
    return "*" * (len(number) - KEPT_DIGITS) + number[-KEPT_DIGITS:]


@dataclass
class DeskSources:
    """What the desk reads, shared by every desk the API serves."""

    desk: QueueDesk
    calls: DeskCalls
    tickets: TicketStore
    mask_numbers: bool = True
    callbacks: CallbackRequests | None = None  # "my callbacks"; None: not shown

    def dispositions(self, queue: str | None) -> list[str]:
        settings = self.desk.settings.get(queue or "")
        return [] if settings is None else list(settings.dispositions)

    def number(self, number: str) -> str:
        return masked_number(number) if self.mask_numbers else number


@dataclass
class DeskReads:
    """One open desk's reads that need not be repeated every check: the queue
    figures (a second old at most) and each call's tickets (read once a call)."""

    queues_at: float = -math.inf
    queues: list[dict[str, Any]] | None = None
    call_key: tuple[str, bool] | None = None
    call_extra: dict[str, Any] = field(default_factory=dict)
    callbacks: list[dict[str, Any]] | None = None  # read with the queue figures


def agent_json(view: AgentView) -> dict[str, Any]:
    return {
        "id": view.id,
        "name": view.name,
        "state": view.state.value,
        "since": iso(view.since or None),
        "break_requested": view.break_requested,
        "break_at": iso(view.break_at or None),  # a held break: when the forecast lets it start
        "reason": view.reason,
        "queues": list(view.queues),
        "wrap_up_until": iso(view.wrap_up_until or None),
    }


async def queues_json(sources: DeskSources, view: AgentView) -> list[dict[str, Any]]:
    views = await sources.desk.board.views()
    found = []
    for name in view.queues:
        status = await sources.desk.status(name, views)
        wait = status.estimated_wait_seconds
        found.append(
            {
                "name": name,
                "waiting": status.waiting,
                "longest_wait_seconds": round(status.longest_wait_seconds, 1),
                "estimated_wait_seconds": None if math.isinf(wait) else round(wait, 1),
                "agents_available": status.agents_available,
                "agents_staffed": status.agents_staffed,
            }
        )
    return found


def _history_json(ticket: Ticket) -> dict[str, Any]:
    return {
        "id": ticket.id,
        "started_at": iso(ticket.start.started_at),
        "intent": ticket.handling.intent,
        "queue": ticket.handling.queue,
        "agent_id": ticket.handling.agent_id,
        "disposition": ticket.disposition.value,
        "work_status": ticket.work_status.value,
        "nodes": list(ticket.nodes),
    }


async def _call_extra(sources: DeskSources, record: DeskCall) -> dict[str, Any]:
    """The call's ticket-store part: the booking call's path for a callback, and the
    caller's last tickets (by employee id when the directory knew them, else number)."""
    pop = record.pop
    extra: dict[str, Any] = {}
    ticket_id = pop.get("ticket_id")
    variables: dict[str, str] = {}
    if pop.get("kind") == "callback" and isinstance(ticket_id, int):
        booked = await sources.tickets.get(ticket_id)
        if booked is not None:
            variables = booked.variables
            extra["booked"] = {
                "steps": ivr_steps(booked.events),
                "keys": booked.keys,
                "intent": booked.handling.intent,
                "identity": caller_fields(variables),
            }
    employee = str(pop.get("employee_id") or variables.get("employee_id") or "")
    number = str(pop.get("caller_number") or "")
    query = (
        TicketQuery(employee=employee, limit=HISTORY_SIZE + 1)
        if employee
        else TicketQuery(caller=number, limit=HISTORY_SIZE + 1)
    )
    if employee or number:
        found = await sources.tickets.search(query)
        extra["history"] = [_history_json(t) for t in found if t.id != ticket_id][:HISTORY_SIZE]
    else:
        extra["history"] = []
    return extra


def _call_json(sources: DeskSources, record: DeskCall, extra: dict[str, Any]) -> dict[str, Any]:
    pop = record.pop
    booked = extra.get("booked") or {}
    identity = caller_fields({}) | {
        key: pop[key]
        for key in ("employee_id", "employee_name", "department", "vip")
        if pop.get(key)
    }
    for key, value in (booked.get("identity") or {}).items():
        identity[key] = identity[key] or value
    steps = pop.get("steps") or booked.get("steps") or []
    return {
        "call": record.call,
        "phase": record.phase,
        "kind": pop.get("kind", "call"),
        "ticket_id": pop.get("ticket_id"),
        "queue": pop.get("queue"),
        "rung_at": iso(record.rung_at or None),
        "connected_at": iso(record.connected_at),
        "ended_at": iso(record.ended_at),
        "wrapped_up": record.wrapped_up,
        "caller": {"number": sources.number(str(pop.get("caller_number") or "")), **identity},
        "ivr": {
            "steps": steps,
            "keys": pop.get("keys") or booked.get("keys") or "",
            "intent": pop.get("intent") or booked.get("intent"),
            "waited_seconds": pop.get("waited_seconds"),
        },
        "callback": pop.get("callback"),
        "dispositions": sources.dispositions(pop.get("queue")),
        "history": extra.get("history"),
        "escalated": _with_iso(pop.get("escalated"), "at"),
        "escalation": _with_iso(record.escalation, "at"),
        "escalation_queues": [q for q in sources.desk.settings if q != pop.get("queue")],
    }


def _with_iso(fields: Any, name: str) -> dict[str, Any] | None:
    """``fields`` with the moment ``name`` (Unix seconds) in ISO 8601."""
    if not isinstance(fields, dict):
        return None
    value = fields.get(name)
    return {**fields, name: iso(float(value)) if isinstance(value, int | float) else None}


async def call_json(
    sources: DeskSources, record: DeskCall | None, reads: DeskReads
) -> dict[str, Any] | None:
    """The call part of the desk; None when nothing rings, is connected, or is
    left to wrap up."""
    if record is None or record.phase == MISSED or (record.phase == ENDED and record.wrapped_up):
        return None
    key = (record.call, record.wrapped_up)
    if reads.call_key != key:
        try:
            reads.call_extra = await _call_extra(sources, record)
        except IvrError:
            reads.call_extra = {"history": None}  # the database is away: shown as unavailable
        reads.call_key = key
    return _call_json(sources, record, reads.call_extra)


async def desk_json(sources: DeskSources, agent_id: str, reads: DeskReads) -> dict[str, Any]:
    """The whole desk of ``agent_id`` (a configured agent). A part whose store is
    away is ``null``; the agent part needs Redis (raises RedisError or OSError)."""
    view = await sources.desk.board.view(agent_id)
    now = time.monotonic()
    if now - reads.queues_at >= QUEUES_MAX_AGE_SECONDS:
        try:
            reads.queues = await queues_json(sources, view)
        except (RedisError, OSError):
            reads.queues = None
        reads.callbacks = None
        if sources.callbacks is not None:
            try:
                line = sources.desk.line
                reads.callbacks = await my_callbacks(sources.callbacks, line, view, sources.number)
            except (RedisError, OSError):
                reads.callbacks = None
        reads.queues_at = now
    record = await sources.calls.current(agent_id)
    return {
        "agent": agent_json(view),
        "queues": reads.queues,
        "callbacks": reads.callbacks,
        "call": await call_json(sources, record, reads),
    }
