"""What a callback request is, as read from its Redis hash, and what a lease on it is.

:mod:`callback.requests` writes and reads them; the dispatcher, the service and the
API pass them around.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from callback import keys
from callback.value import BookedValue, value_parts

ENTRY_PREFIX = keys.CALLBACK_ENTRY_PREFIX
ACTIVE = ("pending", "dialling")
STATES = ("pending", "dialling", "done", "failed", "cancelled")


@dataclass(frozen=True)
class CallbackRequest:
    id: str
    number: str
    queue: str
    place: float  # where the caller stood in line (Unix seconds; earlier is served first)
    state: str = "pending"
    priority_seconds: float = 0.0  # an operator's: stands this much earlier in line
    # the value rule's seconds (callback.value): VIP, intent, each failed attempt
    value: BookedValue = BookedValue()
    attempts: int = 0
    next_at: float = 0.0  # not dialled before this moment
    ticket_id: int = 0
    caller_name: str = ""
    intent: str = ""
    created_at: float = 0.0
    reason: str = ""  # of the last attempt or of the end
    lease_owner: str = ""
    lease_generation: int = 0
    cut_offs: int = 0  # calls whose outcome was lost with their dispatcher
    apologise: bool = False  # the last call may have been cut off: say sorry on the next
    in_flight: dict[str, Any] | None = None  # the call its lease holder is placing
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def entry(self) -> str:
        return ENTRY_PREFIX + self.id

    @property
    def value_seconds(self) -> float:
        """The rule's seconds now: VIP, intent, and each attempt so far (while it is
        pending or dialling, every attempt so far failed to connect)."""
        value = self.value
        failed = self.attempts * value.per_failed_attempt_seconds
        return value.vip_seconds + value.intent_seconds + failed

    @property
    def standing(self) -> float:
        """Its score in the line (Unix seconds; lower is served first), as the Lua
        scripts write it: place less the rule's seconds less the operator's."""
        return self.place - self.value_seconds - self.priority_seconds

    def value_reasons(self) -> list[str]:
        """The rule's parts that moved it, in words (see :func:`callback.value.value_parts`)."""
        return value_parts(self.value, self.intent, self.attempts, self.reason)


@dataclass(frozen=True)
class Lease:
    """One dispatcher's hold on one request; ``generation`` fences off earlier holders."""

    request_id: str
    owner: str
    generation: int


@dataclass(frozen=True)
class Settled:
    """A request whose lease ran out, and what was made of the call it had in flight."""

    request_id: str
    state: str  # pending again, done or failed
    attempt: dict[str, Any] | None  # the attempt recorded; None when nobody was dialled


def _number(row: dict[str, str], name: str) -> float:
    return float(row.get(name, 0) or 0)


def parse_request(row: dict[str, str], history: list[dict[str, Any]]) -> CallbackRequest:
    """A request from its hash (``row``) and its attempts (``history``)."""
    return CallbackRequest(
        id=row["id"],
        number=row.get("number", ""),
        queue=row.get("queue", ""),
        place=_number(row, "place"),
        state=row.get("state", "pending"),
        priority_seconds=_number(row, "priority_seconds"),
        value=BookedValue(
            vip_seconds=_number(row, "vip_seconds"),
            intent_seconds=_number(row, "intent_seconds"),
            per_failed_attempt_seconds=_number(row, "per_failed_attempt_seconds"),
        ),
        attempts=int(row.get("attempts", 0) or 0),
        next_at=_number(row, "next_at"),
        ticket_id=int(row.get("ticket_id", 0) or 0),
        caller_name=row.get("caller_name", ""),
        intent=row.get("intent", ""),
        created_at=_number(row, "created_at"),
        reason=row.get("reason", ""),
        lease_owner=row.get("lease_owner", ""),
        lease_generation=int(row.get("lease_generation", 0) or 0),
        cut_offs=int(row.get("cut_offs", 0) or 0),
        apologise=bool(row.get("apologise")),
        in_flight=json.loads(row["in_flight"]) if row.get("in_flight") else None,
        history=history,
    )
