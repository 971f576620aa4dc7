"""A plan checked against the service's configuration: the queues, agents, extensions
and callbacks its nodes name, and the ones the configuration lacks.

The service (or ``ivr dialplan validate``) builds :class:`ServiceTargets` from its
configuration; this package reads nothing else of it. A node naming something
the configuration lacks still loads (every call reaching it takes its
fallback), so each finding is a warning, at the node that names it: the
service logs it when the plan is loaded, validation prints it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from ivr.dialplan.model import CallbackNode, ConditionNode, Node, Plan, TransferNode
from ivr.dialplan.problems import Problem, Severity


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


def check_targets(plan: Plan, targets: ServiceTargets) -> list[Problem]:
    """Warnings, each at the node that names a queue, agent, extension or callback
    the configuration lacks; sorted by position."""
    found: list[Problem] = []
    for node in plan.nodes.values():
        for message in _findings(node, targets):
            found.append(Problem(node.location, message, Severity.WARNING))
    return sorted(found, key=lambda p: (p.location.line, p.location.column))


def _findings(node: Node, targets: ServiceTargets) -> list[str]:
    if isinstance(node, TransferNode):
        finding = _transfer_finding(node, targets)
        return [f"{finding}; every call here goes to {_goes_to(node.fallback)}"] if finding else []
    if isinstance(node, CallbackNode):
        finding = _callback_finding(node, targets)
        return [finding] if finding else []
    if isinstance(node, ConditionNode):
        named = sorted({r.queue for r in node.rules if r.queue is not None})
        return [
            f"condition {node.name!r}: {_queue_lack(queue, targets)}; its wait rules never hold"
            for queue in named
            if queue not in targets.queues
        ]
    return []


def _transfer_finding(node: TransferNode, targets: ServiceTargets) -> str | None:
    if node.queue is not None:
        lack = _queue_lack(node.queue, targets)
        return f"transfer {node.name!r}: {lack}" if lack else None
    reason = targets.extension_refused(node.extension or "")
    return f"transfer {node.name!r} to extension {node.extension!r}: {reason}" if reason else None


def _callback_finding(node: CallbackNode, targets: ServiceTargets) -> str | None:
    withheld = f"the offer is withheld and calls go to {_goes_to(node.fallback)}"
    if not targets.callbacks:
        return (
            f"callback {node.name!r}: callbacks are not configured in {targets.source} "
            f"(callbacks.number_uri); {withheld}"
        )
    lack = _queue_lack(node.queue, targets)
    if lack is None:
        return None
    if node.queue not in targets.queues:
        return f"callback {node.name!r}: {lack}; {withheld}"
    return f"callback {node.name!r}: {lack}; booked callbacks would never be dialled"


def _queue_lack(queue: str, targets: ServiceTargets) -> str | None:
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


def _goes_to(fallback: str | None) -> str:
    return f"its fallback {fallback!r}" if fallback else "no fallback: the call ends"
