"""What the callback dispatcher needs from the service: agents to reserve and calls to place.

``agent_first``: ring the agent, whisper who and why, then dial the customer and
connect them. ``customer_first``: dial the customer, who must press 1 to be
connected (so an answering machine is not counted as reached), then ring the
agent. Every number dialled passes the dialling policy.
"""

from __future__ import annotations

import logging
import time

from callback.dispatcher import Attempt
from callback.line import QueueLine
from callback.requests import CallbackRequest
from ivr.agents.board import AgentBoard
from ivr.agents.settings import QueueSettings
from ivr.agents.transfer import Dialler, Speech, first_to_hang_up
from ivr.dialling import DialPolicy
from ivr.exceptions import DialRefused, PromptError, TelephonyError
from ivr.telephony.interface import Call, DigitPressed

log = logging.getLogger(__name__)

KEY_WAIT_SECONDS = 8.0
CUSTOMER_PROMPT = "This is I T support calling you back. Press 1 to be connected to an agent."
SORRY_PROMPT = "Sorry, no agent could take the call. We will call you again."
# baresip's reasons for an unanswered dial, by error class
_DIAL_OUTCOMES = {"CallBusy": "busy", "CallTimeout": "no_answer", "CallDeclined": "declined"}


def dial_outcome(exc: TelephonyError) -> str:
    return _DIAL_OUTCOMES.get(type(exc.__cause__).__name__, "failed")


class BoardAgents:
    """Reserves agents for callbacks by the same rule as for live callers."""

    def __init__(self, board: AgentBoard, line: QueueLine) -> None:
        self._board = board
        self._line = line

    async def claim(self, queue: str, entry: str) -> str | None:
        return (await self._board.claim(queue, self._line, entry, set())).agent_id

    async def release(self, agent_id: str) -> None:
        await self._board.finished(agent_id, 0)


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
    ) -> None:
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

    async def call_back(self, request: CallbackRequest, agent_id: str, mode: str) -> Attempt:
        try:
            customer_uri = self._customer_uri(request.number)
        except DialRefused as exc:
            await self._board.finished(agent_id, 0)
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
        if mode == "customer_first":
            return await self._customer_first(request, agent_id, agent_uri, customer_uri, queue)
        return await self._agent_first(request, agent_id, agent_uri, customer_uri, queue)

    def _customer_uri(self, number: str) -> str:
        if not self._number_uri:
            raise DialRefused("callbacks.number_uri is not configured")
        if not number or any(not (c.isdigit() or c == "+") for c in number):
            raise DialRefused(f"{number!r} is not a phone number")
        return self._policy.check(self._number_uri.format(number=number))

    async def _agent_first(
        self,
        request: CallbackRequest,
        agent_id: str,
        agent_uri: str,
        customer_uri: str,
        queue: QueueSettings,
    ) -> Attempt:
        agent_leg = await self._ring_agent(request, agent_id, agent_uri, queue)
        if isinstance(agent_leg, Attempt):
            return agent_leg
        try:
            try:
                customer = await self._dialler.dial(customer_uri, timeout=self._ring_seconds)
            except TelephonyError as exc:
                await self._say(agent_leg, "The customer did not answer.")
                return Attempt(dial_outcome(exc), str(exc), agent_id)
            return await self._talk(customer, agent_leg, agent_id)
        finally:
            await agent_leg.hangup()
            await self._board.finished(agent_id, queue.wrap_up_seconds)

    async def _customer_first(
        self,
        request: CallbackRequest,
        agent_id: str,
        agent_uri: str,
        customer_uri: str,
        queue: QueueSettings,
    ) -> Attempt:
        try:
            customer = await self._dialler.dial(customer_uri, timeout=self._ring_seconds)
        except TelephonyError as exc:
            await self._board.finished(agent_id, 0)
            return Attempt(dial_outcome(exc), str(exc))
        try:
            if not await self._pressed_one(customer):
                await self._board.finished(agent_id, 0)
                return Attempt("no_key", "answered but 1 was not pressed (voicemail?)")
            agent_leg = await self._ring_agent(request, agent_id, agent_uri, queue)
            if isinstance(agent_leg, Attempt):
                await self._say(customer, SORRY_PROMPT)
                return agent_leg
            try:
                return await self._talk(customer, agent_leg, agent_id)
            finally:
                await agent_leg.hangup()
                await self._board.finished(agent_id, queue.wrap_up_seconds)
        finally:
            await customer.hangup()

    async def _ring_agent(
        self, request: CallbackRequest, agent_id: str, agent_uri: str, queue: QueueSettings
    ) -> Call | Attempt:
        """The agent's leg, whispered to; an agent who does not answer is set offline."""
        try:
            agent_leg = await self._dialler.dial(agent_uri, timeout=queue.ring_timeout_seconds)
        except TelephonyError as exc:
            await self._board.not_answered(agent_id, dial_outcome(exc))
            return Attempt("agent_no_answer", str(exc), agent_id)
        await self._board.answered(agent_id)
        if queue.whisper:
            await self._say(agent_leg, self._whisper(request))
        return agent_leg

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
                if event.digit == "1":
                    return True
        return False

    async def _talk(self, customer: Call, agent_leg: Call, agent_id: str) -> Attempt:
        if customer.ended or agent_leg.ended:
            await customer.hangup()
            return Attempt("failed", "a leg ended before they were connected", agent_id)
        customer.bridge(agent_leg)
        agent_leg.bridge(customer)
        started = time.time()
        await first_to_hang_up(customer, agent_leg)
        customer.bridge(None)
        agent_leg.bridge(None)
        await customer.hangup()
        return Attempt("connected", f"talked {time.time() - started:.0f} s", agent_id)

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
