"""YAML dial plan → :class:`~ivr.dialplan.model.Plan`, reporting every problem at file:line:col.

The YAML is composed (not constructed) so each value keeps its position;
the loader collects all problems it finds instead of stopping at the first.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from datetime import date, time
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from ivr.config_values import END_OF_DAY, parse_time_of_day
from ivr.dialplan.model import OfficeHours, Plan, PlanMatch
from ivr.dialplan.nodes import Node, build_node, targets_of, waits_for_caller
from ivr.dialplan.problems import Location, Problem, Severity
from ivr.dialplan.prompt_loader import PlanScope
from ivr.dialplan.speech_loader import load_intents, load_speech
from ivr.dialplan.yaml_reader import (
    Entries,
    YamlContext,
    compose_file,
    entries_of,
    scalar,
    text_of,
)
from ivr.exceptions import DialplanError
from ivr.speech.intents import Intent
from ivr.speech.spec import SpeechSettings

PLAN_KEYS = {
    "plan",
    "description",
    "voice",
    "languages",
    "record",
    "start",
    "nodes",
    "match",
    "hours",
    "speech",
    "intents",
}
HOURS_KEYS = {"timezone", "weekdays", "open", "close", "holidays"}
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MATCH_KEYS = {"called", "caller"}


def _clock(ctx: YamlContext, node: yaml.Node, what: str) -> time | None:
    try:
        text = parse_time_of_day(scalar(node))  # also YAML 1.1's unquoted 08:30, read as 510
    except ValueError:
        ctx.error(node, f'{what} must be a time of day like "08:30"')
        return None
    return time.max if text == END_OF_DAY else time.fromisoformat(text)


def _calendar(ctx: YamlContext, name: str, node: yaml.Node) -> OfficeHours | None:
    entries = entries_of(ctx, node, f"hours {name!r}", HOURS_KEYS)
    if not entries:
        return None
    zone = None
    if "timezone" not in entries:
        ctx.error(node, f"hours {name!r} has no 'timezone' (e.g. Europe/Berlin)")
    else:
        zone_name = text_of(ctx, entries["timezone"][1], "timezone") or ""
        try:
            zone = ZoneInfo(zone_name)
        except (ZoneInfoNotFoundError, ValueError):
            ctx.error(entries["timezone"][1], f"unknown time zone {zone_name!r}")
    weekdays = set(range(5))
    if "weekdays" in entries:
        listed = entries["weekdays"][1]
        items = listed.value if isinstance(listed, yaml.SequenceNode) else [listed]
        weekdays = set()
        for item in items:
            day = str(scalar(item)).lower()[:3]
            if day not in WEEKDAYS:
                ctx.error(item, f"unknown weekday {scalar(item)!r} (use mon ... sun)")
            else:
                weekdays.add(WEEKDAYS.index(day))
    opens = _clock(ctx, entries["open"][1], "open") if "open" in entries else None
    closes = _clock(ctx, entries["close"][1], "close") if "close" in entries else None
    for key in ("open", "close"):
        if key not in entries:
            ctx.error(node, f"hours {name!r} has no '{key}'")
    if opens and closes and opens >= closes:
        ctx.error(entries["close"][1], "close must be later than open")
    holidays: set[date] = set()
    if "holidays" in entries:
        listed = entries["holidays"][1]
        for item in listed.value if isinstance(listed, yaml.SequenceNode) else [listed]:
            day = scalar(item)
            try:
                holidays.add(day if isinstance(day, date) else date.fromisoformat(str(day)))
            except ValueError:
                ctx.error(item, f"holiday {day!r} is not a date like 2026-12-25")
    if zone is None or opens is None or closes is None:
        return None
    return OfficeHours(name, zone, frozenset(weekdays), opens, closes, frozenset(holidays))


def _languages(ctx: YamlContext, node: yaml.Node) -> dict[str, str]:
    """language -> espeak-ng voice; the first language is the default."""
    languages = {}
    for language, (_, voice_node) in entries_of(ctx, node, "languages", None).items():
        voice = text_of(ctx, voice_node, f"voice of language {language!r}")
        if voice:
            languages[language] = voice
    return languages


def _speech(
    ctx: YamlContext, top: Entries, languages: dict[str, str], voice: str
) -> tuple[SpeechSettings | None, dict[str, Intent]]:
    default_language = next(iter(languages), voice)
    declared = set(languages) or None
    speech = (
        load_speech(ctx, top["speech"][1], default_language, declared) if "speech" in top else None
    )
    intents = load_intents(ctx, top["intents"][1], declared) if "intents" in top else {}
    if intents and "speech" not in top:
        ctx.error(top["intents"][0], "intents need a 'speech' section (which model hears them)")
    return speech, intents


def _match(ctx: YamlContext, node: yaml.Node) -> PlanMatch | None:
    entries = entries_of(ctx, node, "match", MATCH_KEYS)
    if not entries:
        return None

    def items(key: str) -> list[tuple[yaml.Node, str]]:
        if key not in entries:
            return []
        value = entries[key][1]
        elements = value.value if isinstance(value, yaml.SequenceNode) else [value]
        found = []
        for element in elements:
            text = text_of(ctx, element, f"match.{key} entry")
            if text is not None:
                found.append((element, text))
        return found

    patterns = []
    for element, text in items("caller"):
        try:
            patterns.append(re.compile(text))
        except re.error as exc:
            ctx.error(element, f"invalid caller pattern {text!r}: {exc}")
    return PlanMatch(called=frozenset(t for _, t in items("called")), caller=tuple(patterns))


def _check_graph(
    ctx: YamlContext,
    start: str,
    start_node: yaml.Node,
    nodes: dict[str, Node],
    name_nodes: dict[str, yaml.Node],
) -> None:
    for node in nodes.values():
        for destination in targets_of(node):
            if destination not in nodes:
                where = ctx.references.get((node.name, destination), node.location)
                ctx.problems.append(
                    Problem(where, f"node {node.name!r} goes to unknown node {destination!r}")
                )
    if start not in nodes:
        ctx.error(start_node, f"start node {start!r} is not defined")
        return
    seen, todo = {start}, [start]
    while todo:
        for destination in targets_of(nodes[todo.pop()]):
            if destination in nodes and destination not in seen:
                seen.add(destination)
                todo.append(destination)
    for name in nodes:
        if name not in seen:
            ctx.warn(name_nodes[name], f"node {name!r} is never reached from {start!r}")
    _check_loops_without_input(ctx, nodes, name_nodes)


def _check_loops_without_input(
    ctx: YamlContext, nodes: dict[str, Node], name_nodes: dict[str, yaml.Node]
) -> None:
    """A cycle of nodes none of which waits for the caller would spin forever
    (a loop through one that waits is a retry)."""
    passive = {name for name, node in nodes.items() if not waits_for_caller(node)}
    reported: set[str] = set()
    for first in sorted(passive):
        path = [first]
        on_path = {first}
        stack = [iter(targets_of(nodes[first]))]
        while stack:
            following = next(stack[-1], None)
            if following is None:
                stack.pop()
                on_path.discard(path.pop())
                continue
            if following not in passive:
                continue
            if following == first:
                loop = path + [first]
                if not reported & set(path):
                    reported.update(path)
                    ctx.error(
                        name_nodes[first],
                        f"loop without input would repeat forever: {' -> '.join(loop)}",
                    )
                continue
            if following in on_path or following < first:
                continue  # found from its own smallest node already
            path.append(following)
            on_path.add(following)
            stack.append(iter(targets_of(nodes[following])))


def check_plan(path: Path) -> tuple[Plan | None, list[Problem]]:
    """Load ``path``; the plan is None when any problem is an error."""
    ctx = YamlContext(path)
    data, root, unreadable = compose_file(path, "plan")
    if unreadable is not None:
        return None, [unreadable]
    if root is None:
        return None, [Problem(Location(str(path), 1, 1), "plan is empty")]
    top = entries_of(ctx, root, "plan", PLAN_KEYS)
    plan_name = text_of(ctx, top["plan"][1], "plan") if "plan" in top else None
    if "plan" not in top:
        ctx.error(root, "plan has no 'plan' (its name)")
    voice = text_of(ctx, top["voice"][1], "voice") if "voice" in top else None
    voice = voice or "en"
    record = True
    if "record" in top:
        value = scalar(top["record"][1])
        if not isinstance(value, bool):
            ctx.error(top["record"][1], "record must be true or false")
        else:
            record = value
    match = _match(ctx, top["match"][1]) if "match" in top else None
    calendars: dict[str, OfficeHours] = {}
    if "hours" in top:
        for name, (_, value) in entries_of(ctx, top["hours"][1], "hours", None).items():
            calendar = _calendar(ctx, name, value)
            if calendar is not None:
                calendars[name] = calendar
    languages = _languages(ctx, top["languages"][1]) if "languages" in top else {}
    speech, intents = _speech(ctx, top, languages, voice)
    scope = PlanScope(
        voice=voice,
        languages=languages,
        calendars=calendars,
        intents=frozenset(intents) if speech is not None else None,
    )
    nodes: dict[str, Node] = {}
    name_nodes: dict[str, yaml.Node] = {}
    if "nodes" not in top:
        ctx.error(root, "plan has no 'nodes'")
    else:
        for name, (key_node, value_node) in entries_of(ctx, top["nodes"][1], "nodes", None).items():
            name_nodes[name] = key_node
            built = build_node(ctx, name, value_node, scope)
            if built is not None:
                nodes[name] = built
    if "start" not in top:
        ctx.error(root, "plan has no 'start' node")
    else:
        start = text_of(ctx, top["start"][1], "start")
        if start and nodes:
            _check_graph(ctx, start, top["start"][1], nodes, name_nodes)
    ctx.problems.sort(key=lambda p: (p.location.line, p.location.column))
    if any(p.severity is Severity.ERROR for p in ctx.problems) or not plan_name:
        return None, ctx.problems
    plan = Plan(
        name=plan_name,
        version=hashlib.sha256(data).hexdigest()[:12],
        path=path,
        voice=voice,
        record=record,
        start=str(scalar(top["start"][1])),
        nodes=nodes,
        match=match,
        languages=languages,
        speech=speech,
        intents=intents,
        source=data,
    )
    return plan, ctx.problems


def load_plan(path: Path, warn: Callable[[Problem], None] | None = None) -> Plan:
    """The plan at ``path``; warnings go to ``warn``.

    Raises:
        DialplanError: with every problem found, when any is an error.
    """
    plan, problems = check_plan(path)
    for problem in problems:
        if problem.severity is Severity.WARNING and warn is not None:
            warn(problem)
    if plan is None:
        raise DialplanError([p for p in problems if p.severity is Severity.ERROR])
    return plan
