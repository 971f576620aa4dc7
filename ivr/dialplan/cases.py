"""``ivr dialplan test``: scripted calls through a plan, checked against expectations.

A cases file::

    cases:
      - name: password reset by key
        caller: "3001"          # optional: for caller patterns
        time: "2026-11-23T10:00:00+08:00"   # optional: the moment office hours see
        values: {service_api: "http://127.0.0.1:8080"}   # optional: values the call starts with
        queue_wait: {helpdesk: 300}   # optional: estimated wait per queue, seconds (default 0)
        agents: answer          # optional: what transfers meet: answer (talk, hang up: next),
                                #   none (fallback), refer (plan ends);
                                #   or per queue: {helpdesk: none, default: answer}
        input: ["1"]            # keys; "say <words>" speaks; "-" lets a menu time out; "hangup"
        expect:
          path: [welcome, main_menu, password_reset, goodbye]
          outcome: completed    # or abandoned
          keys: "1"
          variables: {employee_id: "123456"}   # what collect nodes stored
          satisfaction: 4                       # the survey score
          heard: ["Welcome ...", ...]           # every prompt, as text
          intents: [password, null]             # the intent of each utterance (null: none)
          transfers: ["helpdesk: answer"]       # each transfer: target and what it met

The file is read like a plan: an unknown key at any level (``expekt:``) or a
malformed value is an error at its file:line:col, and no case runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from ivr.dialplan.model import Plan
from ivr.dialplan.problems import Location, Problem, Severity
from ivr.dialplan.simulated_transfers import (
    AgentsSetting,
    SimulatedTransfers,
    parse_agents,
    parse_queue_waits,
)
from ivr.dialplan.simulator import ScriptedCaller, TextPromptPlayer, parse_inputs, simulate
from ivr.dialplan.yaml_reader import (
    YamlContext,
    compose_file,
    entries_of,
    plain,
    scalar,
    text_of,
)
from ivr.directory import EmployeeDirectory
from ivr.exceptions import DialplanError

CASE_KEYS = {"name", "caller", "time", "values", "queue_wait", "agents", "input", "expect"}
EXPECT_KEYS = (
    "path",
    "outcome",
    "keys",
    "variables",
    "satisfaction",
    "heard",
    "intents",
    "transfers",
)


@dataclass(frozen=True)
class Case:
    """One scripted call and what it must show; ``expect`` holds the expected values
    of the keys given, normalised to the simulator's types."""

    name: str
    location: Location
    inputs: tuple[str, ...] = ()  # single keys, "-", "hangup", "say <words>"
    caller_number: str = ""
    at: datetime | None = None
    values: Mapping[str, str] = field(default_factory=dict)
    queue_waits: Mapping[str, float] = field(default_factory=dict)
    agents: AgentsSetting = AgentsSetting()
    expect: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CaseResult:
    name: str
    failures: list[str]

    @property
    def passed(self) -> bool:
        return not self.failures


def load_cases(path: Path) -> list[Case]:
    """The cases of a cases file, every key and value checked.

    Raises:
        DialplanError: every problem found (unreadable file, unknown keys at any
            level, malformed values), each at its file:line:col.
    """
    ctx = YamlContext(path)
    _, root, unreadable = compose_file(path, "cases")
    if unreadable is not None:
        raise DialplanError([unreadable])
    listed = None
    if root is not None:
        listed = entries_of(ctx, root, "cases file", {"cases"}).get("cases")
    cases: list[Case] = []
    if listed is None or not isinstance(listed[1], yaml.SequenceNode):
        where = ctx.at(listed[1]) if listed else Location(str(path), 1, 1)
        ctx.problems.append(Problem(where, "expected 'cases:' with a list of cases"))
    else:
        cases = [c for c in (_case(ctx, item) for item in listed[1].value) if c is not None]
    errors = [p for p in ctx.problems if p.severity is Severity.ERROR]
    if errors:
        raise DialplanError(sorted(errors, key=lambda p: (p.location.line, p.location.column)))
    return cases


def _case(ctx: YamlContext, node: yaml.Node) -> Case | None:
    entries = entries_of(ctx, node, "case", CASE_KEYS)
    if not isinstance(node, yaml.MappingNode):
        return None
    location = ctx.at(node)

    def value(key: str) -> yaml.Node | None:
        return entries[key][1] if key in entries else None

    name = text_of(ctx, entries["name"][1], "name") if "name" in entries else None
    caller = text_of(ctx, entries["caller"][1], "caller") if "caller" in entries else None
    given = value("values")
    values = {
        key: _text(ctx, item, f"values.{key}")
        for key, (_, item) in (entries_of(ctx, given, "values", None) if given else {}).items()
    }
    waits: dict[str, float] = {}
    given = value("queue_wait")
    for queue, (_, item) in (entries_of(ctx, given, "queue_wait", None) if given else {}).items():
        try:
            waits.update(parse_queue_waits({queue: plain(item)}))
        except ValueError as exc:
            ctx.error(item, str(exc))
    return Case(
        name=name or f"case at line {location.line}",
        location=location,
        inputs=_inputs(ctx, value("input")),
        caller_number=caller or "",
        at=_moment(ctx, value("time")),
        values=values,
        queue_waits=waits,
        agents=_agents(ctx, value("agents")),
        expect=_expectations(ctx, value("expect")),
    )


