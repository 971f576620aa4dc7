"""``callback``: offers a callback that keeps the caller's place in a queue's line.

The offer itself (accept, confirm the number, pick a slot, book) is
:class:`~ivr.dialplan.callback_offer.CallbackOffer`."""

from __future__ import annotations

from typing import Any

from ivr.dialplan.callback_offer import CallbackOffer
from ivr.dialplan.model import CallbackNode, Prompt
from ivr.dialplan.nodes.base import (
    DEFAULT_TIMEOUT_SECONDS,
    DTMF_KEY,
    NODE_NAME,
    PROMPTS,
    TIMEOUT,
    Fields,
    NodeType,
)
from ivr.dialplan.nodes.call import Call
from ivr.dialplan.nodes.default_prompts import CALLBACK_PROMPTS
from ivr.dialplan.service_targets import ServiceTargets, goes_to, queue_lack
from ivr.telephony.interface import DigitPressed


class CallbackType(NodeType[CallbackNode]):
    name = "callback"
    node_class = CallbackNode
    keys = frozenset(
        {
            "queue",
            "accept_key",
            "timeout",
            "confirm",
            "ask_number",
            "choose_slot",
            "booked",
            "next",
            "decline",
            "fallback",
        }
    )
    waits_for_caller = True
    plays_prompts_first = False

    def build(self, f: Fields) -> CallbackNode:
        queue = f.text("queue")
        if queue is None:
            f.ctx.error(f.node, f"callback node {f.name!r} has no 'queue'")
        accept_key = f.dtmf_key("accept_key", "1")

        def prompts(key: str) -> tuple[Prompt, ...]:
            given = f.prompts if key == "say" else f.prompts_of(key)
            if given:
                return given
            text = CALLBACK_PROMPTS[key].replace("{accept_key}", accept_key)
            voice = f.scope.default_voice
            return (Prompt(f.location, text=text, voice=voice, has_values="{" in text),)

        return CallbackNode(
            name=f.name,
            location=f.location,
            prompts=prompts("say"),
            queue=queue or "",
            accept_key=accept_key,
            timeout_seconds=f.number("timeout", 0.5, 120, DEFAULT_TIMEOUT_SECONDS),
            confirm=prompts("confirm"),
            ask_number=prompts("ask_number"),
            choose_slot=prompts("choose_slot"),
            booked=prompts("booked"),
            next=f.target("next"),
            decline=f.target("decline"),
            fallback=f.target("fallback"),
        )

    def targets(self, node: CallbackNode) -> list[str]:
        return [t for t in (node.next, node.decline, node.fallback) if t]

    def schema(self) -> dict[str, Any]:
        return {
            "queue": {"type": "string", "description": "queue name from ivr.yaml"},
            "accept_key": DTMF_KEY,
            "timeout": TIMEOUT,
            "confirm": PROMPTS,
            "ask_number": PROMPTS,
            "choose_slot": PROMPTS,
            "booked": PROMPTS,
            "next": NODE_NAME,
            "decline": NODE_NAME,
            "fallback": NODE_NAME,
        }

    def prompts(self, node: CallbackNode) -> tuple[Prompt, ...]:
        return node.prompts + node.confirm + node.ask_number + node.choose_slot + node.booked

    def findings(self, node: CallbackNode, targets: ServiceTargets) -> list[str]:
        withheld = f"the offer is withheld and calls go to {goes_to(node.fallback)}"
        if not targets.callbacks:
            return [
                f"callback {node.name!r}: callbacks are not configured in {targets.source} "
                f"(callbacks.number_uri); {withheld}"
            ]
        lack = queue_lack(node.queue, targets)
        if lack is None:
            return []
        if node.queue not in targets.queues:
            return [f"callback {node.name!r}: {lack}; {withheld}"]
        return [f"callback {node.name!r}: {lack}; booked callbacks would never be dialled"]

    async def run(self, node: CallbackNode, call: Call) -> str | None:
        callbacks = call.services.callbacks
        if callbacks is None:
            call.journal.event("callback_failed", node=node.name, reason="no callbacks here")
            return node.fallback

        async def play(prompts: tuple[Prompt, ...]) -> DigitPressed | None:
            call.show(offer.values)
            return await call.play(prompts, interruptible=True)

        offer = CallbackOffer(node, callbacks, call.journal, play, call.wait_for_key, {})
        return await offer.run(call.caller_number)
