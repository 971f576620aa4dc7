"""What every node type is: its YAML keys, how it is built, where it goes, its
schema and how it runs. One subclass per node type, in its own module.

:class:`Fields` reads one node's YAML entries for a builder, reporting each
mistake at its file:line:col; the schema pieces here are the ones several
node types share.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from typing import Any, Generic, TypeVar

import yaml

from ivr.dialplan.model import BaseNode, Prompt
from ivr.dialplan.nodes.call import Call
from ivr.dialplan.prompt_loader import PlanScope, prompt_list, prompt_of
from ivr.dialplan.service_targets import ServiceTargets
from ivr.dialplan.yaml_reader import Entries, YamlContext, number_of, scalar, text_of

DTMF_KEYS = frozenset("0123456789*#")
DEFAULT_TIMEOUT_SECONDS = 5.0  # waiting for the caller's first key
DEFAULT_TRIES = 3


N = TypeVar("N", bound=BaseNode)


class Fields:
    """One node's entries, read with the node's name and the plan's scope at hand."""

    def __init__(
        self,
        ctx: YamlContext,
        name: str,
        node: yaml.Node,
        entries: Entries,
        scope: PlanScope,
    ):
        self.ctx, self.name, self.node, self.entries, self.scope = ctx, name, node, entries, scope
        self.calendars = scope.calendars
        prompt = prompt_of(ctx, entries, scope)
        self.prompts = (prompt,) if prompt else ()
        self.location = ctx.at(node)

    def target(self, key: str) -> str | None:
        if key not in self.entries:
            return None
        return self.reference(self.entries[key][1], key)

    def number(self, key: str, low: float, high: float, default: float) -> float:
        if key not in self.entries:
            return default
        value = number_of(self.ctx, self.entries[key][1], key, low, high)
        return default if value is None else value

    def text(self, key: str) -> str | None:
        return text_of(self.ctx, self.entries[key][1], key) if key in self.entries else None

    def flag(self, key: str) -> bool:
        if key not in self.entries:
            return False
        value = scalar(self.entries[key][1])
        if not isinstance(value, bool):
            self.ctx.error(self.entries[key][1], f"{key} must be true or false")
            return False
        return value

    def reference(self, value_node: yaml.Node, what: str) -> str | None:
        """The node named by ``value_node``, remembered where it was named (for the
        "goes to unknown node" problem)."""
        destination = text_of(self.ctx, value_node, what)
        if destination:
            self.ctx.references.setdefault((self.name, destination), self.ctx.at(value_node))
        return destination

    def regex(self, value_node: yaml.Node, what: str) -> re.Pattern[str] | None:
        source = text_of(self.ctx, value_node, what)
        if source is None:
            return None
        try:
            return re.compile(source)
        except re.error as exc:
            self.ctx.error(value_node, f"invalid {what} {source!r}: {exc}")
            return None

    def prompts_of(self, key: str) -> tuple[Prompt, ...]:
        if key not in self.entries:
            return ()
        return prompt_list(self.ctx, self.entries[key][1], key, self.scope)

    def dtmf_key(self, key: str, default: str) -> str:
        """A single DTMF key (quoted in the YAML)."""
        value = self.text(key) or default
        if len(value) != 1 or value not in DTMF_KEYS:
            self.ctx.error(self.entries[key][1], f"{key} must be one DTMF key, quoted")
        return value


class NodeType(ABC, Generic[N]):
    """One type of node: ``type: <name>`` in a plan, built into ``node_class``.

    Besides ``type`` and the prompt keys (say, play, voice), a node of this
    type takes exactly ``keys``."""

    name: str
    node_class: type[N]
    keys: frozenset[str]
    waits_for_caller = False  # a loop through such a node is a retry, not a spin
    plays_prompts_first = True  # False: the node plays its prompts itself, as it asks

    @abstractmethod
    def build(self, f: Fields) -> N:
        """The node, with every mistake in its entries reported to ``f.ctx``."""

    @abstractmethod
    def targets(self, node: N) -> list[str]:
        """The nodes this one may go to, in the plan's order of writing."""

    @abstractmethod
    def schema(self) -> dict[str, Any]:
        """The JSON schema of each of ``keys``, for editors."""

    def prompts(self, node: N) -> tuple[Prompt, ...]:
        """Every prompt the node may play (rendered ahead when it has no values)."""
        return node.prompts

    def findings(self, node: N, targets: ServiceTargets) -> list[str]:
        """What the node names (a queue, an extension, callbacks) that ``targets``
        lacks, each a warning: the node still loads and calls take its fallback."""
        return []

    @abstractmethod
    async def run(self, node: N, call: Call) -> str | None:
        """Run the node on ``call``; the node to go to next, None to end the plan.

        Raises:
            CallerHungUp: the caller left.
        """


def _per_language(schema: dict[str, Any]) -> dict[str, Any]:
    by_language = {
        "type": "object",
        "additionalProperties": schema,
        "description": "one per language of the plan's 'languages'",
    }
    return {"anyOf": [schema, by_language]}


PROMPT_FIELDS: dict[str, Any] = {
    "say": _per_language({"type": "string", "description": "text spoken by espeak-ng"}),
    "play": _per_language({"type": "string", "description": "audio file, relative to the plan"}),
    "voice": {"type": "string", "description": "espeak-ng voice, e.g. en, cmn, ko"},
}
_PROMPT = {"type": "object", "properties": PROMPT_FIELDS, "additionalProperties": False}
PROMPTS: dict[str, Any] = {
    "anyOf": [
        {"type": "string"},
        _PROMPT,
        {"type": "array", "items": {"anyOf": [{"type": "string"}, _PROMPT]}},
    ]
}
NODE_NAME: dict[str, Any] = {"type": "string", "description": "name of a node in this plan"}
SECONDS: dict[str, Any] = {"type": "number", "minimum": 0.5}
TIMEOUT: dict[str, Any] = {**SECONDS, "maximum": 120}
DTMF_KEY: dict[str, Any] = {"type": "string", "pattern": "^[0-9*#]$"}
# The keys of the nodes that ask the caller and re-prompt.
RETRY_FIELDS: dict[str, Any] = {
    "timeout": TIMEOUT,
    "tries": {"type": "integer", "minimum": 1, "maximum": 20},
    "no_input": PROMPTS,
    "no_match": PROMPTS,
}
# One schema for http's GET/POST and a transfer's bridge/refer, as the
# committed plan.schema.json has it (the loader tells them apart).
METHOD: dict[str, Any] = {
    "enum": ["GET", "POST", "get", "post", "bridge", "refer"],
    "description": "http: GET or POST; transfer to an extension: bridge or refer",
}
