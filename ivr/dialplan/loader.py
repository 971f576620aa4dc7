"""YAML dial plan → :class:`~ivr.dialplan.model.Plan`, reporting every problem at file:line:col.

The YAML is composed (not constructed) so each value keeps its position;
the loader collects all problems it finds instead of stopping at the first.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ivr.dialplan.model import (
    DTMF_KEYS,
    HangupNode,
    MenuNode,
    Node,
    Plan,
    PlanMatch,
    Prompt,
    PromptNode,
)
from ivr.dialplan.problems import Location, Problem, Severity
from ivr.exceptions import DialplanError

PLAN_KEYS = {"plan", "description", "voice", "record", "start", "nodes", "match"}
MATCH_KEYS = {"called", "caller"}
PROMPT_KEYS = {"say", "play", "voice"}
NODE_KEYS: dict[str, set[str]] = {
    "prompt": {"next"},
    "menu": {"keys", "timeout", "tries", "no_input", "no_match", "fallback"},
    "hangup": set(),
}
DEFAULT_MENU_TIMEOUT_SECONDS = 5.0
DEFAULT_MENU_TRIES = 3


@dataclass
class _Context:
    path: Path
    problems: list[Problem] = field(default_factory=list)
    # Where each (node, target) reference was written, for dangling-target errors.
    references: dict[tuple[str, str], Location] = field(default_factory=dict)

    def at(self, node: yaml.Node) -> Location:
        mark = node.start_mark
        return Location(str(self.path), mark.line + 1, mark.column + 1)

    def error(self, node: yaml.Node, message: str) -> None:
        self.problems.append(Problem(self.at(node), message))

    def warn(self, node: yaml.Node, message: str) -> None:
        self.problems.append(Problem(self.at(node), message, Severity.WARNING))


Entries = dict[str, tuple[yaml.Node, yaml.Node]]


_CONSTRUCTOR = yaml.constructor.SafeConstructor()


def _scalar(node: yaml.Node) -> Any:
    """A scalar's typed value (int, float, bool, None, str); other nodes pass through."""
    if not isinstance(node, yaml.ScalarNode):
        return node
    try:
        return _CONSTRUCTOR.construct_object(node)
    except yaml.YAMLError:
        return node.value


def _entries(ctx: _Context, node: yaml.Node, what: str, allowed: set[str] | None) -> Entries:
    """A mapping's entries by key text; reports non-mappings, duplicates and unknown keys."""
    if not isinstance(node, yaml.MappingNode):
        ctx.error(node, f"{what} must be a mapping")
        return {}
    entries: Entries = {}
    for key_node, value_node in node.value:
        key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else ""
        if key in entries:
            first = ctx.at(entries[key][0])
            ctx.error(key_node, f"duplicate key {key!r} in {what} (first at line {first.line})")
            continue
        if allowed is not None and key not in allowed:
            known = ", ".join(sorted(allowed))
            ctx.error(key_node, f"unknown key {key!r} in {what} (known: {known})")
            continue
        entries[key] = (key_node, value_node)
    return entries


def _text(ctx: _Context, node: yaml.Node, what: str) -> str | None:
    value = _scalar(node)
    if not isinstance(value, str | int) or isinstance(value, bool) or str(value) == "":
        ctx.error(node, f"{what} must be non-empty text")
        return None
    return str(value)


def _number(ctx: _Context, node: yaml.Node, what: str, low: float, high: float) -> float | None:
    value = _scalar(node)
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        ctx.error(node, f"{what} must be a number from {low:g} to {high:g}")
        return None
    return float(value)


def _prompt(ctx: _Context, node: yaml.Node, entries: Entries, voice: str) -> Prompt | None:
    if "voice" in entries:
        voice = _text(ctx, entries["voice"][1], "voice") or voice
    has_say, has_play = "say" in entries, "play" in entries
    if has_say and has_play:
        ctx.error(entries["play"][0], "a prompt takes either 'say' or 'play', not both")
        return None
    if has_say:
        text = _text(ctx, entries["say"][1], "say")
        return Prompt(ctx.at(entries["say"][1]), text=text, voice=voice) if text else None
    if has_play:
        value_node = entries["play"][1]
        name = _text(ctx, value_node, "play")
        if name is None:
            return None
        file = Path(name) if Path(name).is_absolute() else ctx.path.parent / name
        if not file.is_file():
            ctx.error(value_node, f"prompt file {name!r} not found (looked for {file})")
        return Prompt(ctx.at(value_node), file=file, voice=voice)
    return None


def _prompt_list(ctx: _Context, node: yaml.Node, what: str, voice: str) -> tuple[Prompt, ...]:
    """A prompt given as text, a {say|play} mapping, or a list of either."""
    items = node.value if isinstance(node, yaml.SequenceNode) else [node]
    prompts = []
    for item in items:
        if isinstance(item, yaml.ScalarNode):
            text = _text(ctx, item, what)
            if text:
                prompts.append(Prompt(ctx.at(item), text=text, voice=voice))
            continue
        entries = _entries(ctx, item, what, PROMPT_KEYS)
        prompt = _prompt(ctx, item, entries, voice)
        if prompt is None and entries:
            ctx.error(item, f"{what} needs 'say' or 'play'")
        if prompt is not None:
            prompts.append(prompt)
    return tuple(prompts)


