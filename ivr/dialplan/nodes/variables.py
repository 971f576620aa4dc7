"""``set``: sets call variables (kept on the ticket), then goes on."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from ivr.dialplan.model import BaseNode
from ivr.dialplan.nodes.base import NODE_NAME, Fields, NodeType
from ivr.dialplan.nodes.call import Call
from ivr.dialplan.yaml_reader import entries_of, scalar


@dataclass(frozen=True)
class SetNode(BaseNode):
    """Sets call variables (kept on the ticket), then goes to ``next``."""

    values: Mapping[str, str]
    next: str | None


class SetType(NodeType[SetNode]):
    name = "set"
    node_class = SetNode
    keys = frozenset({"values", "next"})

    def build(self, f: Fields) -> SetNode:
        values: dict[str, str] = {}
        if "values" not in f.entries:
            f.ctx.error(f.node, f"set node {f.name!r} has no 'values'")
        else:
            for key, (_, value_node) in entries_of(
                f.ctx, f.entries["values"][1], "values", None
            ).items():
                value = scalar(value_node)
                if isinstance(value, dict | list) or not isinstance(value_node, yaml.ScalarNode):
                    f.ctx.error(value_node, f"value of {key!r} must be text or a number")
                    continue
                values[key] = "" if value is None else str(value)
        return SetNode(f.name, f.location, f.prompts, values, f.target("next"))

    def targets(self, node: SetNode) -> list[str]:
        return [node.next] if node.next else []

    def schema(self) -> dict[str, Any]:
        return {
            "values": {
                "type": "object",
                "additionalProperties": {"type": ["string", "number", "boolean"]},
                "description": "variable -> value",
            },
            "next": NODE_NAME,
        }

    async def run(self, node: SetNode, call: Call) -> str | None:
        for variable, value in node.values.items():
            call.journal.set_variable(variable, value, node.name)
        return node.next
