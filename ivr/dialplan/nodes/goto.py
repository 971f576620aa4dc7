"""``goto``: continues the call in another plan (a shared sub-flow)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from ivr.dialplan.model import BaseNode
from ivr.dialplan.nodes.base import Fields, NodeType
from ivr.dialplan.nodes.call import Call

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GotoNode(BaseNode):
    """Continues the call in another plan (a shared sub-flow), at ``node`` or its start."""

    plan: str
    node: str | None


class GotoType(NodeType[GotoNode]):
    name = "goto"
    node_class = GotoNode
    keys = frozenset({"plan", "node"})

    def build(self, f: Fields) -> GotoNode:
        if "plan" not in f.entries:
            f.ctx.error(f.node, f"goto node {f.name!r} has no 'plan'")
        return GotoNode(f.name, f.location, f.prompts, f.text("plan") or "", f.text("node"))

    def targets(self, node: GotoNode) -> list[str]:
        return []  # in another plan, checked when the plans are loaded together

    def schema(self) -> dict[str, Any]:
        return {
            "plan": {"type": "string", "description": "name of another plan"},
            "node": {"type": "string", "description": "node in that plan (default: its start)"},
        }

    async def run(self, node: GotoNode, call: Call) -> str | None:
        plans = call.services.plans
        target = plans(node.plan) if plans is not None else None
        start = None if target is None else (node.node or target.start)
        if target is None or start not in target.nodes:
            missing = (
                f"plan {node.plan!r}" if target is None else f"node {start!r} in {node.plan!r}"
            )
            log.error("%s: goto to a missing %s; the plan ends here", node.location, missing)
            call.journal.event("goto_failed", node=node.name, plan=node.plan, missing=missing)
            return None
        call.journal.event("goto", plan=target.name, version=target.version, node=start)
        call.switch_plan(target)
        return start
