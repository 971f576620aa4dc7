"""``condition``: the first rule that holds (office hours, caller, a variable, a
queue's estimated wait) picks where the call goes, else ``otherwise``."""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import yaml

from ivr.dialplan.model import BaseNode, OfficeHours
from ivr.dialplan.nodes.base import NODE_NAME, Fields, NodeType
from ivr.dialplan.nodes.call import Call
from ivr.dialplan.service_targets import ServiceTargets, queue_lack
from ivr.dialplan.yaml_reader import entries_of, number_of, text_of

log = logging.getLogger(__name__)

RULE_KEYS = {"hours", "caller", "variable", "equals", "matches", "queue", "wait_above", "goto"}


@dataclass(frozen=True)
class Rule:
    """One test of a condition node; the first rule that holds picks the target."""

    target: str
    hours: OfficeHours | None = None
    caller: re.Pattern[str] | None = None
    variable: str | None = None
    equals: str | None = None
    matches: re.Pattern[str] | None = None
    queue: str | None = None  # with wait_above: the queue's current estimated wait
    wait_above: float | None = None

    def holds(
        self,
        caller_number: str,
        variables: Mapping[str, str],
        now: datetime,
        queue_wait: float | None = None,
    ) -> bool:
        """``queue_wait``: the estimated wait of ``queue`` (None when unknown)."""
        if self.hours is not None and not self.hours.open_at(now):
            return False
        if self.wait_above is not None and (queue_wait is None or queue_wait <= self.wait_above):
            return False
        if self.caller is not None and not self.caller.search(caller_number):
            return False
        if self.variable is not None:
            value = variables.get(self.variable)
            if value is None:
                return False
            if self.equals is not None and value != self.equals:
                return False
            if self.matches is not None and not self.matches.search(value):
                return False
        return True


@dataclass(frozen=True)
class ConditionNode(BaseNode):
    """Goes to the target of the first rule that holds, else to ``otherwise``."""

    rules: tuple[Rule, ...]
    otherwise: str | None


class ConditionType(NodeType[ConditionNode]):
    name = "condition"
    node_class = ConditionNode
    keys = frozenset({"when", "otherwise"})

    def build(self, f: Fields) -> ConditionNode:
        rules: list[Rule] = []
        if "when" not in f.entries:
            f.ctx.error(f.node, f"condition node {f.name!r} has no 'when' rules")
        else:
            when = f.entries["when"][1]
            if not isinstance(when, yaml.SequenceNode):
                f.ctx.error(when, "'when' must be a list of rules")
            else:
                rules = [r for r in (_rule(f, item) for item in when.value) if r is not None]
        return ConditionNode(f.name, f.location, f.prompts, tuple(rules), f.target("otherwise"))

    def targets(self, node: ConditionNode) -> list[str]:
        return [r.target for r in node.rules] + ([node.otherwise] if node.otherwise else [])

    def schema(self) -> dict[str, Any]:
        # A rule's schema has taken identify, plan and node since it was first
        # written; kept so the committed plan.schema.json does not change.
        rule = {
            "goto": NODE_NAME,
            "hours": {"type": "string", "description": "name of an hours calendar"},
            "caller": {"type": "string", "format": "regex"},
            "variable": {"type": "string"},
            "identify": {"type": "boolean", "description": "the digits are an employee ID"},
            "plan": {"type": "string", "description": "name of another plan"},
            "node": {"type": "string", "description": "node in that plan (default: its start)"},
            "equals": {"type": ["string", "number"]},
            "matches": {"type": "string", "format": "regex"},
            "queue": {"type": "string", "description": "queue whose estimated wait is tested"},
            "wait_above": {"type": "number", "minimum": 0, "description": "seconds"},
        }
        return {
            "when": {
                "type": "array",
                "description": "rules, first that holds wins",
                "items": {
                    "type": "object",
                    "required": ["goto"],
                    "properties": rule,
                    "additionalProperties": False,
                },
            },
            "otherwise": NODE_NAME,
        }

    def findings(self, node: ConditionNode, targets: ServiceTargets) -> list[str]:
        named = sorted({r.queue for r in node.rules if r.queue is not None})
        return [
            f"condition {node.name!r}: {queue_lack(queue, targets)}; its wait rules never hold"
            for queue in named
            if queue not in targets.queues
        ]

    async def run(self, node: ConditionNode, call: Call) -> str | None:
        now = call.now()
        waits = await _queue_waits(call, node)
        variables = call.journal.variables
        for index, rule in enumerate(node.rules):
            wait = waits.get(rule.queue) if rule.queue is not None else None
            if rule.holds(call.caller_number, variables, now, wait):
                call.journal.event("condition", node=node.name, rule=index, goto=rule.target)
                return rule.target
        call.journal.event("condition", node=node.name, rule=None, goto=node.otherwise)
        return node.otherwise


def _rule(f: Fields, node: yaml.Node) -> Rule | None:
    entries = entries_of(f.ctx, node, "rule", RULE_KEYS)
    if not entries:
        return None
    if "goto" not in entries:
        f.ctx.error(node, "rule has no 'goto'")
        return None
    target = f.reference(entries["goto"][1], "goto")
    hours = None
    if "hours" in entries:
        calendar = text_of(f.ctx, entries["hours"][1], "hours")
        hours = f.calendars.get(calendar or "")
        if hours is None and calendar:
            known = ", ".join(sorted(f.calendars)) or "none defined"
            f.ctx.error(entries["hours"][1], f"unknown hours {calendar!r} (known: {known})")
    caller = f.regex(entries["caller"][1], "caller pattern") if "caller" in entries else None
    variable = text_of(f.ctx, entries["variable"][1], "variable") if "variable" in entries else None
    equals = text_of(f.ctx, entries["equals"][1], "equals") if "equals" in entries else None
    matches = f.regex(entries["matches"][1], "pattern") if "matches" in entries else None
    if (equals is not None or matches is not None) and variable is None:
        f.ctx.error(node, "'equals' and 'matches' need a 'variable'")
    queue = text_of(f.ctx, entries["queue"][1], "queue") if "queue" in entries else None
    wait_above = None
    if "wait_above" in entries:
        wait_above = number_of(f.ctx, entries["wait_above"][1], "wait_above", 0, 86400)
    if (queue is None) != ("wait_above" not in entries):
        f.ctx.error(node, "'queue' and 'wait_above' go together (seconds of estimated wait)")
    if not ({"hours", "caller", "variable", "wait_above"} & set(entries)):
        f.ctx.error(node, "rule tests nothing: give hours, caller, variable or queue/wait_above")
    if target is None:
        return None
    return Rule(target, hours, caller, variable, equals, matches, queue, wait_above)


async def _queue_waits(call: Call, node: ConditionNode) -> dict[str, float]:
    """The estimated wait of each queue the rules test, also kept as call variables."""
    waits: dict[str, float] = {}
    transfers = call.services.transfers
    for queue in {r.queue for r in node.rules if r.queue is not None}:
        try:
            if transfers is not None:
                waits[queue] = await transfers.estimated_wait(queue)
        except LookupError as exc:
            log.error("%s: %s", node.location, exc)
    for queue, wait in waits.items():
        shown = "" if math.isinf(wait) else str(round(wait))
        call.journal.set_variable(f"{queue}_estimated_wait_seconds", shown, node.name)
    return waits
