"""``menu``: one key (or, with speech, a spoken intent) picks where the call goes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ivr.dialplan.model import BaseNode, Prompt
from ivr.dialplan.nodes.asking import RETRY_KEYS, NoMatch, retry_fields, until_answered
from ivr.dialplan.nodes.base import (
    DEFAULT_TRIES,
    DTMF_KEYS,
    NODE_NAME,
    RETRY_FIELDS,
    Fields,
    NodeType,
)
from ivr.dialplan.nodes.call import Call
from ivr.dialplan.yaml_reader import entries_of, text_of
from ivr.telephony.interface import DigitPressed


@dataclass(frozen=True)
class MenuNode(BaseNode):
    """Plays its prompts and waits for one key; a key stops the prompt (barge-in)."""

    keys: Mapping[str, str]
    timeout_seconds: float
    tries: int
    no_input: tuple[Prompt, ...]
    no_match: tuple[Prompt, ...]
    fallback: str | None
    intents: Mapping[str, str] = field(default_factory=dict)  # spoken intent -> node
    barge_in: bool | None = None  # speech stops the prompt; None: the plan's setting
    confidence: float | None = None  # threshold override; None: the plan's setting


class MenuType(NodeType[MenuNode]):
    name = "menu"
    node_class = MenuNode
    keys = frozenset({"keys", "fallback", "intents", "barge_in", "confidence"}) | RETRY_KEYS
    waits_for_caller = True
    plays_prompts_first = False

    def build(self, f: Fields) -> MenuNode:
        keys: dict[str, str] = {}
        if "keys" not in f.entries and "intents" not in f.entries:
            f.ctx.error(f.node, f"menu {f.name!r} has no 'keys' (or 'intents')")
        elif "keys" in f.entries:
            for key, (key_node, value_node) in entries_of(
                f.ctx, f.entries["keys"][1], "keys", None
            ).items():
                if len(key) != 1 or key not in DTMF_KEYS:
                    f.ctx.error(
                        key_node, f"invalid DTMF key {key!r} (use one of 0-9, * or #, quoted)"
                    )
                    continue
                destination = text_of(f.ctx, value_node, f"target of key {key!r}")
                if destination:
                    keys[key] = destination
                    f.ctx.references.setdefault((f.name, destination), f.ctx.at(value_node))
        retries = retry_fields(f, DEFAULT_TRIES)
        return MenuNode(
            name=f.name,
            location=f.location,
            prompts=f.prompts,
            keys=keys,
            timeout_seconds=retries["timeout_seconds"],
            tries=retries["tries"],
            no_input=retries["no_input"],
            no_match=retries["no_match"],
            fallback=f.target("fallback"),
            intents=_intents(f),
            barge_in=f.flag("barge_in") if "barge_in" in f.entries else None,
            confidence=f.number("confidence", 0, 1, -1) if "confidence" in f.entries else None,
        )

    def targets(self, node: MenuNode) -> list[str]:
        spoken = list(node.intents.values())
        return list(node.keys.values()) + spoken + ([node.fallback] if node.fallback else [])

    def schema(self) -> dict[str, Any]:
        return {
            **RETRY_FIELDS,
            "keys": {
                "type": "object",
                "propertyNames": {"pattern": "^[0-9*#]$"},
                "additionalProperties": NODE_NAME,
                "description": "DTMF key (quoted) -> node",
            },
            "fallback": NODE_NAME,
            "intents": {
                "type": "object",
                "additionalProperties": NODE_NAME,
                "description": "spoken intent (defined in the plan's intents) -> node",
            },
            "barge_in": {"type": "boolean", "description": "speech stops the prompt"},
            "confidence": {"type": "number", "minimum": 0, "maximum": 1},
        }

    def prompts(self, node: MenuNode) -> tuple[Prompt, ...]:
        return node.prompts + node.no_input + node.no_match

    async def run(self, node: MenuNode, call: Call) -> str | None:
        async def answer(key: DigitPressed) -> str | None | NoMatch:
            call.journal.pressed(key.digit, node.name)
            return node.keys[key.digit] if key.digit in node.keys else NoMatch(digit=key.digit)

        answered, target = await until_answered(
            call, node, answer, node.intents, lambda: call.menu_speech(node)
        )
        return target if answered else node.fallback


def _intents(f: Fields) -> dict[str, str]:
    """intent -> node; every intent must be defined in the plan's ``intents``."""
    if "intents" not in f.entries:
        return {}
    defined = f.scope.intents
    if defined is None:
        f.ctx.error(f.entries["intents"][0], "menu intents need 'speech' and 'intents' in the plan")
    intents = {}
    for intent, (key_node, value_node) in entries_of(
        f.ctx, f.entries["intents"][1], "intents", None
    ).items():
        if defined is not None and intent not in defined:
            known = ", ".join(sorted(defined)) or "none"
            f.ctx.error(key_node, f"intent {intent!r} used but not defined (defined: {known})")
            continue
        destination = f.reference(value_node, f"target of intent {intent!r}")
        if destination:
            intents[intent] = destination
    return intents
