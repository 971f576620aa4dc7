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
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from ivr.dialplan.model import Plan
from ivr.dialplan.simulated_transfers import (
    DEFAULT_BEHAVIOUR,
    SimulatedTransfers,
    parse_agents,
    parse_queue_waits,
)
from ivr.dialplan.simulator import ScriptedCaller, TextPromptPlayer, parse_inputs, simulate
from ivr.directory import EmployeeDirectory
from ivr.exceptions import DialplanError

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
class CaseResult:
    name: str
    failures: list[str]

    @property
    def passed(self) -> bool:
        return not self.failures


def load_cases(path: Path) -> list[dict[str, Any]]:
    """The cases of a cases file.

    Raises:
        DialplanError: unreadable file or malformed cases, with file:line where known.
    """
    from ivr.dialplan.problems import Location, Problem

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise DialplanError(
            [Problem(Location(str(path), 1, 1), f"cannot read cases: {exc}")]
        ) from None
    cases = data.get("cases") if isinstance(data, dict) else None
    if not isinstance(cases, list) or not all(isinstance(c, dict) for c in cases):
        raise DialplanError(
            [Problem(Location(str(path), 1, 1), "expected 'cases:' with a list of cases")]
        )
    return cases


async def run_case(
    plan: Plan, case: dict[str, Any], directory: EmployeeDirectory | None = None
) -> CaseResult:
    name = str(case.get("name", "unnamed case"))
    try:
        tokens = parse_inputs(case.get("input") or [])
    except ValueError as exc:
        return CaseResult(name, [str(exc)])
    at = None
    if "time" in case:
        try:
            at = datetime.fromisoformat(str(case["time"]))
        except ValueError:
            return CaseResult(name, [f"time {case['time']!r} is not ISO 8601"])
        if at.tzinfo is None:
            return CaseResult(name, [f"time {case['time']!r} needs a UTC offset, e.g. +08:00"])
    caller_number = str(case.get("caller", ""))
    values = {str(k): str(v) for k, v in (case.get("values") or {}).items()}
    try:
        waits = parse_queue_waits(case.get("queue_wait") or {})
        agents = parse_agents(case.get("agents", DEFAULT_BEHAVIOUR))
    except ValueError as exc:
        return CaseResult(name, [str(exc)])
    player = TextPromptPlayer()
    transfers = SimulatedTransfers(waits, agents, note=player.note)
    result = await simulate(
        plan, ScriptedCaller(tokens), player, caller_number, at, values, directory, transfers
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
    expect = case.get("expect") or {}
    failures = [
        f"{key}: expected {expect[key]!r}, got {actual[key]!r}"
        for key in EXPECT_KEYS
        if key in expect and _normalise(key, expect[key]) != actual[key]
    ]
    unknown = sorted(set(expect) - set(EXPECT_KEYS))
    failures += [
        f"unknown expectation {key!r} (known: {', '.join(EXPECT_KEYS)})" for key in unknown
    ]
    return CaseResult(name, failures)


def _normalise(key: str, value: Any) -> Any:
    if key == "path":
        return [str(v) for v in value] if isinstance(value, list) else value
    if key == "variables":
        return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else value
    if key == "satisfaction":
        return value
    if key == "intents":
        return [None if v is None else str(v) for v in value] if isinstance(value, list) else value
    if key in ("heard", "transfers"):
        return [str(v) for v in value] if isinstance(value, list) else value
    return str(value)
