"""Walks a plan over one live call: prompts, menus, hang-up."""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime

from ivr.dialplan.callback_offer import CallbackOffer, Callbacks
from ivr.dialplan.http_lookup import JsonFetcher, LookupFailed, pick, render_url
from ivr.dialplan.model import (
    CallbackNode,
    CollectNode,
    ConditionNode,
    GotoNode,
    HttpLookupNode,
    MenuNode,
    MessageNode,
    Plan,
    Prompt,
    PromptNode,
    SetNode,
    SurveyNode,
    TransferNode,
)
from ivr.dialplan.ports import (
    CallerEvents,
    EmployeeLookup,
    MessageTaker,
    TransferOutcome,
    Transfers,
)
from ivr.dialplan.prompt_player import PromptPlayer
from ivr.dialplan.speech_turn import (
    SpeechInput,
    Understood,
    ask_by_voice,
    journal_utterance,
    menu_request,
)
from ivr.dialplan.templates import render
from ivr.telephony.interface import CallEnded, DigitPressed
from ivr.tickets.model import CallJournal

log = logging.getLogger(__name__)

# A plan that moves this many times without the caller doing anything is looping.
MAX_STEPS_PER_CALL = 500


class NoMatch:
    """A key (or entry) a node cannot take; ``detail`` goes on the ticket."""

    def __init__(self, **detail: str) -> None:
        self.detail = detail


