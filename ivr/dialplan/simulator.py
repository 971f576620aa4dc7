"""Running a plan without a phone: keys typed or scripted, prompts printed as text.

The simulator drives the same :class:`~ivr.dialplan.runner.PlanRunner` the
calls use; only the caller and the prompt player are stand-ins. Prompts take
no time, so a key is always an answer to the prompt before it (no barge-in).
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from ivr.dialplan.http_lookup import AiohttpFetcher
from ivr.dialplan.loader import check_plan
from ivr.dialplan.model import Plan, Prompt
from ivr.dialplan.nodes.call import CallServices
from ivr.dialplan.ports import MessageLimits
from ivr.dialplan.runner import PlanRunner
from ivr.dialplan.simulated_transfers import SimulatedCallbacks, SimulatedTransfers
from ivr.dialplan.templates import render
from ivr.directory import EmployeeDirectory
from ivr.exceptions import CallerHungUp
from ivr.speech.spec import HeardText, ListenRequest
from ivr.telephony.interface import CallEnded, CallEvent, DigitPressed
from ivr.tickets.model import CallJournal

SILENCE = "-"  # the caller lets one menu timeout pass
HANGUP = "hangup"
SAY = "say "  # "say <text>": the caller says <text> (scored like a recognised utterance)
DTMF_INPUT = set("0123456789*#")


def parse_inputs(items: Iterable[str]) -> list[str]:
    """Split ``["12", "-", "hangup"]`` into single keys, silences and hang-ups.

    Raises:
        ValueError: an input that is none of these.
    """
    tokens: list[str] = []
    for item in items:
        text = str(item).strip()
        if text in (SILENCE, HANGUP):
            tokens.append(text)
        elif text.startswith(SAY) and text[len(SAY) :].strip():
            tokens.append(SAY + text[len(SAY) :].strip())
        elif text and set(text) <= DTMF_INPUT:
            tokens.extend(text)
        else:
            raise ValueError(
                f"input {item!r} is not keys (0-9 * #), 'say <words>', '{SILENCE}' or '{HANGUP}'"
            )
    return tokens


class _SimulatedCaller(ABC):
    def __init__(self) -> None:
        self._end: CallEnded | None = None
        self.speech = SimulatedSpeech()

    @property
    def ended(self) -> bool:
        return self._end is not None

    @property
    def end_reason(self) -> str | None:
        return self._end.reason if self._end else None

    def _hang_up(self, reason: str) -> CallEnded:
        self._end = CallEnded(reason, by_caller=True)
        return self._end

    async def next_event(self, timeout: float | None = None) -> CallEvent | None:
        if self._end is not None:
            return self._end
        if timeout is None:  # prompts take no time: never a key during one
            await asyncio.Event().wait()
        token = await self._next_input()
        if token == SILENCE:
            return None
        if token == HANGUP:
            return self._hang_up("caller hung up")
        if token.startswith(SAY):
            if self.speech.hear(token[len(SAY) :]):
                await asyncio.Event().wait()  # the menu takes the utterance, not a key
            return None  # nobody listening: as good as silence
        return DigitPressed(token)

    @abstractmethod
    async def _next_input(self) -> str:
        """The caller's next input: a key, SILENCE or HANGUP."""


class _TextListening:
    def __init__(self) -> None:
        self.speech_started = asyncio.Event()
        self.text = ""

    async def heard(self) -> HeardText:
        now = time.time()
        return HeardText(self.text, 1.0, now, now, 0.0)

    async def heard_again(
        self, first: HeardText, grammar: tuple[str, ...], budget_seconds: float
    ) -> HeardText | None:
        return None  # typed text: no audio to decode again

    def close(self) -> None:
        return None


class SimulatedSpeech:
    """Speech as typed text: what a menu hears is exactly what the caller 'says'."""

    def __init__(self) -> None:
        self._current: _TextListening | None = None

    def listen(self, request: ListenRequest) -> _TextListening:
        self._current = _TextListening()
        return self._current

    def hear(self, text: str) -> bool:
        """False when no menu is listening."""
        listening, self._current = self._current, None
        if listening is None:
            return False
        listening.text = text
        listening.speech_started.set()
        return True


class ScriptedCaller(_SimulatedCaller):
    """Presses the scripted keys in order; hangs up when the script runs out."""

    def __init__(self, tokens: list[str]) -> None:
        super().__init__()
        self._tokens = list(tokens)

    async def _next_input(self) -> str:
        return self._tokens.pop(0) if self._tokens else HANGUP


class TypingCaller(_SimulatedCaller):
    """Reads keys from standard input: a line of keys, empty for silence, EOF hangs up."""

    def __init__(self, tokens_waiting: list[str] | None = None) -> None:
        super().__init__()
        self._waiting = tokens_waiting or []

    async def _next_input(self) -> str:
        while not self._waiting:
            line = await asyncio.get_running_loop().run_in_executor(None, _read_line)
            if line is None:
                return HANGUP
            try:
                self._waiting = parse_inputs([line.strip() or SILENCE])
            except ValueError as exc:
                print(f"  ({exc})", flush=True)
        return self._waiting.pop(0)


