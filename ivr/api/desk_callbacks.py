""" "My callbacks" on the agent desk: the bookings coming to an agent.

Callbacks are not booked for one agent: each waits in its queue's line and is
dialled to whichever agent of that queue is free when its turn comes
(:mod:`callback.dispatcher`). So an agent's callbacks are the active bookings of
their queues, in line order, with their place in the whole line (live callers
included), when they are due and how many attempts they had; and the one being
dialled to them now (their board holds its line entry), marked ``for_me``.
Read only: the bookings belong to :mod:`callback.requests`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from callback.line import QueueLine
from callback.requests import ACTIVE, CallbackRequest, CallbackRequests
from ivr.agents.board import AgentView
from ivr.tickets.json_view import iso

MAX_SHOWN = 20


async def my_callbacks(
    requests: CallbackRequests,
    line: QueueLine,
    view: AgentView,
    number: Callable[[str], str],
) -> list[dict[str, Any]]:
    """The bookings of ``view``'s queues, the one dialled to them first. ``number``
    masks a caller number as the desk shows it. Raises RedisError or OSError."""
    mine = [r for r in await requests.listing() if r.state in ACTIVE and r.queue in view.queues]
    mine.sort(key=lambda r: (r.entry != view.call, view.queues.index(r.queue)))
    shown = []
    for request in mine[:MAX_SHOWN]:
        position = await line.position(request.queue, request.entry)
        shown.append(_booking_json(request, position, view, number))
    return shown


def _booking_json(
    request: CallbackRequest,
    position: int | None,
    view: AgentView,
    number: Callable[[str], str],
) -> dict[str, Any]:
    return {
        "id": request.id,
        "queue": request.queue,
        "state": request.state,
        "for_me": request.entry == view.call,
        "position": None if position is None else position + 1,
        "place": iso(request.place or None),
        "due_at": iso(request.next_at or None),
        "attempts": request.attempts,
        "caller_name": request.caller_name,
        "number": number(request.number),
        "intent": request.intent,
        "ticket_id": request.ticket_id or None,
        "reason": request.reason,
    }
