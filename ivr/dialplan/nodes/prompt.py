"""``prompt`` plays and goes on; ``hangup`` plays and ends the call."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ivr.dialplan.model import BaseNode
from ivr.dialplan.nodes.base import NODE_NAME, Fields, NodeType
from ivr.dialplan.nodes.call import Call


@dataclass(frozen=True)
class PromptNode(BaseNode):
    """Plays its prompts, then goes to ``next`` (or ends the call when there is none)."""

    next: str | None


@dataclass(frozen=True)
class HangupNode(BaseNode):
    """Plays its prompts, then hangs up."""


class PromptType(NodeType[PromptNode]):
    name = "prompt"
    node_class = PromptNode
    keys = frozenset({"next"})

    def build(self, f: Fields) -> PromptNode:
        return PromptNode(f.name, f.location, f.prompts, f.target("next"))

    def targets(self, node: PromptNode) -> list[str]:
        return [node.next] if node.next else []

    def schema(self) -> dict[str, Any]:
        return {"next": NODE_NAME}

    async def run(self, node: PromptNode, call: Call) -> str | None:
        return node.next


class HangupType(NodeType[HangupNode]):
    name = "hangup"
    node_class = HangupNode
    keys: frozenset[str] = frozenset()

    def build(self, f: Fields) -> HangupNode:
        return HangupNode(f.name, f.location, f.prompts)

    def targets(self, node: HangupNode) -> list[str]:
        return []

    def schema(self) -> dict[str, Any]:
        return {}

    async def run(self, node: HangupNode, call: Call) -> str | None:
        return None
