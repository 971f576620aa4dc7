"""The node types of a plan, one module each; the loader, runner and schema dispatch here.

A node type (:class:`~ivr.dialplan.nodes.base.NodeType`) declares its YAML
keys, builds and validates its node, names its targets, gives its JSON
schema and runs. Adding one: its module here (its dataclass, a subclass of
:class:`~ivr.dialplan.model.BaseNode`, and its node type), its entry in
:data:`NODE_TYPES` and its dataclass in :data:`Node`.
"""

from __future__ import annotations

from typing import Any

import yaml

from ivr.dialplan.model import BaseNode, Plan, Prompt
from ivr.dialplan.nodes.base import Fields, NodeType
from ivr.dialplan.nodes.callback import CallbackNode, CallbackType
from ivr.dialplan.nodes.collect import CollectNode, CollectType
from ivr.dialplan.nodes.condition import ConditionNode, ConditionType
from ivr.dialplan.nodes.goto import GotoNode, GotoType
from ivr.dialplan.nodes.http import HttpLookupNode, HttpType
from ivr.dialplan.nodes.menu import MenuNode, MenuType
from ivr.dialplan.nodes.message import MessageNode, MessageType
from ivr.dialplan.nodes.prompt import HangupNode, HangupType, PromptNode, PromptType
from ivr.dialplan.nodes.survey import SurveyNode, SurveyType
from ivr.dialplan.nodes.transfer import TransferNode, TransferType
from ivr.dialplan.nodes.variables import SetNode, SetType
from ivr.dialplan.prompt_loader import PROMPT_KEYS, PlanScope
from ivr.dialplan.yaml_reader import YamlContext, entries_of, scalar

# Every node dataclass; a plan's nodes are each one of these.
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

# In the order problems list them and the schema offers them.
NODE_TYPES: dict[str, NodeType[Any]] = {
    kind.name: kind
    for kind in (
        PromptType(),
        MenuType(),
        CollectType(),
        SurveyType(),
        SetType(),
        ConditionType(),
        HttpType(),
        MessageType(),
        GotoType(),
        TransferType(),
        CallbackType(),
        HangupType(),
    )
}
_BY_CLASS: dict[type, NodeType[Any]] = {kind.node_class: kind for kind in NODE_TYPES.values()}
NODE_KEYS: dict[str, frozenset[str]] = {name: kind.keys for name, kind in NODE_TYPES.items()}


def type_of(node: BaseNode) -> NodeType[Any]:
    return _BY_CLASS[type(node)]


def build_node(ctx: YamlContext, name: str, node: yaml.Node, scope: PlanScope) -> Node | None:
    """The node ``name`` of a plan; None when it cannot be built (problems are in ``ctx``)."""
    if not isinstance(node, yaml.MappingNode):
        ctx.error(node, f"node {name!r} must be a mapping")
        return None
    type_entry = next((v for k, v in node.value if getattr(k, "value", None) == "type"), None)
    if type_entry is None:
        ctx.error(node, f"node {name!r} has no 'type' (one of: {', '.join(NODE_TYPES)})")
        return None
    kind = NODE_TYPES.get(str(scalar(type_entry)))
    if kind is None:
        ctx.error(
            type_entry,
            f"unknown node type {scalar(type_entry)!r} (known: {', '.join(NODE_TYPES)})",
        )
        return None
    allowed = {"type"} | PROMPT_KEYS | kind.keys
    entries = entries_of(ctx, node, f"{kind.name} node {name!r}", allowed)
    built: Node = kind.build(Fields(ctx, name, node, entries, scope))
    return built


def targets_of(node: BaseNode) -> list[str]:
    """The nodes ``node`` may go to."""
    return type_of(node).targets(node)


def waits_for_caller(node: BaseNode) -> bool:
    return type_of(node).waits_for_caller


def plan_prompts(plan: Plan) -> list[Prompt]:
    """Every prompt of the plan, each language's variant included."""
    found = [p for node in plan.nodes.values() for p in type_of(node).prompts(node)]
    return [v for p in found for v in (p.by_language.values() or [p])]
