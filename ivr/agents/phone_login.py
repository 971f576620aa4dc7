"""Logging in by phone, as Asterisk's queue members do.

An agent who calls the service from their own extension (the caller number, the
PBX's P-Asserted-Identity or From user, matched against the agents' extensions)
gets the agent menu instead of the customer plan: their state spoken, then one
key for available, break, offline, "ready" (wrap-up over: take calls now) or the
hotline (the customer plan, as any caller). Dialling a feature code as the number
(``*45`` to the service: the To user) does the same without the menu. Every
change takes the desk's path (:meth:`QueueDesk.request_state`: a break at a peak
or on a call is held) and is audited as the desk's is (``agent.state``, actor
``phone:<extension>``). The agent hears what was done, then the call ends.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from typing import Protocol

from redis.exceptions import RedisError

from ivr.agents.board import AgentState
from ivr.agents.phone_settings import AgentPhoneSettings
from ivr.agents.queues import QueueDesk
from ivr.agents.settings import AgentSettings
from ivr.agents.transfer import Speech
from ivr.exceptions import IvrError, PromptError
from ivr.telephony.interface import Call, CallInfo, DigitPressed
from ivr.tickets.audit import FAILED, OK, AuditEntry

log = logging.getLogger(__name__)

BYTES_PER_SECOND = 16000  # 8 kHz 16-bit: the call audio format
MENU_TRIES = 2
_NOT_DIGITS = re.compile(r"[^0-9A-Za-z*#]")

# What each action asks the board for ("ready": wrap-up over, so available).
_STATES = {
    "available": AgentState.AVAILABLE,
    "break": AgentState.BREAK,
    "offline": AgentState.OFFLINE,
    "ready": AgentState.AVAILABLE,
}
_SPOKEN_STATES = {
    "offline": "offline",
    "available": "available",
    "ringing": "ringing",
    "on_call": "on a call",
    "wrap_up": "in wrap-up",
    "break": "on a break",
}
_MENU_WORDS = {
    "available": "to take calls",
    "break": "for a break",
    "offline": "to log out",
    "ready": "when your wrap-up is done",
    "hotline": "for the hotline",
}
_KEY_WORDS = {"*": "star", "#": "hash"}


class AuditLog(Protocol):
    async def add_audit(self, entry: AuditEntry) -> None: ...


def _number(text: str) -> str:
    return _NOT_DIGITS.sub("", text)


def confirmation(action: str, result: str) -> str:
    """What the agent hears after ``action`` took ``result`` (the board's words)."""
    if result.endswith("(break requested)"):
        return (
            "Your break is held: the queue is busy. It starts when an agent frees up;"
            " until then you take calls."
        )
    said = _SPOKEN_STATES.get(result, result.replace("_", " "))
    if action == "ready" and result == "available":
        return "Wrap-up ended. You are available."
    if action in ("available", "break") and result in ("ringing", "on_call"):
        return f"You are {said}; nothing was changed."
    return f"You are {said}."


class AgentPhoneLogin:
    def __init__(
        self, settings: AgentPhoneSettings, desk: QueueDesk, speech: Speech, audit: AuditLog
    ) -> None:
        self._settings = settings
        self._desk = desk
        self._tts = speech
        self._audit = audit
        self._by_extension: dict[str, AgentSettings] = {}
        for agent in desk.board.agents():
            if agent.extension and _number(agent.extension):
                self._by_extension.setdefault(_number(agent.extension), agent)

    def agent_calling(self, info: CallInfo) -> AgentSettings | None:
        """The agent whose extension places this call, when log-in by phone is on."""
        if not self._settings.login or not info.caller_number:
            return None
        return self._by_extension.get(_number(info.caller_number))

    async def serve(self, call: Call, agent: AgentSettings) -> bool:
        """Answer, do what the dialled code or the key asks, confirm and hang up; True
        when the agent chose the hotline (the caller goes on to the plan, answered).
        Raises CallGone when the call ended before it was answered."""
        await call.answer()
        code = self._settings.codes.get(call.info.called_number)
        if code is not None:
            await self._act(call, agent, code, via="code")
            return False
        for attempt in range(MENU_TRIES):
            state = await self._current_state(agent.id)
            greeting = f"Agent {agent.name}. You are {_SPOKEN_STATES.get(state, state)}. "
            prompt = (greeting if attempt == 0 else "") + self._menu_text()
            key = await self._ask(call, prompt)
            if key is None:
                if call.ended:
                    return False
                continue
            action = self._settings.keys.get(key)
            if action == "hotline":
                return True
            if action is None:
                await self._say(call, "That key is not in the menu.")
                continue
            await self._act(call, agent, action, via="key")
            return False
        await self._say(call, "Goodbye.")
        return False

    def _menu_text(self) -> str:
        parts = [
            f"{_MENU_WORDS[action].capitalize()}, press {_KEY_WORDS.get(key, key)}."
            for key, action in self._settings.keys.items()
        ]
        return " ".join(parts)

    async def _current_state(self, agent_id: str) -> str:
        try:
            return (await self._desk.board.view(agent_id)).state.value
        except (RedisError, OSError):
            return "unknown"

    async def _act(self, call: Call, agent: AgentSettings, action: str, via: str) -> None:
        state = _STATES[action]
        detail: dict[str, object] = {
            "body": {"state": state.value},
            "via": f"phone {via}",
            "action": action,
            "called": call.info.called_number,
            "call_id": call.info.call_id,
        }
        try:
            result = await self._desk.request_state(agent.id, state)
        except (RedisError, OSError) as exc:
            log.error("agent %s by phone: %s not taken: %s", agent.id, action, exc)
            await self._record(agent, FAILED, {**detail, "error": str(exc)[:200]})
            await self._say(call, "Sorry, your state could not be changed. Please try again.")
            return
        log.info("agent %s by phone (%s %s): %s -> %s", agent.id, via, action, state.value, result)
        await self._record(agent, OK, {**detail, "status": 200, "result": result})
        await self._say(call, confirmation(action, result) + " Goodbye.")

    async def _record(self, agent: AgentSettings, outcome: str, detail: dict[str, object]) -> None:
        entry = AuditEntry(
            at=time.time(),
            actor=f"phone:{agent.extension}",
            role="agent",
            action="agent.state",
            target=agent.id,
            outcome=outcome,
            detail=detail,
        )
        log.info("audit: %s (agent) agent.state %s: %s", entry.actor, agent.id, outcome)
        try:
            await self._audit.add_audit(entry)
        except IvrError as exc:
            log.error("audit row not written (%s): %s", exc, entry)

    async def _speech(self, text: str) -> bytes:
        try:
            return await self._tts.speech(text, self._settings.voice)
        except PromptError as exc:
            log.error("agent menu prompt not spoken: %s", exc)
            return b""

    async def _say(self, call: Call, text: str) -> None:
        pcm = await self._speech(text)
        if pcm and not call.ended:
            await call.play(pcm)

    async def _ask(self, call: Call, text: str) -> str | None:
        """Play ``text`` and take the first key (it stops the prompt); None after the
        prompt and ``key_timeout_seconds`` without one, or when the call ended."""
        pcm = await self._speech(text)
        playing = asyncio.ensure_future(call.play(pcm)) if pcm else None
        deadline = len(pcm) / BYTES_PER_SECOND + self._settings.key_timeout_seconds
        try:
            event = await call.next_event(timeout=deadline)
            if isinstance(event, DigitPressed):
                return event.digit
            return None  # no key in time, or CallEnded
        finally:
            if playing is not None:
                call.stop_playback()
                await asyncio.gather(playing, return_exceptions=True)