class CallerHungUp(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class PlanLoopError(Exception):
    pass


class PlanRunner:
    def __init__(
        self,
        plan: Plan,
        caller: CallerEvents,
        player: PromptPlayer,
        journal: CallJournal,
        on_node: Callable[[str], Awaitable[None]] | None = None,
        caller_number: str = "",
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        fetcher: JsonFetcher | None = None,
        builtins: Mapping[str, str] | None = None,
        messages: MessageTaker | None = None,
        directory: EmployeeLookup | None = None,
        plans: Callable[[str], Plan | None] | None = None,
        transfers: Transfers | None = None,
        speech: SpeechInput | None = None,
        callbacks: Callbacks | None = None,
    ) -> None:
        self._speech = speech  # None: keys only
        self._callbacks = callbacks
        self._transfers = transfers
        self._announced: dict[str, str] = {}
        self._plans = plans
        self._messages = messages
        self._directory = directory
        self._fetcher = fetcher
        self._builtins = dict(builtins or {})
        self._caller_number = caller_number
        self._clock = clock
        self._plan = plan
        self._first_plan = plan
        self._call = caller
        self._player = player
        self._journal = journal
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
            self._journal.entered(shown)
            if self._on_node is not None:
                await self._on_node(shown)
            if not isinstance(node, MenuNode | CollectNode | SurveyNode | CallbackNode):
                await self._play(node.prompts)  # the asking nodes play theirs as they ask
            if isinstance(node, PromptNode):
                name = node.next
            elif isinstance(node, SetNode):
                for variable, value in node.values.items():
                    self._journal.set_variable(variable, value, node.name)
                name = node.next
            elif isinstance(node, MenuNode):
                name = await self._menu(node)
            elif isinstance(node, CollectNode):
                name = await self._collect(node)
            elif isinstance(node, SurveyNode):
                await self._survey(node)
                name = node.next
            elif isinstance(node, ConditionNode):
                name = await self._choose(node)
            elif isinstance(node, TransferNode):
                name = await self._transfer(node)
            elif isinstance(node, CallbackNode):
                name = await self._callback(node)
            elif isinstance(node, HttpLookupNode):
                name = await self._lookup(node)
            elif isinstance(node, MessageNode):
                name = await self._message(node)
            elif isinstance(node, GotoNode):
                name = self._goto(node)
            else:  # HangupNode
                name = None

    async def _menu(self, node: MenuNode) -> str | None:
        async def answer(key: DigitPressed) -> str | None | NoMatch:
            self._journal.pressed(key.digit, node.name)
            return node.keys[key.digit] if key.digit in node.keys else NoMatch(digit=key.digit)

        answered, target = await self._until_answered(node, answer)
        return target if answered else node.fallback

    async def _collect(self, node: CollectNode) -> str | None:
        async def answer(first: DigitPressed) -> str | None | NoMatch:
            digits = await self._rest_of_entry(node, first)
            valid = len(digits) >= node.min_digits and (
                node.pattern is None or node.pattern.fullmatch(digits) is not None
            )
            if not valid or (node.identify and not self._identify(digits, node.name)):
                return NoMatch(digits=digits)
            self._journal.collected(node.variable, digits, node.name)
            return node.next

        answered, target = await self._until_answered(node, answer)
        return target if answered else node.fallback

    async def _survey(self, node: SurveyNode) -> None:
        async def answer(key: DigitPressed) -> str | None | NoMatch:
            self._journal.pressed(key.digit, node.name)
            if key.digit not in "12345":
                return NoMatch(digit=key.digit)
            self._journal.rated(int(key.digit), node.name)
            return None

        await self._until_answered(node, answer)

    async def _until_answered(
        self,
        node: MenuNode | CollectNode | SurveyNode,
        answer: Callable[[DigitPressed], Awaitable[str | None | NoMatch]],
    ) -> tuple[bool, str | None]:
        """Ask up to ``node.tries`` times, re-prompting with no_input / no_match.

        ``answer`` turns the first key of a try into the node to go to, or a
        :class:`NoMatch`. Returns (answered, where to go)."""
        retry_prompts: tuple[Prompt, ...] = ()
        for attempt in range(1, node.tries + 1):
            key = await self._ask(node, retry_prompts, attempt)
            if key is None:
                retry_prompts = node.no_input
                continue
            if isinstance(key, Understood):
                outcome = self._understood(node, key)
            else:
                outcome = await answer(key)
            if not isinstance(outcome, NoMatch):
                return True, outcome
            self._journal.event("no_match", node=node.name, attempt=attempt, **outcome.detail)
            retry_prompts = node.no_match
        self._journal.event("no_answer", node=node.name, tries=node.tries)
        return False, None

    def _understood(
        self, node: MenuNode | CollectNode | SurveyNode, understood: Understood
    ) -> str | None | NoMatch:
        journal_utterance(self._journal, node.name, understood)
        intent = understood.match.intent
        if isinstance(node, MenuNode) and intent is not None and intent in node.intents:
            return node.intents[intent]
        return NoMatch(
            said=understood.heard.text,
            reason=understood.match.reason,
            confidence=str(understood.match.confidence),
        )

    async def _rest_of_entry(self, node: CollectNode, first: DigitPressed) -> str:
        digits = ""
        event: DigitPressed | None = first
        while event is not None:
            self._journal.pressed(event.digit, node.name)
            if event.digit == node.terminator:
                break
            digits += event.digit
            if len(digits) >= node.max_digits:
                break
            event = await self._wait_for_key(node.inter_digit_seconds)
        return digits

    async def _lookup(self, node: HttpLookupNode) -> str | None:
        url = render_url(node.url, self._values())
        try:
            if self._fetcher is None:
                raise LookupFailed("HTTP lookups are not available here")
            data = await self._fetcher.fetch(node.method, url, node.timeout_seconds)
            found = {variable: pick(data, path) for variable, path in node.results.items()}
        except LookupFailed as exc:
            self._journal.event("http_lookup", node=node.name, url=url, ok=False, error=str(exc))
            return node.on_failure
        self._journal.event("http_lookup", node=node.name, url=url, ok=True)
        for variable, value in found.items():
            self._journal.set_variable(variable, value, node.name)
        return node.next

    async def _message(self, node: MessageNode) -> str | None:
        if self._messages is None:
            self._journal.event("message", node=node.name, path=None, ended_by="unavailable")
            return node.next
        result = await self._messages.take(node)
        self._journal.event(
            "message",
            node=node.name,
            path=str(result.path) if result.path else None,
            seconds=result.seconds,
            ended_by=result.ended_by,
        )
        # Hanging up is how most callers finish a message: the plan ends there.
        return None if result.ended_by == "hangup" else node.next

    def _goto(self, node: GotoNode) -> str | None:
        target = self._plans(node.plan) if self._plans is not None else None
        start = None if target is None else (node.node or target.start)
        if target is None or start not in target.nodes:
            missing = (
                f"plan {node.plan!r}" if target is None else f"node {start!r} in {node.plan!r}"
            )
            log.error("%s: goto to a missing %s; the plan ends here", node.location, missing)
            self._journal.event("goto_failed", node=node.name, plan=node.plan, missing=missing)
            return None
        self._journal.event("goto", plan=target.name, version=target.version, node=start)
        self._plan = target
        return start

    async def _transfer(self, node: TransferNode) -> str | None:
        if self._transfers is None:
            self._journal.event("transfer_failed", node=node.name, reason="no agents here")
            return node.fallback
        values = self._values()
        whisper = ""
        if node.whisper is not None:
            prompt = node.whisper.for_language(values["language"])
            whisper = render(prompt.text or "", values, prompt.voice)

        async def announce(position: int, wait_seconds: float) -> None:
            minutes = "" if math.isinf(wait_seconds) else str(max(1, math.ceil(wait_seconds / 60)))
            self._announced = {"position": str(position), "wait_minutes": minutes}
            await self._play(node.announce)

        if node.queue is not None:
            outcome = await self._transfers.to_queue(node.queue, whisper, announce)
        else:
            outcome = await self._transfers.to_extension(node.extension or "", node.method, whisper)
        if outcome is TransferOutcome.CONNECTED:
            return node.next
        if outcome is TransferOutcome.FALLBACK:
            return node.fallback
        if outcome is TransferOutcome.CALLER_LEFT and self._journal.handling.talk_seconds is None:
            raise CallerHungUp(self._end_reason())
        return None  # talked and hung up, or handed over by REFER: the plan is done

    async def _callback(self, node: CallbackNode) -> str | None:
        if self._callbacks is None:
            self._journal.event("callback_failed", node=node.name, reason="no callbacks here")
            return node.fallback

        async def play(prompts: tuple[Prompt, ...]) -> DigitPressed | None:
            self._announced = offer.values
            return await self._play(prompts, interruptible=True)

        offer = CallbackOffer(node, self._callbacks, self._journal, play, self._wait_for_key, {})
        return await offer.run(self._caller_number)

    async def _queue_waits(self, node: ConditionNode) -> dict[str, float]:
        waits: dict[str, float] = {}
        for queue in {r.queue for r in node.rules if r.queue is not None}:
            try:
                if self._transfers is not None:
                    waits[queue] = await self._transfers.estimated_wait(queue)
            except LookupError as exc:
                log.error("%s: %s", node.location, exc)
        for queue, wait in waits.items():
            shown = "" if math.isinf(wait) else str(round(wait))
            self._journal.set_variable(f"{queue}_estimated_wait_seconds", shown, node.name)
        return waits

    async def _choose(self, node: ConditionNode) -> str | None:
        now = self._clock()
        waits = await self._queue_waits(node)
        variables = self._journal.variables
        for index, rule in enumerate(node.rules):
            wait = waits.get(rule.queue) if rule.queue is not None else None
            if rule.holds(self._caller_number, variables, now, wait):
                self._journal.event("condition", node=node.name, rule=index, goto=rule.target)
                return rule.target
        self._journal.event("condition", node=node.name, rule=None, goto=node.otherwise)
        return node.otherwise

    def _identify(self, employee_id: str, node: str) -> bool:
        employee = self._directory.by_employee_id(employee_id) if self._directory else None
        if employee is None:
            self._journal.event("not_in_directory", node=node, employee_id=employee_id)
            return False
        self._journal.identified(employee.as_variables(), by="employee_id")
        return True

    async def _ask(
        self,
        node: MenuNode | CollectNode | SurveyNode,
        retry_prompts: tuple[Prompt, ...],
        attempt: int,
    ) -> DigitPressed | Understood | None:
        """Play the node's prompts (after the last try's retry prompt) and wait for a
        first key (or, on a menu with intents, speech); None, journalled as no input,
        when none comes in time."""
        menu = (
            menu_request(self._plan, node, self._values()["language"])
            if (isinstance(node, MenuNode) and self._speech is not None)
            else None
        )
        if menu is not None and self._speech is not None:
            answer = await ask_by_voice(
                self._call,
                self._player,
                self._speech,
                menu,
                retry_prompts + node.prompts,
                self._values(),
                node.timeout_seconds,
                self._journal,
                node.name,
            )
            if isinstance(answer, CallEnded):
                raise CallerHungUp(self._end_reason())
            if answer is None:
                self._journal.event("no_input", node=node.name, attempt=attempt)
            return answer
        event = await self._play(retry_prompts + node.prompts, interruptible=True)
        if event is None:
            event = await self._wait_for_key(node.timeout_seconds)
        if event is None:
            self._journal.event("no_input", node=node.name, attempt=attempt)
        return event

    async def _wait_for_key(self, timeout: float) -> DigitPressed | None:
        event = await self._call.next_event(timeout)
        if isinstance(event, CallEnded):
            raise CallerHungUp(event.reason)
        return event

    async def _play(
        self, prompts: tuple[Prompt, ...], interruptible: bool = False
    ) -> DigitPressed | None:
        """Play prompts in order; with ``interruptible``, a key stops them and is returned."""
        for prompt in prompts:
            if not interruptible:
                if not await self._player.play(prompt, self._values()) and self._call.ended:
                    raise CallerHungUp(self._end_reason())
                continue
            key = await self._play_until_key(prompt)
            if key is not None:
                return key
        return None

    async def _play_until_key(self, prompt: Prompt) -> DigitPressed | None:
        playing = asyncio.ensure_future(self._player.play(prompt, self._values()))
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
            raise CallerHungUp(self._end_reason())
        return None

    def _values(self) -> dict[str, str]:
        """What prompts can speak: the call's variables and who called."""
        return {
            "language": self._plan.default_language,
            "caller_number": self._caller_number,
            **self._builtins,
            **self._announced,
            **self._journal.variables,
        }

    def _end_reason(self) -> str:
        return self._call.end_reason or "caller hung up"
