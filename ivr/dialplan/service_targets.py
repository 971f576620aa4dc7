"""What the service's configuration offers a plan: its queues and their agents, callbacks,
the extensions it may dial. Built by the service (or ``ivr dialplan validate``);
the node types read it to say what a node names that the configuration lacks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class QueueStaff:
    """The agents of one configured queue."""

    agents: tuple[str, ...] = ()  # agent ids
    undialable: tuple[str, ...] = ()  # those the dialling rules refuse


def _any_extension(extension: str) -> str | None:
    return None


@dataclass(frozen=True)
class ServiceTargets:
    """What the configuration offers transfers and callbacks."""

    source: str  # named in every finding: the configuration file, or "the defaults"
    queues: Mapping[str, QueueStaff] = field(default_factory=dict)
    callbacks: bool = False  # callbacks.number_uri is set: bookings can be kept
    # Why a transfer to an extension would be refused (no extension_uri, not
    # allowed by dialling.allow), or None when it may be dialled.
    extension_refused: Callable[[str], str | None] = field(default=_any_extension, compare=False)


def queue_lack(queue: str, targets: ServiceTargets) -> str | None:
    """Why ``queue`` cannot take a call (not configured, no agents, none dialable); None: it can."""
    staff = targets.queues.get(queue)
    if staff is None:
        known = ", ".join(sorted(targets.queues)) or "none"
        return f"queue {queue!r} is not configured in {targets.source} (configured: {known})"
    if not staff.agents:
        return f"queue {queue!r} has no agents in {targets.source} (agents[].queues)"
    if set(staff.agents) <= set(staff.undialable):
        return (
            f"no agent of queue {queue!r} may be dialled "
            f"({', '.join(staff.agents)}: not allowed by dialling.allow in {targets.source})"
        )
    return None


def goes_to(fallback: str | None) -> str:
    """Where a call goes instead, for a finding's message."""
    return f"its fallback {fallback!r}" if fallback else "no fallback: the call ends"
