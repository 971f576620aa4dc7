"""What a node sees of the call it runs on: the journal, prompts, keys, and the
services the call was given (absent ones are None: the simulator has no agents).

The :class:`~ivr.dialplan.runner.PlanRunner` is the one :class:`Call`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from ivr.dialplan.http_lookup import JsonFetcher
from ivr.dialplan.model import Plan, Prompt
from ivr.dialplan.ports import Callbacks, EmployeeLookup, MessageTaker, Transfers
from ivr.dialplan.speech_turn import MenuSpeech, SpeechInput, SpeechMenu, Understood
from ivr.exceptions import CallerHungUp
from ivr.telephony.interface import DigitPressed
from ivr.tickets.model import CallJournal


@dataclass(frozen=True)
class CallServices:
    """What the service (or the simulator) lends one call; None: not here."""

    fetcher: JsonFetcher | None = None
    messages: MessageTaker | None = None
    directory: EmployeeLookup | None = None
    plans: Callable[[str], Plan | None] | None = None  # other plans, by name
    transfers: Transfers | None = None
    callbacks: Callbacks | None = None
    speech: SpeechInput | None = None  # None: keys only
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)  # the simulator may fix it


class Call(Protocol):
    """One live (or simulated) call, as the node running on it sees it."""

    @property
    def journal(self) -> CallJournal: ...

    @property
    def caller_number(self) -> str: ...

    @property
    def services(self) -> CallServices: ...

    def now(self) -> datetime: ...

    def values(self) -> dict[str, str]:
        """What prompts can speak: the call's variables, who called, what was shown."""

    def show(self, values: dict[str, str]) -> None:
        """Values the next prompts can speak besides the call's variables
        (a queue position); the dict is read as it is when a prompt plays."""

    def hung_up(self) -> CallerHungUp:
        """The error to raise now that the caller has left."""

    def switch_plan(self, plan: Plan) -> None:
        """Go on in ``plan`` (the node that switches names where)."""

    async def play(
        self, prompts: tuple[Prompt, ...], interruptible: bool = False
    ) -> DigitPressed | None:
        """Play prompts in order; with ``interruptible``, a key stops them and is returned."""

    async def wait_for_key(self, timeout: float) -> DigitPressed | None: ...

    def menu_speech(self, node: SpeechMenu) -> MenuSpeech | None:
        """What the menu listens for on this call; None: keys only."""

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
