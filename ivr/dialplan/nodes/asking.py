"""The turn the asking nodes (menu, collect, survey) share: ask up to ``tries``
times, re-prompting with ``no_input`` or ``no_match``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from ivr.dialplan.model import Prompt
from ivr.dialplan.nodes.base import DEFAULT_TIMEOUT_SECONDS, Fields
from ivr.dialplan.nodes.call import Call
from ivr.dialplan.speech_turn import MenuSpeech, Understood, journal_utterance
from ivr.telephony.interface import DigitPressed

RETRY_KEYS = frozenset({"timeout", "tries", "no_input", "no_match"})


class Asking(Protocol):
    """A node that asks (menu, collect, survey), as the turn reads it."""

    @property
    def name(self) -> str: ...

    @property
    def prompts(self) -> tuple[Prompt, ...]: ...

    @property
    def timeout_seconds(self) -> float: ...

    @property
    def tries(self) -> int: ...

    @property
    def no_input(self) -> tuple[Prompt, ...]: ...

    @property
    def no_match(self) -> tuple[Prompt, ...]: ...


class NoMatch:
    """A key (or entry) a node cannot take; ``detail`` goes on the ticket."""

    def __init__(self, **detail: str) -> None:
        self.detail = detail


Answer = Callable[[DigitPressed], Awaitable[str | None | NoMatch]]


def retry_fields(f: Fields, default_tries: int) -> dict[str, Any]:
    """The node's timeout, tries and re-prompts, as keyword arguments of its dataclass."""
    return {
        "timeout_seconds": f.number("timeout", 0.5, 120, DEFAULT_TIMEOUT_SECONDS),
        "tries": int(f.number("tries", 1, 20, default_tries)),
        "no_input": f.prompts_of("no_input"),
        "no_match": f.prompts_of("no_match"),
    }


async def until_answered(
    call: Call,
    node: Asking,
    answer: Answer,
    intents: Mapping[str, str] | None = None,
    speech: Callable[[], MenuSpeech | None] | None = None,
) -> tuple[bool, str | None]:
    """Ask up to ``node.tries`` times, re-prompting with no_input / no_match.

    ``answer`` turns the first key of a try into the node to go to, or a
    :class:`NoMatch`; ``intents`` (intent -> node) answer speech, heard when
    ``speech`` gives what to listen for. Returns (answered, where to go)."""
    retry_prompts: tuple[Prompt, ...] = ()
    for attempt in range(1, node.tries + 1):
        menu = speech() if speech is not None else None
        key = await call.ask(
            retry_prompts + node.prompts, node.timeout_seconds, node.name, attempt, menu
        )
        if key is None:
            retry_prompts = node.no_input
            continue
        if isinstance(key, Understood):
            outcome = _understood(call, node.name, intents or {}, key)
        else:
            outcome = await answer(key)
        if not isinstance(outcome, NoMatch):
            return True, outcome
        call.journal.event("no_match", node=node.name, attempt=attempt, **outcome.detail)
        retry_prompts = node.no_match
    call.journal.event("no_answer", node=node.name, tries=node.tries)
    return False, None


def _understood(
    call: Call, node: str, intents: Mapping[str, str], understood: Understood
) -> str | None | NoMatch:
    journal_utterance(call.journal, node, understood)
    intent = understood.match.intent
    if intent is not None and intent in intents:
        return intents[intent]
    return NoMatch(
        said=understood.heard.text,
        reason=understood.match.reason,
        confidence=str(understood.match.confidence),
    )
