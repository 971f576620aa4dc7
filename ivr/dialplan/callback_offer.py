"""The callback offer of a ``callback`` node: accept, confirm the number, pick a slot, book.

Kept apart from the runner, which hands it the few things it needs: playing
prompts (a key stops them), waiting for keys, and the call's journal.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from ivr.dialplan.model import CallbackNode, Prompt
from ivr.exceptions import CallbackUnavailable
from ivr.telephony.interface import DigitPressed
from ivr.tickets.model import CallJournal

NUMBER_MAX_DIGITS = 16
INTER_DIGIT_SECONDS = 5.0
CONFIRM_TRIES = 3


class Callbacks(Protocol):
    """Books callbacks for the current call (built by the service)."""

    def allowed(self, number: str) -> bool:
        """Whether the dialling rules let the service call ``number`` back."""

    async def unavailable(self, queue: str) -> str | None:
        """Why a booking in ``queue`` could not be kept now (Redis unreachable...), else None."""

    async def slots(self, queue: str) -> list[tuple[str, float]]:
        """Later times ("14:00", Unix seconds) the queue's capacity can still keep today."""

    async def book(self, queue: str, number: str, not_before: float) -> str:
        """Book it; returns the request id. Raises CallbackUnavailable."""


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
