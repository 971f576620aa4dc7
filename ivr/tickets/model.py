"""What a ticket holds, and the journal a live call writes it from."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any


class Disposition(Enum):
    LIVE = "live"  # the call is still up (or its worker died before closing it)
    COMPLETED = "completed"  # the plan ran to its end and the service hung up
    ABANDONED = "abandoned"  # the caller hung up before the plan ended
    FAILED = "failed"  # the service could not carry the call
    # the caller's media stopped (no RTP for sip.rtp_timeout_seconds) with no BYE:
    # a lost line, counted apart from callers who hung up
    MEDIA_TIMEOUT = "media_timeout"


# Event kinds the ticket store counts (the callback queue journals the first two).
CALLBACK_REQUESTED = "callback_requested"
CALLBACK_CONNECTED = "callback_connected"
UTTERANCE = "utterance"  # detail: text, intent (None: not recognised), confidence


@dataclass(frozen=True)
class TicketEvent:
    at: float  # Unix seconds
    kind: str
    detail: dict[str, Any]


@dataclass
class Handling:
    """How the call was handled beyond the plan: speech, queue and agent."""

    intent: str | None = None  # the last recognised intent
    queue: str | None = None
    wait_seconds: float | None = None  # in the queue, until an agent answered or the caller left
    agent_id: str | None = None
    ring_attempts: int = 0  # agents rung, answered or not
    talk_seconds: float | None = None  # with the agent
    transfer_method: str | None = None  # "bridge" or "refer"


class WorkStatus(Enum):
    """Where the helpdesk's work on a ticket stands, after the call."""

    OPEN = "open"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"


@dataclass(frozen=True)
class TicketNote:
    at: float  # Unix seconds
    text: str
    author: str | None = None


@dataclass(frozen=True)
class TicketUpdate:
    """An agent's change to a ticket; ``None`` leaves a field as it is."""

    work_status: WorkStatus | None = None
    assignee: str | None = None
    unassign: bool = False  # clears the assignee (``assignee`` must then be None)
    note: TicketNote | None = None  # appended to the ticket's notes
    # Read back from the help desk (ivr.tickets.connectors.sync): not told to it
    # again, or a late echo could undo a newer change made there.
    from_helpdesk: bool = False


@dataclass(frozen=True)
class TicketStart:
    call_id: str
    worker_id: str
    caller_number: str
    called_number: str
    plan_name: str
    plan_version: str
    started_at: float


@dataclass(frozen=True)
class TicketEnd:
    answered_at: float | None
    ended_at: float
    disposition: Disposition
    end_reason: str
    nodes: tuple[str, ...]
    keys: str
    recording_path: str | None
    events: tuple[TicketEvent, ...]
    variables: dict[str, str] = field(default_factory=dict)
    satisfaction: int | None = None  # survey score 1-5
    handling: Handling = field(default_factory=Handling)


@dataclass(frozen=True)
class Ticket:
    id: int
    start: TicketStart
    disposition: Disposition
    answered_at: float | None = None
    ended_at: float | None = None
    end_reason: str | None = None
    nodes: tuple[str, ...] = ()
    keys: str = ""
    recording_path: str | None = None
    events: tuple[TicketEvent, ...] = ()
    variables: dict[str, str] = field(default_factory=dict)
    satisfaction: int | None = None
    handling: Handling = field(default_factory=Handling)
    work_status: WorkStatus = WorkStatus.OPEN
    assignee: str | None = None
    notes: tuple[TicketNote, ...] = ()  # filled by ``get`` only, like ``events``
    external_id: str | None = None  # the help desk's own ticket (ivr.tickets.connectors)
    external_url: str | None = None


@dataclass(frozen=True)
class TicketQuery:
    """One search over tickets; every field that is set must match (AND)."""

    caller: str | None = None
    employee: str | None = None  # variables.employee_id
    intent: str | None = None
    disposition: Disposition | None = None
    queue: str | None = None
    agent: str | None = None
    work_status: WorkStatus | None = None
    assignee: str | None = None
    since: float | None = None  # started at or after, Unix seconds
    until: float | None = None  # started before, Unix seconds
    text: str | None = None  # in the transcript (recognised utterances), case-insensitive
    limit: int = 50
    offset: int = 0


@dataclass
class CallJournal:
    """The record of one live call, turned into a :class:`TicketEnd` when it ends."""

    answered_at: float | None = None
    nodes: list[str] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    events: list[TicketEvent] = field(default_factory=list)
    variables: dict[str, str] = field(default_factory=dict)
    satisfaction: int | None = None
    handling: Handling = field(default_factory=Handling)

    def event(self, kind: str, **detail: Any) -> None:
        self.events.append(TicketEvent(time.time(), kind, detail))

    def entered(self, node: str) -> None:
        self.nodes.append(node)
        self.event("node", node=node)

    def pressed(self, digit: str, node: str) -> None:
        self.keys.append(digit)
        self.event("dtmf", digit=digit, node=node)

    def pressed_unread(self, digit: str) -> None:
        """A key that came after the plan's last read of keys (the call ended first)."""
        self.keys.append(digit)
        self.event("dtmf_unread", digit=digit)

    def collected(self, variable: str, value: str, node: str) -> None:
        self.variables[variable] = value
        self.event("collected", variable=variable, value=value, node=node)

    def identified(self, variables: dict[str, str], by: str) -> None:
        """The caller matched the employee directory (``by`` number or employee_id)."""
        self.variables.update(variables)
        self.event("identified", by=by, employee_id=variables.get("employee_id", ""))

    def set_variable(self, variable: str, value: str, node: str) -> None:
        self.variables[variable] = value
        self.event("set", variable=variable, value=value, node=node)

    def rated(self, score: int, node: str) -> None:
        self.satisfaction = score
        self.event("survey", score=score, node=node)

    def finish(self, disposition: Disposition, reason: str, recording: str | None) -> TicketEnd:
        ended_at = time.time()
        self.event("ended", disposition=disposition.value, reason=reason)
        return TicketEnd(
            answered_at=self.answered_at,
            ended_at=ended_at,
            disposition=disposition,
            end_reason=reason,
            nodes=tuple(self.nodes),
            keys="".join(self.keys),
            recording_path=recording,
            events=tuple(self.events),
            variables=dict(self.variables),
            satisfaction=self.satisfaction,
            handling=replace(self.handling),
        )
