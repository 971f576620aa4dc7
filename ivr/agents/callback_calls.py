"""What the callback dispatcher needs from the service: agents to reserve and calls to place.

``agent_first``: ring the agent, whisper who and why, then dial the customer and
connect them. ``customer_first``: dial the customer, who must press 1 to be
connected (so an answering machine is not counted as reached), then ring the
agent. Every number dialled passes the dialling policy; the customer is not
dialled while their number is on a call with the service (``Lines``). The
customer's leg is recorded like an inbound call (``LegRecordings``), and each
step of the attempt is kept for the ticket's timeline.

The customer's call is written ahead before it is dialled and marked connected
before the legs are bridged (``CallLedger``); the agent's release afterwards never
decides the outcome: a Redis error there is retried in the background.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

from redis.exceptions import RedisError

from callback.dispatcher import (
    NOT_DIALLED,
    NUMBER_IN_CALL,
    Attempt,
    AttemptEvent,
    CallLedger,
    Lines,
)
from callback.ledger import until_redis_answers
from callback.line import QueueLine
from callback.requests import CallbackRequest
from ivr.agents.board import AgentBoard
from ivr.agents.callback_legs import LegRecordings
from ivr.agents.desk_calls import DeskCalls
from ivr.agents.dialling import Dialler, DialPolicy
from ivr.agents.legs import first_to_hang_up
from ivr.agents.settings import QueueSettings
from ivr.agents.transfer import Speech
from ivr.exceptions import DialRefused, PromptError, TelephonyError
from ivr.media.recording import CallRecorder
from ivr.telephony.interface import Call, DigitPressed

log = logging.getLogger(__name__)

KEY_WAIT_SECONDS = 8.0
CONNECT_KEY = "1"  # the called-back customer presses it to be put through to the agent
CUSTOMER_PROMPT = (
    f"This is I T support calling you back. Press {CONNECT_KEY} to be connected to an agent."
)
SORRY_PROMPT = "Sorry, no agent could take the call. We will call you again."
APOLOGY_PROMPT = "Sorry, our last call to you was cut off. This is I T support again."
IN_CALL_PROMPT = "The customer is on a call with us now; the callback waits until it ends."
# baresip's reasons for an unanswered dial, by error class
_DIAL_OUTCOMES = {"CallBusy": "busy", "CallTimeout": "no_answer", "CallDeclined": "declined"}


def dial_outcome(exc: TelephonyError) -> str:
    return _DIAL_OUTCOMES.get(type(exc.__cause__).__name__, "failed")


class _NotDialled(Exception):
    """The write ahead was refused: this dispatcher may not place the call."""


class CallbackConnector:
    def __init__(
        self,
        board: AgentBoard,
        line: QueueLine,
        queues: dict[str, QueueSettings],
        dialler: Dialler,
        policy: DialPolicy,
        speech: Speech,
        number_uri: str,
        ring_seconds: float,
        key_wait_seconds: float = KEY_WAIT_SECONDS,
        voice: str = "en",
        lines: Lines | None = None,
        recordings: LegRecordings | None = None,
        desk_calls: DeskCalls | None = None,
    ) -> None:
        self._desk_calls = desk_calls
        self._lines = lines
        self._recordings = recordings
        self._ring_seconds = ring_seconds
        self._key_wait_seconds = key_wait_seconds
        self._board = board
        self._line = line
        self._queues = queues
        self._dialler = dialler
        self._policy = policy
        self._speech = speech
        self._number_uri = number_uri
        self._voice = voice
        self._tidying: set[asyncio.Task[None]] = set()

    async def call_back(
        self, request: CallbackRequest, agent_id: str, mode: str, ledger: CallLedger
    ) -> Attempt:
        steps = _Steps()
        try:
            attempt = await self._call_back(request, agent_id, mode, steps, ledger)
        except _NotDialled:
            await self._release(agent_id, 0)
            attempt = Attempt(NOT_DIALLED, "the call was not written ahead", agent_id)
        finally:
            steps.stop_recording()
        return steps.attempt(attempt)

    async def _release(
        self, agent_id: str, wrap_up_seconds: float, legs: _Legs | None = None
    ) -> None:
        """The agent is free again (after wrap-up); never raises: a Redis error is
        retried in the background, so it cannot change the attempt's outcome."""
        await self._tidy(
            f"agent {agent_id} released", lambda: self._board.finished(agent_id, wrap_up_seconds)
        )
        if legs is not None and self._desk_calls is not None:
            desk = self._desk_calls
            await self._tidy(
                f"desk of {agent_id}", lambda: desk.ended(legs.agent_id, legs.request.entry)
            )

    async def _tidy(self, what: str, write: Callable[[], Awaitable[None]]) -> None:
        try:
            await write()
        except (RedisError, OSError) as exc:
            log.warning("%s: Redis did not answer (%s); retried in the background", what, exc)
            task = asyncio.create_task(until_redis_answers(what, write))
            self._tidying.add(task)
            task.add_done_callback(self._tidying.discard)

    async def _call_back(
        self,
        request: CallbackRequest,
        agent_id: str,
        mode: str,
        steps: _Steps,
        ledger: CallLedger,
    ) -> Attempt:
        try:
            customer_uri = self._customer_uri(request.number)
        except DialRefused as exc:
            await self._release(agent_id, 0)
            return Attempt("refused", str(exc))
        agent = self._board.settings(agent_id)
        queue = self._queues.get(request.queue, QueueSettings(request.queue))
        if agent is None:
            return Attempt("agent_no_answer", f"agent {agent_id} is not configured")
        try:
            agent_uri = self._policy.check(agent.uri)
        except DialRefused as exc:
            await self._board.not_answered(agent_id, str(exc))
            return Attempt("agent_no_answer", str(exc), agent_id)
        legs = _Legs(request, agent_id, agent_uri, customer_uri, queue, steps, ledger)
        if mode == "customer_first":
            return await self._customer_first(legs)
        return await self._agent_first(legs)

    def _customer_uri(self, number: str) -> str:
        if not self._number_uri:
            raise DialRefused("callbacks.number_uri is not configured")
        if not number or any(not (c.isdigit() or c == "+") for c in number):
            raise DialRefused(f"{number!r} is not a phone number")
        return self._policy.check(self._number_uri.format(number=number))

    async def _agent_first(self, legs: _Legs) -> Attempt:
        agent_leg = await self._ring_agent(legs)
        if isinstance(agent_leg, Attempt):
            return agent_leg
        try:
            if await self._number_in_call(legs.request):
                await self._say(agent_leg, IN_CALL_PROMPT)
                return Attempt(NUMBER_IN_CALL, IN_CALL_PROMPT, legs.agent_id)
            try:
                customer = await self._dial_customer(legs)
            except TelephonyError as exc:
                await self._say(agent_leg, "The customer did not answer.")
                return _not_answered(exc, legs.agent_id)
            return await self._talk(customer, agent_leg, legs)
        finally:
            await agent_leg.hangup()
            await self._release(legs.agent_id, legs.queue.wrap_up_seconds, legs)

    async def _customer_first(self, legs: _Legs) -> Attempt:
        if await self._number_in_call(legs.request):
            await self._release(legs.agent_id, 0)
            return Attempt(NUMBER_IN_CALL, IN_CALL_PROMPT)
        try:
            customer = await self._dial_customer(legs)
        except TelephonyError as exc:
            await self._release(legs.agent_id, 0)
            return _not_answered(exc, None)
        try:
            if not await self._pressed_one(customer):
                await self._release(legs.agent_id, 0)
                return Attempt("no_key", f"answered but {CONNECT_KEY} was not pressed (voicemail?)")
            legs.steps.add("key_pressed", digit=CONNECT_KEY)
            agent_leg = await self._ring_agent(legs)
            if isinstance(agent_leg, Attempt):
                await self._say(customer, SORRY_PROMPT)
                return agent_leg
            try:
                return await self._talk(customer, agent_leg, legs)
            finally:
                await agent_leg.hangup()
                await self._release(legs.agent_id, legs.queue.wrap_up_seconds, legs)
        finally:
            await customer.hangup()

    async def _ring_agent(self, legs: _Legs) -> Call | Attempt:
        """The agent's leg, whispered to; an agent who does not answer is set offline."""
        legs.steps.add("agent_rung", agent=legs.agent_id)
        await self._desk_ringing(legs)
        try:
            agent_leg = await self._dialler.dial(
                legs.agent_uri, timeout=legs.queue.ring_timeout_seconds
            )
        except TelephonyError as exc:
            await self._board.not_answered(legs.agent_id, dial_outcome(exc))
            if self._desk_calls is not None:
                await self._desk_calls.missed(legs.agent_id, legs.request.entry)
            return Attempt("agent_no_answer", str(exc), legs.agent_id)
        legs.steps.add("agent_answered", agent=legs.agent_id)
        await self._board.answered(legs.agent_id)
        if self._desk_calls is not None:
            await self._desk_calls.connected(legs.agent_id, legs.request.entry)
        if legs.queue.whisper:
            await self._say(agent_leg, self._whisper(legs.request))
        return agent_leg

    async def _desk_ringing(self, legs: _Legs) -> None:
        """The desk shows the callback; the API adds the booking call's ticket to it."""
        if self._desk_calls is None:
            return
        request = legs.request
        waited = round(time.time() - request.created_at, 1) if request.created_at else None
        pop = {
            "kind": "callback",
            "ticket_id": request.ticket_id or None,
            "caller_number": request.number,
            "queue": request.queue,
            "employee_name": request.caller_name,
            "intent": request.intent or None,
            "waited_seconds": waited,
            "callback": {"request": request.id, "attempt": request.attempts + 1},
        }
        await self._desk_calls.ringing(legs.agent_id, request.entry, pop)

    async def _number_in_call(self, request: CallbackRequest) -> bool:
        """Whether the customer's number has a live call (checked again just before
        the dial: the agent's leg took seconds since the dispatcher looked)."""
        if self._lines is None:
            return False
        try:
            return request.number in await self._lines.in_call({request.number})
        except (RedisError, OSError) as exc:
            log.warning("callback %s: live calls not checked: %s", request.id, exc)
            return False

    async def _dial_customer(self, legs: _Legs) -> Call:
        """The customer's answered leg, recorded from the answer. Raises TelephonyError."""
        # The path first: the ticket is read for it, and the answer must not wait.
        path = await self._recordings.path(legs.request) if self._recordings else None
        if not await legs.ledger.dialling():
            raise _NotDialled
        customer = await self._dialler.dial(legs.customer_uri, timeout=self._ring_seconds)
        legs.ledger.answered(customer.info.call_id)
        legs.steps.add(
            "customer_answered", number=legs.request.number, call_id=customer.info.call_id
        )
        if path is not None:
            legs.steps.recorder = CallRecorder(path)
            customer.add_audio_sink(legs.steps.recorder)
        if legs.request.apologise:
            await self._say(customer, APOLOGY_PROMPT)
        return customer

    async def _pressed_one(self, customer: Call) -> bool:
        for _ in range(2):
            await self._say(customer, CUSTOMER_PROMPT)
            deadline = time.monotonic() + self._key_wait_seconds
            while (left := deadline - time.monotonic()) > 0:
                event = await customer.next_event(left)
                if event is None:
                    break
                if not isinstance(event, DigitPressed):
                    return False  # hung up
                if event.digit == CONNECT_KEY:
                    return True
        return False

    async def _talk(self, customer: Call, agent_leg: Call, legs: _Legs) -> Attempt:
        if customer.ended or agent_leg.ended:
            await customer.hangup()
            return Attempt("failed", "a leg ended before they were connected", legs.agent_id)
        legs.ledger.connected(customer.info.call_id)
        customer.bridge(agent_leg)
        agent_leg.bridge(customer)
        started = time.time()
        legs.steps.add("bridged", agent=legs.agent_id)
        customer_first = await first_to_hang_up(customer, agent_leg)
        customer.bridge(None)
        agent_leg.bridge(None)
        await customer.hangup()
        talked = time.time() - started
        legs.steps.add(
            "hung_up", by="customer" if customer_first else "agent", talk_seconds=round(talked, 1)
        )
        return Attempt(
            "connected", f"talked {talked:.0f} s", legs.agent_id, call_id=customer.info.call_id
        )

    def _whisper(self, request: CallbackRequest) -> str:
        who = request.caller_name or " ".join(request.number)
        about = f", about {request.intent}" if request.intent else ""
        ticket = f", ticket {request.ticket_id}" if request.ticket_id else ""
        return f"Callback to {who}{about}{ticket}."

    async def _say(self, call: Call, text: str) -> None:
        try:
            await call.play(await self._speech.speech(text, self._voice, False))
        except PromptError as exc:
            log.error("callback prompt not played: %s", exc)


class _Steps:
    """What happened in one attempt, in order, and its customer leg's recorder."""

    def __init__(self) -> None:
        self.events: list[AttemptEvent] = []
        self.recorder: CallRecorder | None = None

    def add(self, kind: str, **detail: Any) -> None:
        self.events.append(AttemptEvent(time.time(), kind, detail))

    def stop_recording(self) -> None:
        if self.recorder is not None:
            self.recorder.close()

    def attempt(self, attempt: Attempt) -> Attempt:
        """``attempt`` with its steps and the recording (None when it failed)."""
        recording = None
        if self.recorder is not None:
            if self.recorder.error:
                self.add("recording_failed", error=self.recorder.error)
            else:
                recording = str(self.recorder.path)
        return replace(attempt, recording=recording, events=tuple(self.events))


@dataclass(frozen=True)
class _Legs:
    """Who one attempt connects, and where its steps go."""

    request: CallbackRequest
    agent_id: str
    agent_uri: str
    customer_uri: str
    queue: QueueSettings
    steps: _Steps
    ledger: CallLedger


def _not_answered(exc: TelephonyError, agent_id: str | None) -> Attempt:
    return Attempt(dial_outcome(exc), str(exc), agent_id, call_id=exc.call_id)
