"""A loaded dial plan: frozen, validated dataclasses. The runner never sees YAML.

What each node type does (its YAML keys, building, targets, schema, running)
is in its module of :mod:`ivr.dialplan.nodes`."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

from ivr.dialplan.problems import Location
from ivr.speech.intents import Intent
from ivr.speech.spec import SpeechSettings


@dataclass(frozen=True)
class Prompt:
    """Either ``text`` spoken in ``voice`` or the audio ``file``."""

    location: Location
    text: str | None = None
    file: Path | None = None
    voice: str = "en"
    has_values: bool = False  # text holds {variable} fields, filled at call time
    by_language: Mapping[str, Prompt] = field(default_factory=dict)  # language -> variant

    def for_language(self, language: str) -> Prompt:
        return self.by_language.get(language, self)


@dataclass(frozen=True)
class PromptNode:
    """Plays its prompts, then goes to ``next`` (or ends the call when there is none)."""

    name: str
    location: Location
    prompts: tuple[Prompt, ...]
    next: str | None


@dataclass(frozen=True)
class MenuNode:
    """Plays its prompts and waits for one key; a key stops the prompt (barge-in)."""

    name: str
    location: Location
    prompts: tuple[Prompt, ...]
    keys: Mapping[str, str]
    timeout_seconds: float
    tries: int
    no_input: tuple[Prompt, ...]
    no_match: tuple[Prompt, ...]
    fallback: str | None
    intents: Mapping[str, str] = field(default_factory=dict)  # spoken intent -> node
    barge_in: bool | None = None  # speech stops the prompt; None: the plan's setting
    confidence: float | None = None  # threshold override; None: the plan's setting


@dataclass(frozen=True)
class HangupNode:
    """Plays its prompts, then hangs up."""

    name: str
    location: Location
    prompts: tuple[Prompt, ...]


@dataclass(frozen=True)
class CollectNode:
    """Collects digits into ``variable``: the entry ends at ``terminator``, at
    ``max_digits``, or after ``inter_digit_seconds`` without a key; it is valid
    with at least ``min_digits`` digits and, when given, a full ``pattern`` match."""

    name: str
    location: Location
    prompts: tuple[Prompt, ...]
    variable: str
    min_digits: int
    max_digits: int
    terminator: str | None
    pattern: re.Pattern[str] | None
    timeout_seconds: float
    inter_digit_seconds: float
    tries: int
    no_input: tuple[Prompt, ...]
    no_match: tuple[Prompt, ...]
    next: str | None
    fallback: str | None
    identify: bool = False  # the digits are an employee ID, valid when in the directory


@dataclass(frozen=True)
class SurveyNode:
    """Asks for a satisfaction score, one key from 1 to 5, kept on the ticket."""

    name: str
    location: Location
    prompts: tuple[Prompt, ...]
    timeout_seconds: float
    tries: int
    no_input: tuple[Prompt, ...]
    no_match: tuple[Prompt, ...]
    next: str | None


@dataclass(frozen=True)
class HttpLookupNode:
    """Fetches JSON from ``url`` (a template); ``results`` maps variables to dotted paths
    in the answer. Any failure goes to ``on_failure``."""

    name: str
    location: Location
    prompts: tuple[Prompt, ...]
    url: str
    method: str
    timeout_seconds: float
    results: Mapping[str, str]
    next: str | None
    on_failure: str | None


@dataclass(frozen=True)
class MessageNode:
    """Records a message after a tone: until ``end_key``, ``silence_seconds`` of
    silence or ``max_seconds``; a hang-up keeps the message and ends the plan."""

    name: str
    location: Location
    prompts: tuple[Prompt, ...]
    max_seconds: float
    silence_seconds: float
    end_key: str
    next: str | None


@dataclass(frozen=True)
class GotoNode:
    """Continues the call in another plan (a shared sub-flow), at ``node`` or its start."""

    name: str
    location: Location
    prompts: tuple[Prompt, ...]
    plan: str
    node: str | None


@dataclass(frozen=True)
class SetNode:
    """Sets call variables (kept on the ticket), then goes to ``next``."""

    name: str
    location: Location
    prompts: tuple[Prompt, ...]
    values: Mapping[str, str]
    next: str | None


@dataclass(frozen=True)
class TransferNode:
    """Connects the caller to an agent: through a ``queue`` (wait in line, the queue's
    transfer method) or straight to an ``extension`` (``method`` bridge or refer).

    After a bridged call the agent hung up, the caller goes on at ``next``; a
    REFER hands the call over and ends the plan. No agent (nobody logged in, the
    wait too long, a target the dialling rules refuse) goes to ``fallback``."""

    name: str
    location: Location
    prompts: tuple[Prompt, ...]
    queue: str | None
    extension: str | None
    method: str  # for extensions: bridge or refer
    announce: tuple[Prompt, ...]  # place in line and wait: {position}, {wait_minutes}
    whisper: Prompt | None  # spoken to the agent before connecting
    next: str | None
    fallback: str | None


@dataclass(frozen=True)
class CallbackNode:
    """Offers a callback that keeps the caller's place in ``queue``'s line: ``accept_key``
    books it (after the caller confirms the number or keys in another, and picks a
    time slot where there are any), then ``next``; another key or silence goes to
    ``decline``; a booking that cannot be made (number not allowed, Redis down) to
    ``fallback``. Prompts use {callback_number} and {slot_choices}."""

    name: str
    location: Location
    prompts: tuple[Prompt, ...]  # the offer
    queue: str
    accept_key: str
    timeout_seconds: float
    confirm: tuple[Prompt, ...]
    ask_number: tuple[Prompt, ...]
    choose_slot: tuple[Prompt, ...]
    booked: tuple[Prompt, ...]
    next: str | None
    decline: str | None
    fallback: str | None


@dataclass(frozen=True)
class OfficeHours:
    """A weekly opening time in a time zone, closed on the listed holidays."""

    name: str
    timezone: ZoneInfo
    weekdays: frozenset[int]  # Monday is 0
    opens: time
    closes: time
    holidays: frozenset[date]

    def open_at(self, moment: datetime) -> bool:
        local = moment.astimezone(self.timezone)
        if local.date() in self.holidays or local.weekday() not in self.weekdays:
            return False
        return self.opens <= local.time() < self.closes


@dataclass(frozen=True)
class Rule:
    """One test of a condition node; the first rule that holds picks the target."""

    target: str
    hours: OfficeHours | None = None
    caller: re.Pattern[str] | None = None
    variable: str | None = None
    equals: str | None = None
    matches: re.Pattern[str] | None = None
    queue: str | None = None  # with wait_above: the queue's current estimated wait
    wait_above: float | None = None

    def holds(
        self,
        caller_number: str,
        variables: Mapping[str, str],
        now: datetime,
        queue_wait: float | None = None,
    ) -> bool:
        """``queue_wait``: the estimated wait of ``queue`` (None when unknown)."""
        if self.hours is not None and not self.hours.open_at(now):
            return False
        if self.wait_above is not None and (queue_wait is None or queue_wait <= self.wait_above):
            return False
        if self.caller is not None and not self.caller.search(caller_number):
            return False
        if self.variable is not None:
            value = variables.get(self.variable)
            if value is None:
                return False
            if self.equals is not None and value != self.equals:
                return False
            if self.matches is not None and not self.matches.search(value):
                return False
        return True


@dataclass(frozen=True)
class ConditionNode:
    """Goes to the target of the first rule that holds, else to ``otherwise``."""

    name: str
    location: Location
    prompts: tuple[Prompt, ...]
    rules: tuple[Rule, ...]
    otherwise: str | None


Node = (
    PromptNode
    | MenuNode
    | HangupNode
    | CollectNode
    | SurveyNode
    | SetNode
    | ConditionNode
    | HttpLookupNode
    | MessageNode
    | GotoNode
    | TransferNode
    | CallbackNode
)


@dataclass(frozen=True)
class PlanMatch:
    """Which calls a plan takes: called numbers (DIDs) and caller-number patterns.

    An empty side matches any call; both given, both must match.
    """

    called: frozenset[str] = frozenset()
    caller: tuple[re.Pattern[str], ...] = ()

    def fits(self, caller_number: str, called_number: str) -> bool:
        if self.called and called_number not in self.called:
            return False
        return not self.caller or any(p.search(caller_number) for p in self.caller)


@dataclass(frozen=True)
class Plan:
    name: str
    version: str  # content hash of the file, recorded on every ticket
    path: Path
    voice: str
    record: bool
    start: str
    nodes: Mapping[str, Node]
    match: PlanMatch | None = None
    languages: Mapping[str, str] = field(default_factory=dict)  # language -> voice
    speech: SpeechSettings | None = None  # None: keys only
    intents: Mapping[str, Intent] = field(default_factory=dict)
    source: bytes = field(default=b"", repr=False, compare=False)  # the file's exact text

    @property
    def default_language(self) -> str:
        return next(iter(self.languages), "")

    def matches(self, caller_number: str, called_number: str) -> bool:
        return self.match is not None and self.match.fits(caller_number, called_number)

    def node(self, name: str) -> Node:
        return self.nodes[name]
