"""What a plan runner is handed by its call: the caller's events, the employee
directory, message taking, transfers and callbacks (the service builds the real
ones, the simulator its own)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from enum import Enum
from pathlib import Path
from typing import Protocol

from ivr.telephony.interface import CallEvent


class CallerEvents(Protocol):
    """What the runner reads from the caller: keys and the end of the call."""

    @property
    def ended(self) -> bool: ...

    @property
    def end_reason(self) -> str | None: ...

    async def next_event(self, timeout: float | None = None) -> CallEvent | None: ...


class Identity(Protocol):
    def as_variables(self) -> dict[str, str]: ...


class EmployeeLookup(Protocol):
    def by_employee_id(self, employee_id: str) -> Identity | None: ...


class MessageOutcome(Protocol):
    @property
    def path(self) -> Path | None: ...

    @property
    def seconds(self) -> float: ...

    @property
    def ended_by(self) -> str: ...


class MessageLimits(Protocol):
    """When a message ends (a message node has these)."""

    @property
    def max_seconds(self) -> float: ...

    @property
    def silence_seconds(self) -> float: ...

    @property
    def end_key(self) -> str: ...


class MessageTaker(Protocol):
    async def take(self, node: MessageLimits) -> MessageOutcome: ...


class Callbacks(Protocol):
    """Books callbacks for the current call (built by the service)."""

    def allowed(self, number: str) -> bool:
        """Whether the dialling rules let the service call ``number`` back."""

    async def unavailable(self, queue: str) -> str | None:
        """Why a booking in ``queue`` could not be kept now (Redis unreachable...), else None."""

    async def slots(self, queue: str) -> list[tuple[str, float]]:
        """Later times ("14:00", Unix seconds) the queue's capacity can still keep today."""

    async def book(self, queue: str, number: str, not_before: float) -> str:
        """Book it; returns the request id. Raises CallbackUnavailable."""


class TransferOutcome(Enum):
    CONNECTED = "connected"  # a bridged call the agent ended: the caller goes on
    CALLER_LEFT = "caller_left"  # the caller hung up, while waiting or after talking
    TRANSFERRED = "transferred"  # a REFER was followed: the call left the service
    FALLBACK = "fallback"  # no agent: nobody logged in, waited too long, refused target


class Transfers(Protocol):
    """Connects the caller to agents (built by the service; absent in the simulator)."""

    async def to_queue(
        self, queue: str, whisper: str, announce: Callable[[int, float], Awaitable[None]]
    ) -> TransferOutcome:
        """``announce(position, estimated_wait_seconds)`` is played while waiting."""

    async def to_extension(self, extension: str, method: str, whisper: str) -> TransferOutcome: ...

    async def estimated_wait(self, queue: str) -> float:
        """Seconds (inf: nobody staffed). Raises LookupError for an unknown queue."""
