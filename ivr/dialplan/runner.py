"""Walks a plan over one live call: each node runs through its node type
(:mod:`ivr.dialplan.nodes`); the runner plays prompts and waits for keys."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime

from ivr.dialplan.model import Plan, Prompt
from ivr.dialplan.nodes import type_of
from ivr.dialplan.nodes.call import CallServices
from ivr.dialplan.ports import CallerEvents
from ivr.dialplan.prompt_player import PromptPlayer
from ivr.dialplan.speech_turn import MenuSpeech, SpeechMenu, Understood, ask_by_voice, menu_request
from ivr.exceptions import CallerHungUp, PlanLoopError
from ivr.telephony.interface import CallEnded, DigitPressed
from ivr.tickets.model import CallJournal

__all__ = ["MAX_STEPS_PER_CALL", "CallerHungUp", "PlanLoopError", "PlanRunner"]

# A plan that moves this many times without the caller doing anything is looping.
MAX_STEPS_PER_CALL = 500


class PlanRunner:
    """The :class:`~ivr.dialplan.nodes.call.Call` the nodes of one call run on."""

    def __init__(
        self,
        plan: Plan,
        caller: CallerEvents,
        player: PromptPlayer,
        journal: CallJournal,
        services: CallServices,
        *,
        caller_number: str = "",
        builtins: Mapping[str, str] | None = None,
        on_node: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        """``builtins``: values prompts can speak besides the call's variables
        (the number called, the ticket); ``on_node`` is told each node entered."""
        self.services = services
        self.journal = journal
        self.caller_number = caller_number
        self._shown: dict[str, str] = {}
        self._builtins = dict(builtins or {})
        self._plan = plan
        self._first_plan = plan
        self._call = caller
        self._player = player
        self._on_node = on_node

    async def run(self) -> None:
        """Run to the end of the plan.

        Raises:
            CallerHungUp: the caller left before the plan ended.
            PlanLoopError: the plan kept moving without end.
        """
        name: str | None = self._plan.start
        steps = 0
        while name is not None:
            steps += 1
            if steps > MAX_STEPS_PER_CALL:
                raise PlanLoopError(f"plan {self._plan.name} made {steps} steps; stopped")
            node = self._plan.node(name)
            shown = name if self._plan is self._first_plan else f"{self._plan.name}/{name}"
            self.journal.entered(shown)
            if self._on_node is not None:
                await self._on_node(shown)
            kind = type_of(node)
            if kind.plays_prompts_first:
                await self.play(node.prompts)
            name = await kind.run(node, self)

    def now(self) -> datetime:
        return self.services.clock()

    def values(self) -> dict[str, str]:
        """What prompts can speak: the call's variables and who called."""
        return {
            "language": self._plan.default_language,
            "caller_number": self.caller_number,
            **self._builtins,
            **self._shown,
            **self.journal.variables,
        }

    def show(self, values: dict[str, str]) -> None:
        self._shown = values

    def hung_up(self) -> CallerHungUp:
        return CallerHungUp(self._call.end_reason or "caller hung up")

    def switch_plan(self, plan: Plan) -> None:
        self._plan = plan

    def menu_speech(self, node: SpeechMenu) -> MenuSpeech | None:
        if self.services.speech is None:
            return None
        return menu_request(self._plan, node, self.values()["language"])

    async def ask(
        self,
        prompts: tuple[Prompt, ...],
        timeout: float,
        node: str,
        attempt: int,
        menu: MenuSpeech | None,
    ) -> DigitPressed | Understood | None:
        """Play ``prompts`` and wait for a first key (or, with ``menu``, speech);
        None, journalled as no input, when none comes in time."""
        speech = self.services.speech
        if menu is not None and speech is not None:
            answer = await ask_by_voice(
                self._call,
                self._player,
                speech,
                menu,
                prompts,
                self.values(),
                timeout,
                self.journal,
                node,
            )
            if isinstance(answer, CallEnded):
                raise self.hung_up()
            if answer is None:
                self.journal.event("no_input", node=node, attempt=attempt)
            return answer
        event = await self.play(prompts, interruptible=True)
        if event is None:
            event = await self.wait_for_key(timeout)
        if event is None:
            self.journal.event("no_input", node=node, attempt=attempt)
        return event

    async def wait_for_key(self, timeout: float) -> DigitPressed | None:
        event = await self._call.next_event(timeout)
        if isinstance(event, CallEnded):
            raise CallerHungUp(event.reason)
        return event

    async def play(
        self, prompts: tuple[Prompt, ...], interruptible: bool = False
    ) -> DigitPressed | None:
        """Play prompts in order; with ``interruptible``, a key stops them and is returned."""
        for prompt in prompts:
            if not interruptible:
                if not await self._player.play(prompt, self.values()) and self._call.ended:
                    raise self.hung_up()
                continue
            key = await self._play_until_key(prompt)
            if key is not None:
                return key
        return None

    async def _play_until_key(self, prompt: Prompt) -> DigitPressed | None:
        playing = asyncio.ensure_future(self._player.play(prompt, self.values()))
        waiting = asyncio.ensure_future(self._call.next_event())
        try:
            await asyncio.wait({playing, waiting}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not waiting.done():
                waiting.cancel()
                await asyncio.gather(waiting, return_exceptions=True)
        if waiting.done() and not waiting.cancelled():
            event = waiting.result()
            self._player.stop()
            await playing
            if isinstance(event, CallEnded):
                raise CallerHungUp(event.reason)
            return event
        if self._call.ended:
            raise self.hung_up()
        return None
