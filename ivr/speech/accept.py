"""Accepting tuning suggestions: new examples, phrases or keywords written into an
intent of a plan file, in place, or sentences no intent serves into its
``speech.out_of_scope``.

The file is edited as text, at the positions PyYAML's composer reports, so its
comments, key order and layout stay as they were: a flow list (``examples: [a,
b]``) gets the new entries before its ``]``, a block list new ``- item`` lines
after its last item, a per-language mapping (``examples: {ko: [...]}``) the entry
of the language, and an intent without the key a new ``key: [...]`` line (or
entry, in a flow mapping) shaped like its ``phrases``. Texts already there are
not added twice.

The edited file is validated as a plan before it replaces the original (written
beside it under a name the plan folder's watcher ignores, then renamed over it):
a plan with errors is never left behind.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from ivr.dialplan.loader import check_plan
from ivr.dialplan.model import Plan
from ivr.exceptions import SpeechError

FIELDS = ("examples", "phrases", "keywords")
OUT_OF_SCOPE = "out_of_scope"  # of the plan's speech section, not of an intent
ANY_LANGUAGE = ""  # a plain list: the texts serve every language
_NEEDS_QUOTES = re.compile(r"""[,\[\]{}#&*!|>'"%@`:]|^[-?\s]|\s$""")


@dataclass(frozen=True)
class Accepted:
    """What an accept did: the plan before and after, and the texts added per field."""

    path: Path
    before: Plan
    after: Plan
    added: Mapping[str, tuple[str, ...]]
    written: bool  # False for a dry run, or when there was nothing to add


def flow_scalar(text: str) -> str:
    """``text`` as a YAML flow-collection item: plain when that reads back as the same
    string, else double-quoted."""
    if text and not _NEEDS_QUOTES.search(text):
        try:
            if yaml.safe_load(text) == text:
                return text
        except yaml.YAMLError:
            pass
    return json.dumps(text, ensure_ascii=False)


def _flow_list(texts: Sequence[str]) -> str:
    return "[" + ", ".join(flow_scalar(t) for t in texts) + "]"


def _entry(mapping: MappingNode, key: str) -> tuple[ScalarNode, Node] | None:
    for key_node, value in mapping.value:
        if isinstance(key_node, ScalarNode) and key_node.value == key:
            return key_node, value
    return None


def _last_leaf(node: Node) -> Node:
    while isinstance(node, (MappingNode, SequenceNode)) and node.value and not node.flow_style:
        last = node.value[-1]
        node = last[1] if isinstance(last, tuple) else last
    return node


def _after_line(source: str, index: int) -> int:
    """The position after the newline that ends the line holding ``index``."""
    end = source.find("\n", index)
    return len(source) if end < 0 else end + 1


def _line_start(source: str, index: int) -> int:
    return source.rfind("\n", 0, index) + 1


def _insert_into_flow(source: str, node: Node, item: str) -> str:
    """``item`` before the closing bracket of the flow collection ``node``."""
    close = node.end_mark.index - 1
    assert source[close] in "]}", source[close]
    empty = not node.value
    return source[:close] + ("" if empty else ", ") + item + source[close:]


def _append_to_list(source: str, node: SequenceNode, texts: Sequence[str]) -> str:
    if node.flow_style or not node.value:
        if not node.flow_style:
            raise SpeechError("an empty block list cannot be extended in place")
        return _insert_into_flow(source, node, ", ".join(flow_scalar(t) for t in texts))
    first = node.value[0]
    prefix = source[_line_start(source, first.start_mark.index) : first.start_mark.index]
    at = _after_line(source, _last_leaf(node).end_mark.index)
    if at == len(source) and not source.endswith("\n"):
        source, at = source + "\n", at + 1
    lines = "".join(f"{prefix}{flow_scalar(t)}\n" for t in texts)
    return source[:at] + lines + source[at:]


def _add_entry(source: str, mapping: MappingNode, key: str, value: str) -> str:
    """A new ``key: value`` at the end of ``mapping`` (flow or block)."""
    if mapping.flow_style or not mapping.value:
        if not mapping.flow_style:
            raise SpeechError("an empty block mapping cannot be extended in place")
        return _insert_into_flow(source, mapping, f"{key}: {value}")
    first_key = mapping.value[0][0]
    indent = " " * first_key.start_mark.column
    at = _after_line(source, _last_leaf(mapping.value[-1][1]).end_mark.index)
    if at == len(source) and not source.endswith("\n"):
        source, at = source + "\n", at + 1
    return source[:at] + f"{indent}{key}: {value}\n" + source[at:]


def _texts(node: Node, where: str) -> list[str]:
    if not isinstance(node, SequenceNode) or not all(isinstance(n, ScalarNode) for n in node.value):
        raise SpeechError(f"{where} is not a list of texts; edit it by hand")
    return [str(n.value) for n in node.value]


def _extended(
    source: str,
    owner: MappingNode,
    key: str,
    texts: Sequence[str],
    language: str,
    where: str,
    per_language: bool,
) -> tuple[str, tuple[str, ...]]:
    """``source`` with ``texts`` added to the list ``owner.<key>`` (or its ``language``
    entry), created when missing (per language when ``per_language``)."""
    current = _entry(owner, key)
    if current is None:
        new = list(dict.fromkeys(texts))
        if per_language and not language:
            raise SpeechError(f"{where} would list texts per language: name the language")
        value = f"{{{language}: {_flow_list(new)}}}" if per_language else _flow_list(new)
        return _add_entry(source, owner, key, value), tuple(new)
    node = current[1]
    if isinstance(node, MappingNode):
        if not language:
            raise SpeechError(f"{where} lists texts per language: name the language")
        entry = _entry(node, language)
        if entry is None:
            new = list(dict.fromkeys(texts))
            return _add_entry(source, node, language, _flow_list(new)), tuple(new)
        node, where = entry[1], f"{where}.{language}"
    have = set(_texts(node, where))
    new = [t for t in dict.fromkeys(texts) if t not in have]
    if not new:
        return source, ()
    assert isinstance(node, SequenceNode)
    return _append_to_list(source, node, new), tuple(new)


def _root(source: str) -> MappingNode:
    try:
        root = yaml.compose(source)
    except yaml.YAMLError as exc:
        raise SpeechError(f"the plan is not readable YAML: {exc}") from exc
    if not isinstance(root, MappingNode):
        raise SpeechError("the plan is not a mapping")
    return root


def with_out_of_scope(
    source: str, texts: Sequence[str], language: str
) -> tuple[str, tuple[str, ...]]:
    """``source`` (a plan's YAML) with ``texts`` added to ``speech.out_of_scope``, per
    language when the plan declares ``languages``. Raises SpeechError as
    :func:`with_texts` does."""
    root = _root(source)
    speech = _entry(root, "speech")
    if speech is None or not isinstance(speech[1], MappingNode):
        raise SpeechError("the plan has no 'speech' mapping")
    per_language = _entry(root, "languages") is not None
    where = f"speech.{OUT_OF_SCOPE}"
    return _extended(source, speech[1], OUT_OF_SCOPE, texts, language, where, per_language)


def with_texts(
    source: str, intent: str, key: str, texts: Sequence[str], language: str
) -> tuple[str, tuple[str, ...]]:
    """``source`` (a plan's YAML) with ``texts`` added to ``intents.<intent>.<key>``;
    ``language`` picks the entry of a per-language mapping. Returns the new text and
    the texts actually added (those not there already).

    Raises:
        SpeechError: no such intent, or a shape this cannot extend in place.
    """
    if key not in FIELDS:
        raise SpeechError(f"can add {', '.join(FIELDS)}, not {key!r}")
    intents = _entry(_root(source), "intents")
    if intents is None or not isinstance(intents[1], MappingNode):
        raise SpeechError("the plan has no 'intents' mapping")
    found = _entry(intents[1], intent)
    if found is None:
        known = ", ".join(str(k.value) for k, _ in intents[1].value)
        raise SpeechError(f"the plan has no intent {intent!r} (its intents: {known})")
    body = found[1]
    if not isinstance(body, MappingNode):
        raise SpeechError(f"intent {intent!r} is not a mapping; edit it by hand")
    phrases = _entry(body, "phrases")
    per_language = phrases is not None and isinstance(phrases[1], MappingNode)
    where = f"intents.{intent}.{key}"
    return _extended(source, body, key, texts, language, where, per_language)


def accept(
    path: Path,
    intent: str | None,
    additions: Mapping[str, Sequence[str]],
    language: str | None = None,
    dry_run: bool = False,
) -> Accepted:
    """Add ``additions`` ({"examples": [...], "phrases": [...], "keywords": [...]}) to
    ``intent`` of the plan file ``path``, and ``additions["out_of_scope"]`` to its
    ``speech.out_of_scope``. ``language``: the entry of per-language lists (default:
    the plan's speech language).

    Raises:
        SpeechError: the plan has errors before or after the change (the file is then
        left as it was), no such intent, or a shape this cannot edit in place.
    """
    before, problems = check_plan(path)
    if before is None:
        raise SpeechError(
            f"{path} has errors; fix them first:\n" + "\n".join(str(p) for p in problems)
        )
    if language is None:
        language = before.speech.language if before.speech is not None else ANY_LANGUAGE
    try:
        source = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpeechError(f"cannot read {path}: {exc}") from exc
    text, added = source, {}
    for key, texts in additions.items():
        cleaned = [t.strip() for t in texts if t.strip()]
        if not cleaned:
            continue
        if key == OUT_OF_SCOPE:
            text, added[key] = with_out_of_scope(text, cleaned, language)
        elif intent is None:
            raise SpeechError(f"name the intent to add {key} to")
        else:
            text, added[key] = with_texts(text, intent, key, cleaned, language)
    added = {k: v for k, v in added.items() if v}
    if text == source:
        return Accepted(path, before, before, added, written=False)
    after = _checked(path, text)
    _confirm(after, intent, added, language)
    if not dry_run:
        _replace(path, text)
    return Accepted(path, before, after, added, written=not dry_run)


def _checked(path: Path, text: str) -> Plan:
    # Beside the original (its prompts are relative to the folder), under a name the
    # plan watcher's *.yaml glob does not see.
    trial = path.with_name(f".{path.name}.accepting")
    try:
        trial.write_text(text, encoding="utf-8")
        plan, problems = check_plan(trial)
    except OSError as exc:
        raise SpeechError(f"cannot write beside {path}: {exc}") from exc
    finally:
        trial.unlink(missing_ok=True)
    if plan is None:
        lines = "\n".join(str(p).replace(str(trial), str(path)) for p in problems)
        raise SpeechError(f"the change would make {path} invalid; left as it was:\n{lines}")
    return plan


def _confirm(
    plan: Plan, intent: str | None, added: Mapping[str, tuple[str, ...]], language: str
) -> None:
    """The loaded plan holds what was added (the edit went where it was meant to)."""
    tables: dict[str, Mapping[str, tuple[str, ...]]] = {
        OUT_OF_SCOPE: plan.speech.out_of_scope if plan.speech is not None else {}
    }
    owner = "speech"
    if intent is not None:
        loaded = plan.intents.get(intent)
        if loaded is None:
            raise SpeechError(f"intent {intent!r} is gone after the edit; the file is unchanged")
        tables.update(examples=loaded.examples, phrases=loaded.phrases, keywords=loaded.keywords)
        owner = f"intent {intent!r}"
    for key, texts in added.items():
        held = {t for values in tables[key].values() for t in values}
        missing = [t for t in texts if t not in held]
        if missing:
            where = "speech" if key == OUT_OF_SCOPE else owner
            raise SpeechError(
                f"after the edit {where} lacks {key} {missing}; the file is unchanged"
            )


def _replace(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.writing")
    try:
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise SpeechError(f"cannot write {path}: {exc}") from exc
