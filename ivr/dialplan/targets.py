"""A plan checked against the service's configuration: the queues, agents, extensions
and callbacks its nodes name, and the ones the configuration lacks.

The service (or ``ivr dialplan validate``) builds :class:`ServiceTargets` from its
configuration; this package reads nothing else of it. A node naming something
the configuration lacks still loads (every call reaching it takes its
fallback), so each finding is a warning, at the node that names it: the
service logs it when the plan is loaded, validation prints it.
"""

from __future__ import annotations

from ivr.dialplan.model import Plan
from ivr.dialplan.nodes import type_of
from ivr.dialplan.problems import Problem, Severity
from ivr.dialplan.service_targets import QueueStaff, ServiceTargets

__all__ = ["QueueStaff", "ServiceTargets", "check_targets"]


def check_targets(plan: Plan, targets: ServiceTargets) -> list[Problem]:
    """Warnings, each at the node that names a queue, agent, extension or callback
    the configuration lacks; sorted by position."""
    found: list[Problem] = []
    for node in plan.nodes.values():
        for message in type_of(node).findings(node, targets):
            found.append(Problem(node.location, message, Severity.WARNING))
    return sorted(found, key=lambda p: (p.location.line, p.location.column))
