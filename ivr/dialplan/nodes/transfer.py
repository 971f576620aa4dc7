"""``transfer``: connects the caller to an agent, through a queue or straight to an extension."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from ivr.dialplan.model import BaseNode, Prompt
from ivr.dialplan.nodes.base import METHOD, NODE_NAME, PROMPTS, Fields, NodeType
from ivr.dialplan.nodes.call import Call
from ivr.dialplan.nodes.default_prompts import QUEUE_ANNOUNCEMENT
from ivr.dialplan.ports import TransferOutcome
from ivr.dialplan.service_targets import ServiceTargets, goes_to, queue_lack
from ivr.dialplan.templates import render

TRANSFER_METHODS = ("bridge", "refer")


@dataclass(frozen=True)
class TransferNode(BaseNode):
    """Connects the caller to an agent: through a ``queue`` (wait in line, the queue's
    transfer method) or straight to an ``extension`` (``method`` bridge or refer).

    After a bridged call the agent hung up, the caller goes on at ``next``; a
    REFER hands the call over and ends the plan. No agent (nobody logged in, the
    wait too long, a target the dialling rules refuse) goes to ``fallback``."""

    queue: str | None
    extension: str | None
    method: str  # for extensions: bridge or refer
    announce: tuple[Prompt, ...]  # place in line and wait: {position}, {wait_minutes}
    whisper: Prompt | None  # spoken to the agent before connecting
    next: str | None
    fallback: str | None


class TransferType(NodeType[TransferNode]):
    name = "transfer"
    node_class = TransferNode
    keys = frozenset({"queue", "extension", "method", "announce", "whisper", "next", "fallback"})

    def build(self, f: Fields) -> TransferNode:
        queue, extension = f.text("queue"), f.text("extension")
        if (queue is None) == (extension is None):
            f.ctx.error(f.node, f"transfer node {f.name!r} needs either 'queue' or 'extension'")
        if extension is not None and not re.fullmatch(r"[0-9*#+]{1,32}", extension):
            f.ctx.error(f.entries["extension"][1], f"extension {extension!r} is not a number")
        method = f.text("method") or "bridge"
        if method not in TRANSFER_METHODS:
            f.ctx.error(f.entries["method"][1], "method must be bridge or refer")
        elif "method" in f.entries and queue is not None:
            f.ctx.error(f.entries["method"][1], "a queue's transfer method is set in ivr.yaml")
        announce = f.prompts_of("announce")
        if not announce and queue is not None:
            announce = (
                Prompt(f.location, text=QUEUE_ANNOUNCEMENT, voice=f.scope.voice, has_values=True),
            )
        whisper = f.prompts_of("whisper")
        return TransferNode(
            name=f.name,
            location=f.location,
            prompts=f.prompts,
            queue=queue,
            extension=extension,
            method=method,
            announce=announce,
            whisper=whisper[0] if whisper else None,
            next=f.target("next"),
            fallback=f.target("fallback"),
        )

    def targets(self, node: TransferNode) -> list[str]:
        return [t for t in (node.next, node.fallback) if t]

    def schema(self) -> dict[str, Any]:
        return {
            "queue": {"type": "string", "description": "queue name from ivr.yaml"},
            "extension": {"type": "string", "pattern": "^[0-9*#+]{1,32}$"},
            "method": METHOD,
            "announce": PROMPTS,
            "whisper": PROMPTS,
            "next": NODE_NAME,
            "fallback": NODE_NAME,
        }

    def prompts(self, node: TransferNode) -> tuple[Prompt, ...]:
        return node.prompts + node.announce

    def findings(self, node: TransferNode, targets: ServiceTargets) -> list[str]:
        if node.queue is not None:
            lack = queue_lack(node.queue, targets)
            finding = f"transfer {node.name!r}: {lack}" if lack else None
        else:
            reason = targets.extension_refused(node.extension or "")
            finding = (
                f"transfer {node.name!r} to extension {node.extension!r}: {reason}"
                if reason
                else None
            )
        return [f"{finding}; every call here goes to {goes_to(node.fallback)}"] if finding else []

    async def run(self, node: TransferNode, call: Call) -> str | None:
        transfers = call.services.transfers
        if transfers is None:
            call.journal.event("transfer_failed", node=node.name, reason="no agents here")
            return node.fallback
        values = call.values()
        whisper = ""
        if node.whisper is not None:
            prompt = node.whisper.for_language(values["language"])
            whisper = render(prompt.text or "", values, prompt.voice)

        async def announce(position: int, wait_seconds: float) -> None:
            minutes = "" if math.isinf(wait_seconds) else str(max(1, math.ceil(wait_seconds / 60)))
            call.show({"position": str(position), "wait_minutes": minutes})
            await call.play(node.announce)

        if node.queue is not None:
            outcome = await transfers.to_queue(node.queue, whisper, announce)
        else:
            outcome = await transfers.to_extension(node.extension or "", node.method, whisper)
        if outcome is TransferOutcome.CONNECTED:
            return node.next
        if outcome is TransferOutcome.FALLBACK:
            return node.fallback
        if outcome is TransferOutcome.CALLER_LEFT and call.journal.handling.talk_seconds is None:
            raise call.hung_up()
        return None  # talked and hung up, or handed over by REFER: the plan is done
