"""Agents, queues and callbacks for the simulator and the case runner: no SIP, no Redis.

A case (or ``ivr dialplan simulate --agents/--queue-wait``) says what the
queues look like and what a transfer does; the plan runner gets the same
``Transfers`` answers it would get on a call:

- ``answer``: an agent takes the call, talks, hangs up: the caller goes on at ``next``;
- ``none``: nobody is logged in: the transfer node's ``fallback``;
- ``refer``: the call is handed to the agent by REFER: the plan ends.

Every transfer is noted (``[queue helpdesk: agent answers]``) among the prompts
the caller heard and in :attr:`SimulatedTransfers.made`, so cases can expect it.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from ivr.dialplan.ports import TransferOutcome

AGENT_BEHAVIOURS = {
    "answer": TransferOutcome.CONNECTED,
    "none": TransferOutcome.FALLBACK,
    "refer": TransferOutcome.TRANSFERRED,
}
DEFAULT_BEHAVIOUR = "answer"
_SAID = {"answer": "agent answers", "none": "no agent", "refer": "referred to an agent"}


@dataclass(frozen=True)
class AgentsSetting:
    """What transfers do: one behaviour for every target, or per queue/extension
    (``default`` for the ones not named)."""

    default: str = DEFAULT_BEHAVIOUR
    per_target: Mapping[str, str] = field(default_factory=dict)

    def behaviour(self, target: str) -> str:
        return self.per_target.get(target, self.default)


def parse_agents(value: object) -> AgentsSetting:
    """``answer`` | ``none`` | ``refer``, or a mapping ``{helpdesk: none, default: answer}``.

    Raises:
        ValueError: anything else, naming the value and the choices.
    """
    choices = ", ".join(AGENT_BEHAVIOURS)
    if isinstance(value, str):
        if value not in AGENT_BEHAVIOURS:
            raise ValueError(f"agents: {value!r} is not one of {choices}")
        return AgentsSetting(value)
    if isinstance(value, Mapping):
        per_target = {str(k): str(v) for k, v in value.items()}
        for target, behaviour in per_target.items():
            if behaviour not in AGENT_BEHAVIOURS:
                raise ValueError(f"agents: {target}: {behaviour!r} is not one of {choices}")
        default = per_target.pop("default", DEFAULT_BEHAVIOUR)
        return AgentsSetting(default, per_target)
    raise ValueError(f"agents: expected one of {choices} or a mapping of queue: behaviour")


def parse_queue_waits(value: object) -> dict[str, float]:
    """``{helpdesk: 300}``: estimated wait per queue in seconds.

    Raises:
        ValueError: not a mapping, or a wait that is not a number of seconds from 0.
    """
    if not isinstance(value, Mapping):
        raise ValueError("queue_wait: expected a mapping of queue: seconds, e.g. {helpdesk: 300}")
    waits = {}
    for queue, seconds in value.items():
        try:
            wait = float(seconds)
        except (TypeError, ValueError):
            wait = -1.0
        if wait < 0 or isinstance(seconds, bool):
            raise ValueError(f"queue_wait: {queue}: {seconds!r} is not a number of seconds")
        waits[str(queue)] = wait
    return waits


class SimulatedTransfers:
    """The runner's ``Transfers`` for a simulated call. A queue not given a wait has
    none (0 s), or no end (inf) when nobody answers it, as a queue with nobody
    logged in has on a call; ``note`` receives the line describing each transfer."""

    def __init__(
        self,
        waits: Mapping[str, float] | None = None,
        agents: AgentsSetting | None = None,
        note: Callable[[str], None] | None = None,
    ) -> None:
        self._waits = dict(waits or {})
        self._agents = agents or AgentsSetting()
        self._note = note
        self.made: list[str] = []  # "helpdesk: answer", "extension 6001: refer"

    async def estimated_wait(self, queue: str) -> float:
        if queue in self._waits:
            return self._waits[queue]
        return math.inf if self._agents.behaviour(queue) == "none" else 0.0

    async def to_queue(
        self, queue: str, whisper: str, announce: Callable[[int, float], Awaitable[None]]
    ) -> TransferOutcome:
        behaviour = self._agents.behaviour(queue)
        wait = self._waits.get(queue, 0.0)
        if behaviour != "none" and wait > 0:
            await announce(1, wait)  # a caller who has to wait hears place and wait
        return self._outcome(f"queue {queue}", queue, behaviour, whisper)

    async def to_extension(self, extension: str, method: str, whisper: str) -> TransferOutcome:
        behaviour = self._agents.behaviour(extension)
        if behaviour == "answer" and method == "refer":
            behaviour = "refer"
        return self._outcome(f"extension {extension}", extension, behaviour, whisper)

    def _outcome(self, shown: str, target: str, behaviour: str, whisper: str) -> TransferOutcome:
        self.made.append(f"{target}: {behaviour}")
        line = f"[{shown}: {_SAID[behaviour]}]"
        if whisper and behaviour != "none":
            line = f"[{shown}: {_SAID[behaviour]}; the agent hears: {whisper}]"
        if self._note is not None:
            self._note(line)
        return AGENT_BEHAVIOURS[behaviour]


class SimulatedCallbacks:
    """The runner's ``Callbacks`` for a simulated call: any number of digits may be
    called back, no later slots are offered, and each booking is noted among what
    the caller heard (``[callback booked: 1002 in queue helpdesk]``)."""

    def __init__(self, note: Callable[[str], None] | None = None) -> None:
        self._note = note
        self.booked: list[str] = []  # "helpdesk: 1002"

    def allowed(self, number: str) -> bool:
        return number.isdigit()

    async def unavailable(self, queue: str) -> str | None:
        return None

    async def slots(self, queue: str) -> list[tuple[str, float]]:
        return []

    async def book(self, queue: str, number: str, not_before: float) -> str:
        self.booked.append(f"{queue}: {number}")
        if self._note is not None:
            self._note(f"[callback booked: {number} in queue {queue}]")
        return f"simulated-{len(self.booked)}"
