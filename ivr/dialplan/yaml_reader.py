"""Reading composed YAML with positions: typed scalars, mappings, and located problems."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ivr.dialplan.problems import Location, Problem, Severity


@dataclass
class YamlContext:
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


def scalar(node: yaml.Node) -> Any:
    """A scalar's typed value (int, float, bool, None, str); other nodes pass through."""
    if not isinstance(node, yaml.ScalarNode):
        return node
    try:
        return _CONSTRUCTOR.construct_object(node)
    except yaml.YAMLError:
        return node.value


def plain(node: yaml.Node) -> Any:
    """A node's Python value (lists, mappings, typed scalars), as ``yaml.safe_load`` gives it."""
    return yaml.constructor.SafeConstructor().construct_document(node)


def compose_file(path: Path, what: str) -> tuple[bytes, yaml.Node | None, Problem | None]:
    """The file's bytes and composed root (None when empty), or the problem reading it:
    unreadable, not UTF-8, or a YAML syntax error at its line and column."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        return b"", None, Problem(Location(str(path), 1, 1), f"cannot read {what}: {exc.strerror}")
    try:
        root = yaml.compose(data.decode("utf-8"), Loader=yaml.SafeLoader)
    except UnicodeDecodeError:
        return data, None, Problem(Location(str(path), 1, 1), f"{what} is not UTF-8 text")
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        message = f"YAML syntax error: {exc.problem or exc.context}"
        return data, None, Problem(Location(str(path), line, column), message)
    return data, root, None


def entries_of(ctx: YamlContext, node: yaml.Node, what: str, allowed: set[str] | None) -> Entries:
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


def text_of(ctx: YamlContext, node: yaml.Node, what: str) -> str | None:
    value = scalar(node)
    if not isinstance(value, str | int) or isinstance(value, bool) or str(value) == "":
        ctx.error(node, f"{what} must be non-empty text")
        return None
    return str(value)


def number_of(
    ctx: YamlContext, node: yaml.Node, what: str, low: float, high: float
) -> float | None:
    value = scalar(node)
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        ctx.error(node, f"{what} must be a number from {low:g} to {high:g}")
        return None
    return float(value)