def _text(ctx: YamlContext, node: yaml.Node, what: str) -> str:
    if not isinstance(node, yaml.ScalarNode):
        ctx.error(node, f"{what} must be text or a number")
        return ""
    return str(scalar(node))


def _inputs(ctx: YamlContext, node: yaml.Node | None) -> tuple[str, ...]:
    if node is None:
        return ()
    items = node.value if isinstance(node, yaml.SequenceNode) else [node]
    tokens: list[str] = []
    for item in items:
        try:
            # The text as written: 0123 is four keys, not YAML's octal number.
            tokens += parse_inputs([item.value if isinstance(item, yaml.ScalarNode) else ""])
        except ValueError as exc:
            ctx.error(item, str(exc))
    return tuple(tokens)


def _moment(ctx: YamlContext, node: yaml.Node | None) -> datetime | None:
    if node is None:
        return None
    given = scalar(node)
    try:
        at = given if isinstance(given, datetime) else datetime.fromisoformat(str(given))
    except ValueError:
        ctx.error(node, f"time {given!r} is not ISO 8601, e.g. 2026-11-24T10:00:00+08:00")
        return None
    if at.tzinfo is None:
        ctx.error(node, f"time {str(given)!r} needs a UTC offset, e.g. +08:00")
        return None
    return at


def _agents(ctx: YamlContext, node: yaml.Node | None) -> AgentsSetting:
    if node is None:
        return AgentsSetting()
    if isinstance(node, yaml.MappingNode):
        for target, (_, item) in entries_of(ctx, node, "agents", None).items():
            try:
                parse_agents({target: plain(item)})
            except ValueError as exc:
                ctx.error(item, str(exc))
                return AgentsSetting()
    try:
        return parse_agents(plain(node))
    except ValueError as exc:
        ctx.error(node, str(exc))
        return AgentsSetting()


def _expectations(ctx: YamlContext, node: yaml.Node | None) -> dict[str, Any]:
    if node is None:
        return {}
    expect = {}
    for key, (_, item) in entries_of(ctx, node, "expect", set(EXPECT_KEYS)).items():
        try:
            expect[key] = _expected(key, item)
        except ValueError as exc:
            ctx.error(item, f"expect.{key} {exc}")
    return expect


def _expected(key: str, node: yaml.Node) -> Any:
    """The expected value in the simulator's types. Raises ValueError: its shape is wrong."""
    value = plain(node)
    if key in ("path", "heard", "transfers", "intents"):
        what = {"path": "node names", "heard": "prompt texts", "intents": "intents"}
        if not isinstance(value, list) or any(isinstance(v, dict | list) for v in value):
            raise ValueError(f"must be a list of {what.get(key, 'transfers')}")
        if key == "intents":
            return [None if v is None else str(v) for v in value]
        return [str(v) for v in value]
    if key == "variables":
        if not isinstance(value, dict):
            raise ValueError("must be a mapping of variable: value")
        return {str(k): str(v) for k, v in value.items()}
    if key == "satisfaction":
        if value is not None and (type(value) is not int or not 1 <= value <= 5):
            raise ValueError("must be a score from 1 to 5 (or null)")
        return value
    if not isinstance(node, yaml.ScalarNode):
        raise ValueError("must be text")
    return node.value if key == "keys" else str(value)


async def run_case(
    plan: Plan, case: Case, directory: EmployeeDirectory | None = None
) -> CaseResult:
    """Run ``case`` through ``plan``; the result lists every expectation it missed."""
    player = TextPromptPlayer()
    transfers = SimulatedTransfers(case.queue_waits, case.agents, note=player.note)
    result = await simulate(
        plan,
        ScriptedCaller(list(case.inputs)),
        player,
        case.caller_number,
        case.at,
        dict(case.values),
        directory,
        transfers,
    )
    actual = {
        "path": result.path,
        "outcome": result.outcome,
        "keys": result.keys,
        "variables": result.variables,
        "satisfaction": result.satisfaction,
        "heard": result.prompts,
        "intents": result.intents,
        "transfers": result.transfers,
    }
    failures = [
        f"{key}: expected {expected!r}, got {actual[key]!r}"
        for key, expected in case.expect.items()
        if expected != actual[key]
    ]
    return CaseResult(case.name, failures)