def _read_line() -> str | None:
    print("keys> ", end="", flush=True)
    line = sys.stdin.readline()
    return line if line else None


class TextPromptPlayer:
    def __init__(self, show: Callable[[str], None] | None = None) -> None:
        self.heard: list[str] = []
        self._show = show

    async def play(self, prompt: Prompt, values: Mapping[str, str]) -> bool:
        prompt = prompt.for_language(values.get("language", ""))
        if prompt.text is None:
            text = f"[audio {prompt.file}]"
        else:
            text = render(prompt.text, values, prompt.voice) if prompt.has_values else prompt.text
        self.note(text)
        return True

    def note(self, text: str) -> None:
        """What the caller hears (a prompt, or a simulated transfer in brackets)."""
        self.heard.append(text)
        if self._show is not None:
            self._show(text)

    def stop(self) -> None:
        return None


def sibling_plans(plan: Plan) -> Callable[[str], Plan | None]:
    """Plans in ``plan``'s folder by name, loaded when a goto first asks for them."""
    loaded: dict[str, Plan] = {plan.name: plan}

    def find(name: str) -> Plan | None:
        if name not in loaded:
            for path in sorted(plan.path.parent.glob("*.yaml")):
                other, _ = check_plan(path)
                if other is not None:
                    loaded.setdefault(other.name, other)
        return loaded.get(name)

    return find


@dataclass(frozen=True)
class SimulatedMessage:
    path: Path | None
    seconds: float
    ended_by: str


class SimulatedMessageTaker:
    """No audio here: the caller's next input ends the message (a key, silence, hang-up)."""

    def __init__(self, caller: _SimulatedCaller) -> None:
        self._caller = caller

    async def take(self, node: MessageLimits) -> SimulatedMessage:
        event = await self._caller.next_event(node.max_seconds)
        if isinstance(event, CallEnded):
            ended_by = "hangup"
        elif isinstance(event, DigitPressed) and event.digit == node.end_key:
            ended_by = "key"
        else:
            ended_by = "silence"
        return SimulatedMessage(None, 0.0, ended_by)


@dataclass
class SimulationResult:
    path: list[str]
    keys: str
    outcome: str  # completed | abandoned
    prompts: list[str]
    events: list[str] = field(default_factory=list)
    variables: dict[str, str] = field(default_factory=dict)
    satisfaction: int | None = None
    intents: list[str | None] = field(default_factory=list)  # per utterance, None: no match
    transfers: list[str] = field(default_factory=list)  # "helpdesk: answer", in order


async def simulate(
    plan: Plan,
    caller: _SimulatedCaller,
    player: TextPromptPlayer,
    caller_number: str = "",
    at: datetime | None = None,
    values: Mapping[str, str] | None = None,
    directory: EmployeeDirectory | None = None,
    transfers: SimulatedTransfers | None = None,
) -> SimulationResult:
    """Run ``plan``; ``at`` fixes the time the plan sees (office hours), default now;
    ``values`` are what the call starts with (``service_api`` for lookups, say);
    gotos reach the other plans in its folder. ``transfers`` (default: agents
    answer, no queue waits) say what transfer nodes and queue-wait rules meet."""
    journal = CallJournal()
    employee = directory.by_number(caller_number) if directory and caller_number else None
    if employee is not None:
        journal.identified(employee.as_variables(), by="number")
    outcome = "completed"
    clock = (lambda: at) if at is not None else (lambda: datetime.now(UTC))
    # Lookups are real, as on a call; a running service's API wants a token.
    service_api, api_token = (values or {}).get("service_api"), os.environ.get("IVR_API_TOKEN")
    fetcher = AiohttpFetcher({service_api: api_token} if service_api and api_token else None)
    if transfers is None:
        transfers = SimulatedTransfers(note=player.note)
    try:
        await PlanRunner(
            plan,
            caller,
            player,
            journal,
            CallServices(
                fetcher=fetcher,
                messages=SimulatedMessageTaker(caller),
                directory=directory,
                plans=sibling_plans(plan),
                speech=caller.speech if plan.speech is not None else None,
                transfers=transfers,
                callbacks=SimulatedCallbacks(note=player.note),
                clock=clock,
            ),
            caller_number=caller_number,
            builtins=values,
        ).run()
    except CallerHungUp:
        outcome = "abandoned"
    finally:
        await fetcher.close()
    events = [e.kind for e in journal.events if e.kind not in ("node", "dtmf")]
    return SimulationResult(
        list(journal.nodes),
        "".join(journal.keys),
        outcome,
        player.heard,
        events,
        dict(journal.variables),
        journal.satisfaction,
        [e.detail.get("intent") for e in journal.events if e.kind == "utterance"],
        list(transfers.made),
    )
