"""``collect``: digits into a variable, optionally an employee ID checked in the directory."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ivr.dialplan.model import BaseNode, Prompt
from ivr.dialplan.nodes.asking import RETRY_KEYS, NoMatch, retry_fields, until_answered
from ivr.dialplan.nodes.base import (
    DEFAULT_TRIES,
    NODE_NAME,
    RETRY_FIELDS,
    SECONDS,
    Fields,
    NodeType,
)
from ivr.dialplan.nodes.call import Call
from ivr.telephony.interface import DigitPressed

DEFAULT_INTER_DIGIT_SECONDS = 3.0


@dataclass(frozen=True)
class CollectNode(BaseNode):
    """Collects digits into ``variable``: the entry ends at ``terminator``, at
    ``max_digits``, or after ``inter_digit_seconds`` without a key; it is valid
    with at least ``min_digits`` digits and, when given, a full ``pattern`` match."""

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


class CollectType(NodeType[CollectNode]):
    name = "collect"
    node_class = CollectNode
    keys = (
        frozenset(
            {
                "identify",
                "variable",
                "min_digits",
                "max_digits",
                "terminator",
                "pattern",
                "inter_digit_timeout",
                "next",
                "fallback",
            }
        )
        | RETRY_KEYS
    )
    waits_for_caller = True
    plays_prompts_first = False

    def build(self, f: Fields) -> CollectNode:
        variable = f.text("variable")
        if "variable" not in f.entries:
            f.ctx.error(f.node, f"collect node {f.name!r} has no 'variable' to store the digits in")
        min_digits = int(f.number("min_digits", 1, 64, 1))
        max_digits = int(f.number("max_digits", 1, 64, max(min_digits, 16)))
        if min_digits > max_digits:
            f.ctx.error(
                f.entries["min_digits"][1],
                f"min_digits {min_digits} is above max_digits {max_digits}",
            )
        terminator = f.text("terminator")
        if terminator is not None and terminator not in ("#", "*"):
            f.ctx.error(f.entries["terminator"][1], "terminator must be '#' or '*' (quoted)")
            terminator = None
        pattern = None
        if "pattern" in f.entries:
            source = f.text("pattern") or ""
            try:
                pattern = re.compile(source)
            except re.error as exc:
                f.ctx.error(f.entries["pattern"][1], f"invalid pattern {source!r}: {exc}")
        retries = retry_fields(f, DEFAULT_TRIES)
        return CollectNode(
            name=f.name,
            location=f.location,
            prompts=f.prompts,
            variable=variable or "",
            min_digits=min_digits,
            max_digits=max_digits,
            terminator=terminator,
            pattern=pattern,
            timeout_seconds=retries["timeout_seconds"],
            inter_digit_seconds=f.number(
                "inter_digit_timeout", 0.5, 30, DEFAULT_INTER_DIGIT_SECONDS
            ),
            tries=retries["tries"],
            no_input=retries["no_input"],
            no_match=retries["no_match"],
            next=f.target("next"),
            fallback=f.target("fallback"),
            identify=f.flag("identify"),
        )

    def targets(self, node: CollectNode) -> list[str]:
        return [t for t in (node.next, node.fallback) if t]

    def schema(self) -> dict[str, Any]:
        return {
            **RETRY_FIELDS,
            "identify": {"type": "boolean", "description": "the digits are an employee ID"},
            "variable": {"type": "string"},
            "min_digits": {"type": "integer", "minimum": 1, "maximum": 64},
            "max_digits": {"type": "integer", "minimum": 1, "maximum": 64},
            "terminator": {"enum": ["#", "*"]},
            "pattern": {"type": "string", "format": "regex"},
            "inter_digit_timeout": {**SECONDS, "maximum": 30},
            "next": NODE_NAME,
            "fallback": NODE_NAME,
        }

    def prompts(self, node: CollectNode) -> tuple[Prompt, ...]:
        return node.prompts + node.no_input + node.no_match

    async def run(self, node: CollectNode, call: Call) -> str | None:
        async def answer(first: DigitPressed) -> str | None | NoMatch:
            digits = await _rest_of_entry(call, node, first)
            valid = len(digits) >= node.min_digits and (
                node.pattern is None or node.pattern.fullmatch(digits) is not None
            )
            if not valid or (node.identify and not _identify(call, digits, node.name)):
                return NoMatch(digits=digits)
            call.journal.collected(node.variable, digits, node.name)
            return node.next

        answered, target = await until_answered(call, node, answer)
        return target if answered else node.fallback


async def _rest_of_entry(call: Call, node: CollectNode, first: DigitPressed) -> str:
    digits = ""
    event: DigitPressed | None = first
    while event is not None:
        call.journal.pressed(event.digit, node.name)
        if event.digit == node.terminator:
            break
        digits += event.digit
        if len(digits) >= node.max_digits:
            break
        event = await call.wait_for_key(node.inter_digit_seconds)
    return digits


def _identify(call: Call, employee_id: str, node: str) -> bool:
    directory = call.services.directory
    employee = directory.by_employee_id(employee_id) if directory else None
    if employee is None:
        call.journal.event("not_in_directory", node=node, employee_id=employee_id)
        return False
    call.journal.identified(employee.as_variables(), by="employee_id")
    return True
