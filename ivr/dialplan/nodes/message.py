"""``message``: records a message after a tone; a hang-up keeps it and ends the plan."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ivr.dialplan.model import BaseNode
from ivr.dialplan.nodes.base import DTMF_KEY, NODE_NAME, Fields, NodeType
from ivr.dialplan.nodes.call import Call


@dataclass(frozen=True)
class MessageNode(BaseNode):
    """Records a message after a tone: until ``end_key``, ``silence_seconds`` of
    silence or ``max_seconds``; a hang-up keeps the message and ends the plan."""

    max_seconds: float
    silence_seconds: float
    end_key: str
    next: str | None


class MessageType(NodeType[MessageNode]):
    name = "message"
    node_class = MessageNode
    keys = frozenset({"max_seconds", "silence_seconds", "end_key", "next"})
    waits_for_caller = True

    def build(self, f: Fields) -> MessageNode:
        end_key = f.dtmf_key("end_key", "#")
        return MessageNode(
            name=f.name,
            location=f.location,
            prompts=f.prompts,
            max_seconds=f.number("max_seconds", 5, 600, 120),
            silence_seconds=f.number("silence_seconds", 1, 30, 5),
            end_key=end_key,
            next=f.target("next"),
        )

    def targets(self, node: MessageNode) -> list[str]:
        return [node.next] if node.next else []

    def schema(self) -> dict[str, Any]:
        return {
            "max_seconds": {"type": "number", "minimum": 5, "maximum": 600},
            "silence_seconds": {"type": "number", "minimum": 1, "maximum": 30},
            "end_key": DTMF_KEY,
            "next": NODE_NAME,
        }

    async def run(self, node: MessageNode, call: Call) -> str | None:
        messages = call.services.messages
        if messages is None:
            call.journal.event("message", node=node.name, path=None, ended_by="unavailable")
            return node.next
        result = await messages.take(node)
        call.journal.event(
            "message",
            node=node.name,
            path=str(result.path) if result.path else None,
            seconds=result.seconds,
            ended_by=result.ended_by,
        )
        # Hanging up is how most callers finish a message: the plan ends there.
        return None if result.ended_by == "hangup" else node.next
