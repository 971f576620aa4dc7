"""Prompts as written in a plan: text or a file, one for all languages or one per language.

A plan that declares ``languages: {en: en, zh: cmn}`` (language -> espeak-ng
voice) may give any ``say``/``play`` as a mapping with one entry per
language; the call's ``language`` variable picks the entry.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml

from ivr.dialplan.model import OfficeHours, Prompt
from ivr.dialplan.templates import template_fields
from ivr.dialplan.yaml_reader import Entries, YamlContext, entries_of, text_of

PROMPT_KEYS = {"say", "play", "voice"}


@dataclass(frozen=True)
class PlanScope:
    """What every node of a plan reads against."""

    voice: str = "en"  # espeak-ng voice when the plan declares no languages
    languages: Mapping[str, str] = field(default_factory=dict)  # language -> voice
    calendars: Mapping[str, OfficeHours] = field(default_factory=dict)
    intents: frozenset[str] | None = None  # defined intents; None: the plan has no speech

    @property
    def default_language(self) -> str:
        return next(iter(self.languages), "")

    @property
    def default_voice(self) -> str:
        return self.languages.get(self.default_language, self.voice)


def _spoken(ctx: YamlContext, node: yaml.Node, text: str, voice: str) -> Prompt:
    try:
        fields = template_fields(text)
    except ValueError as exc:
        ctx.error(node, str(exc))
        fields = []
    return Prompt(ctx.at(node), text=text, voice=voice, has_values=bool(fields))


def _say(ctx: YamlContext, node: yaml.Node, voice: str) -> Prompt | None:
    text = text_of(ctx, node, "say")
    return _spoken(ctx, node, text, voice) if text else None


def _play(ctx: YamlContext, node: yaml.Node, voice: str) -> Prompt | None:
    name = text_of(ctx, node, "play")
    if name is None:
        return None
    file = Path(name) if Path(name).is_absolute() else ctx.path.parent / name
    if not file.is_file():
        ctx.error(node, f"prompt file {name!r} not found (looked for {file})")
    return Prompt(ctx.at(node), file=file, voice=voice)


Build = Callable[[YamlContext, yaml.Node, str], Prompt | None]


def _in_languages(
    ctx: YamlContext, node: yaml.Node, scope: PlanScope, voice: str | None, build: Build
) -> Prompt | None:
    if not isinstance(node, yaml.MappingNode):
        return build(ctx, node, voice or scope.default_voice)
    if not scope.languages:
        ctx.error(node, "a prompt per language needs 'languages' at the top of the plan")
        return None
    entries = entries_of(ctx, node, "prompt languages", set(scope.languages))
    missing = [language for language in scope.languages if language not in entries]
    if missing:
        ctx.error(node, f"prompt has no {', '.join(repr(m) for m in missing)} version")
    variants = {}
    for language, (_, value_node) in entries.items():
        variant = build(ctx, value_node, voice or scope.languages[language])
        if variant is not None:
            variants[language] = variant
    if not variants:
        return None
    first = variants.get(scope.default_language) or next(iter(variants.values()))
    return replace(first, by_language=variants)


def prompt_of(ctx: YamlContext, entries: Entries, scope: PlanScope) -> Prompt | None:
    """The prompt given by ``say`` or ``play`` in ``entries`` (None when neither is)."""
    voice = text_of(ctx, entries["voice"][1], "voice") if "voice" in entries else None
    if "say" in entries and "play" in entries:
        ctx.error(entries["play"][0], "a prompt takes either 'say' or 'play', not both")
        return None
    if "say" in entries:
        return _in_languages(ctx, entries["say"][1], scope, voice, _say)
    if "play" in entries:
        return _in_languages(ctx, entries["play"][1], scope, voice, _play)
    return None


def prompt_list(
    ctx: YamlContext, node: yaml.Node, what: str, scope: PlanScope
) -> tuple[Prompt, ...]:
    """A prompt given as text, a {say|play} mapping, or a list of either."""
    items = node.value if isinstance(node, yaml.SequenceNode) else [node]
    prompts = []
    for item in items:
        if isinstance(item, yaml.ScalarNode):
            text = text_of(ctx, item, what)
            if text:
                prompts.append(_spoken(ctx, item, text, scope.default_voice))
            continue
        entries = entries_of(ctx, item, what, PROMPT_KEYS)
        prompt = prompt_of(ctx, entries, scope)
        if prompt is None and entries:
            ctx.error(item, f"{what} needs 'say' or 'play'")
        if prompt is not None:
            prompts.append(prompt)
    return tuple(prompts)