def _node(ctx: _Context, name: str, node: yaml.Node, voice: str) -> Node | None:
    if not isinstance(node, yaml.MappingNode):
        ctx.error(node, f"node {name!r} must be a mapping")
        return None
    type_entry = next((v for k, v in node.value if getattr(k, "value", None) == "type"), None)
    if type_entry is None:
        ctx.error(node, f"node {name!r} has no 'type' (one of: {', '.join(NODE_KEYS)})")
        return None
    node_type = _scalar(type_entry)
    if node_type not in NODE_KEYS:
        ctx.error(type_entry, f"unknown node type {node_type!r} (known: {', '.join(NODE_KEYS)})")
        return None
    allowed = {"type"} | PROMPT_KEYS | NODE_KEYS[node_type]
    entries = _entries(ctx, node, f"{node_type} node {name!r}", allowed)
    prompt = _prompt(ctx, node, entries, voice)
    prompts = (prompt,) if prompt else ()
    location = ctx.at(node)

    def target(key: str) -> str | None:
        if key not in entries:
            return None
        destination = _text(ctx, entries[key][1], key)
        if destination:
            ctx.references.setdefault((name, destination), ctx.at(entries[key][1]))
        return destination

    if node_type == "prompt":
        return PromptNode(name, location, prompts, target("next"))
    if node_type == "hangup":
        return HangupNode(name, location, prompts)
    keys: dict[str, str] = {}
    if "keys" not in entries:
        ctx.error(node, f"menu {name!r} has no 'keys'")
    else:
        for key, (key_node, value_node) in _entries(ctx, entries["keys"][1], "keys", None).items():
            if len(key) != 1 or key not in DTMF_KEYS:
                ctx.error(key_node, f"invalid DTMF key {key!r} (use one of 0-9, * or #, quoted)")
                continue
            destination = _text(ctx, value_node, f"target of key {key!r}")
            if destination:
                keys[key] = destination
                ctx.references.setdefault((name, destination), ctx.at(value_node))

    def number(key: str, low: float, high: float, default: float) -> float:
        if key not in entries:
            return default
        value = _number(ctx, entries[key][1], key, low, high)
        return default if value is None else value

    def prompts_of(key: str) -> tuple[Prompt, ...]:
        return _prompt_list(ctx, entries[key][1], key, voice) if key in entries else ()

    return MenuNode(
        name=name,
        location=location,
        prompts=prompts,
        keys=keys,
        timeout_seconds=number("timeout", 0.5, 120, DEFAULT_MENU_TIMEOUT_SECONDS),
        tries=int(number("tries", 1, 20, DEFAULT_MENU_TRIES)),
        no_input=prompts_of("no_input"),
        no_match=prompts_of("no_match"),
        fallback=target("fallback"),
    )


def _match(ctx: _Context, node: yaml.Node) -> PlanMatch | None:
    entries = _entries(ctx, node, "match", MATCH_KEYS)
    if not entries:
        return None

    def items(key: str) -> list[tuple[yaml.Node, str]]:
        if key not in entries:
            return []
        value = entries[key][1]
        elements = value.value if isinstance(value, yaml.SequenceNode) else [value]
        found = []
        for element in elements:
            text = _text(ctx, element, f"match.{key} entry")
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


def _targets(node: Node) -> list[str]:
    if isinstance(node, PromptNode):
        return [node.next] if node.next else []
    if isinstance(node, MenuNode):
        return list(node.keys.values()) + ([node.fallback] if node.fallback else [])
    return []


def _check_graph(
    ctx: _Context,
    start: str,
    start_node: yaml.Node,
    nodes: dict[str, Node],
    name_nodes: dict[str, yaml.Node],
) -> None:
    for node in nodes.values():
        for destination in _targets(node):
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
        for destination in _targets(nodes[todo.pop()]):
            if destination in nodes and destination not in seen:
                seen.add(destination)
                todo.append(destination)
    for name in nodes:
        if name not in seen:
            ctx.warn(name_nodes[name], f"node {name!r} is never reached from {start!r}")


def check_plan(path: Path) -> tuple[Plan | None, list[Problem]]:
    """Load ``path``; the plan is None when any problem is an error."""
    ctx = _Context(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        return None, [Problem(Location(str(path), 1, 1), f"cannot read plan: {exc.strerror}")]
    try:
        root = yaml.compose(data.decode("utf-8"), Loader=yaml.SafeLoader)
    except UnicodeDecodeError:
        return None, [Problem(Location(str(path), 1, 1), "plan is not UTF-8 text")]
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        message = f"YAML syntax error: {exc.problem or exc.context}"
        return None, [Problem(Location(str(path), line, column), message)]
    if root is None:
        return None, [Problem(Location(str(path), 1, 1), "plan is empty")]
    top = _entries(ctx, root, "plan", PLAN_KEYS)
    plan_name = _text(ctx, top["plan"][1], "plan") if "plan" in top else None
    if "plan" not in top:
        ctx.error(root, "plan has no 'plan' (its name)")
    voice = _text(ctx, top["voice"][1], "voice") if "voice" in top else None
    voice = voice or "en"
    record = True
    if "record" in top:
        value = _scalar(top["record"][1])
        if not isinstance(value, bool):
            ctx.error(top["record"][1], "record must be true or false")
        else:
            record = value
    match = _match(ctx, top["match"][1]) if "match" in top else None
    nodes: dict[str, Node] = {}
    name_nodes: dict[str, yaml.Node] = {}
    if "nodes" not in top:
        ctx.error(root, "plan has no 'nodes'")
    else:
        for name, (key_node, value_node) in _entries(ctx, top["nodes"][1], "nodes", None).items():
            name_nodes[name] = key_node
            built = _node(ctx, name, value_node, voice)
            if built is not None:
                nodes[name] = built
    if "start" not in top:
        ctx.error(root, "plan has no 'start' node")
    else:
        start = _text(ctx, top["start"][1], "start")
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
        start=str(_scalar(top["start"][1])),
        nodes=nodes,
        match=match,
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
