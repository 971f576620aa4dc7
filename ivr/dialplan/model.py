"""A loaded dial plan: frozen, validated dataclasses. The runner never sees YAML.

Each node type (its dataclass, YAML keys, building, targets, schema, running)
is one module of :mod:`ivr.dialplan.nodes`; here is what is plan-wide.
"""

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
class BaseNode:
    """What every node has; the dataclass of each node type adds its own keys."""

    name: str
    location: Location
    prompts: tuple[Prompt, ...]


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
    nodes: Mapping[str, BaseNode]  # each of a node type of ivr.dialplan.nodes
    match: PlanMatch | None = None
    languages: Mapping[str, str] = field(default_factory=dict)  # language -> voice
    speech: SpeechSettings | None = None  # None: keys only
    intents: Mapping[str, Intent] = field(default_factory=dict)
    source: bytes = field(default=b"", repr=False, compare=False)  # the file's exact text
    # Its menus' listening settings, built on first use (ivr.dialplan.speech_turn).
    speech_menus: dict[tuple[int, str, bool], object] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    @property
    def default_language(self) -> str:
        return next(iter(self.languages), "")

    def matches(self, caller_number: str, called_number: str) -> bool:
        return self.match is not None and self.match.fits(caller_number, called_number)

    def node(self, name: str) -> BaseNode:
        return self.nodes[name]
