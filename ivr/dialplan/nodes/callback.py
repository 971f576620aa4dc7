"""``callback``: offers a callback that keeps the caller's place in a queue's line.

The offer itself (accept, confirm the number, pick a slot, book) is
:class:`CallbackOffer`, which is handed the few things it needs of the call:
playing prompts (a key stops them), waiting for keys, and the journal."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from ivr.dialplan.model import BaseNode, Prompt
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
from ivr.dialplan.ports import Callbacks
from ivr.dialplan.service_targets import ServiceTargets, goes_to, queue_lack
from ivr.exceptions import CallbackUnavailable
from ivr.telephony.interface import DigitPressed
from ivr.tickets.model import CallJournal


@dataclass(frozen=True)
class CallbackNode(BaseNode):
    """Offers a callback that keeps the caller's place in ``queue``'s line: ``accept_key``
    books it (after the caller confirms the number or keys in another, and picks a
    time slot where there are any), then ``next``; another key or silence goes to
    ``decline``; a booking that cannot be made (number not allowed, Redis down) to
    ``fallback``. ``prompts`` make the offer; prompts use {callback_number} and
    {slot_choices}."""

    queue: str
    accept_key: str
    timeout_seconds: float
    confirm: tuple[Prompt, ...]
    ask_number: tuple[Prompt, ...]
    choose_slot: tuple[Prompt, ...]
    booked: tuple[Prompt, ...]
    next: str | None
    decline: str | None
    fallback: str | None


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


NUMBER_MAX_DIGITS = 16
INTER_DIGIT_SECONDS = 5.0
CONFIRM_TRIES = 3


Play = Callable[[tuple[Prompt, ...]], Awaitable[DigitPressed | None]]
WaitForKey = Callable[[float], Awaitable[DigitPressed | None]]


class CallbackOffer:
    def __init__(
        self,
        node: CallbackNode,
        callbacks: Callbacks,
        journal: CallJournal,
        play: Play,
        wait_for_key: WaitForKey,
        values: dict[str, str],
    ) -> None:
        self._node = node
        self._callbacks = callbacks
        self._journal = journal
        self._play = play
        self._wait_for_key = wait_for_key
        self.values = values  # read by prompts: callback_number, slot_choices

    async def run(self, caller_number: str) -> str | None:
        """The node to go to next."""
        node = self._node
        # Never offer what cannot be kept: the caller hears the fallback instead.
        reason = await self._callbacks.unavailable(node.queue)
        if reason is not None:
            self._journal.event("callback_withheld", node=node.name, reason=reason)
            return node.fallback
        if await self._key(node.prompts, node.timeout_seconds) != node.accept_key:
            self._journal.event("callback_declined", node=node.name)
            return node.decline
        number = await self._number(caller_number)
        if number is None:
            self._journal.event("callback_failed", node=node.name, reason="no number confirmed")
            return node.fallback
        not_before, slot = await self._slot()
        try:
            request_id = await self._callbacks.book(node.queue, number, not_before)
        except CallbackUnavailable as exc:
            self._journal.event("callback_failed", node=node.name, reason=str(exc))
            return node.fallback
        self._journal.event(
            "callback_requested",
            node=node.name,
            queue=node.queue,
            request=request_id,
            number=number,
            slot=slot,
        )
        await self._play(node.booked)
        return node.next

    async def _key(self, prompts: tuple[Prompt, ...], timeout: float) -> str | None:
        key = await self._play(prompts)
        if key is None:
            key = await self._wait_for_key(timeout)
        return key.digit if key is not None else None

    async def _number(self, caller_number: str) -> str | None:
        """The number to call back: the caller's, or one they key in that may be dialled."""
        number = caller_number
        for _ in range(CONFIRM_TRIES):
            if number and self._callbacks.allowed(number):
                self.values["callback_number"] = number
                key = await self._key(self._node.confirm, self._node.timeout_seconds)
                if key == self._node.accept_key:
                    return number
            elif number:
                self._journal.event("callback_number_refused", node=self._node.name, number=number)
            number = await self._keyed_number()
        return None

    async def _keyed_number(self) -> str:
        first = await self._play(self._node.ask_number)
        digits = ""
        key = first or await self._wait_for_key(self._node.timeout_seconds)
        while key is not None and key.digit != "#" and len(digits) < NUMBER_MAX_DIGITS:
            digits += key.digit
            key = await self._wait_for_key(INTER_DIGIT_SECONDS)
        return digits if digits.isdigit() else ""

    async def _slot(self) -> tuple[float, str]:
        """(not before, label): as soon as possible unless the caller picks a later slot."""
        slots = await self._callbacks.slots(self._node.queue)
        if not slots:
            return 0.0, "asap"
        self.values["slot_choices"] = "".join(
            f", {index} for after {label}" for index, (label, _) in enumerate(slots, start=2)
        )
        key = await self._key(self._node.choose_slot, self._node.timeout_seconds)
        if key is not None and key.isdigit() and 2 <= int(key) <= len(slots) + 1:
            label, at = slots[int(key) - 2]
            return at, label
        return 0.0, "asap"
