"""A plan's ``speech:`` settings and ``intents:`` definitions, from YAML.

::

    speech:
      model: ko                # a model in the models folder (ivr models list)
      language: ko             # the intents' language (default: the plan's first language)
      threshold: 0.55          # confidence below which an utterance is a no-match
      open_vocabulary: false   # true: hear any word, not only the menu's phrases
      barge_in: true           # speech stops a prompt (menus may override)
      end_silence: 0.6         # seconds of silence that end an utterance
      max_utterance: 8         # seconds, at most
      filler: [오늘, 날씨]       # everyday words that mean no intent (grammar mode)
      out_of_scope: [사물함 비밀번호를 잊었어요]   # callers' sentences no intent serves
    intents:
      password:
        phrases: {ko: [비밀번호 초기화, 암호], en: [reset my password]}
        examples: {en: ["I can't log in, it says my password expired"]}   # callers' sentences
        keywords: {ko: [비밀번호]}
        synonyms: {ko: {비밀번호: [비번]}}   # canonical word: [variants]

``phrases``, ``examples``, ``keywords`` and ``synonyms`` take one entry per language,
or a plain list (mapping for synonyms) that holds for every language. Phrases and
keywords are what the recognizer may hear in grammar mode; examples are scored by
meaning (see :mod:`ivr.speech.intents`).
"""

from __future__ import annotations

import yaml

from ivr.dialplan.yaml_reader import Entries, YamlContext, entries_of, number_of, scalar, text_of
from ivr.speech.intents import Intent
from ivr.speech.models import default_store
from ivr.speech.spec import (
    ANY_LANGUAGE,
    DEFAULT_END_SILENCE_SECONDS,
    DEFAULT_MAX_UTTERANCE_SECONDS,
    DEFAULT_THRESHOLD,
    SpeechSettings,
)

SPEECH_KEYS = {
    "model",
    "language",
    "threshold",
    "open_vocabulary",
    "barge_in",
    "end_silence",
    "max_utterance",
    "filler",
    "out_of_scope",
}
INTENT_KEYS = {"phrases", "examples", "keywords", "synonyms"}


def _flag(ctx: YamlContext, entries: Entries, key: str, default: bool) -> bool:
    if key not in entries:
        return default
    value = scalar(entries[key][1])
    if not isinstance(value, bool):
        ctx.error(entries[key][1], f"speech.{key} must be true or false")
        return default
    return value


def _number(
    ctx: YamlContext, entries: Entries, key: str, low: float, high: float, default: float
) -> float:
    if key not in entries:
        return default
    value = number_of(ctx, entries[key][1], f"speech.{key}", low, high)
    return default if value is None else value


def load_speech(
    ctx: YamlContext, node: yaml.Node, default_language: str, languages: set[str] | None = None
) -> SpeechSettings | None:
    """The ``speech:`` section; reports a model that is not installed."""
    entries = entries_of(ctx, node, "speech", SPEECH_KEYS)
    if "model" not in entries:
        ctx.error(node, "speech has no 'model' (a model name from `ivr models list`)")
        return None
    model_node = entries["model"][1]
    model = text_of(ctx, model_node, "speech.model")
    if model is None:
        return None
    store = default_store()
    if not store.has(model):
        installed = ", ".join(store.names())
        if installed:
            # Speech is set up here, only not for this plan: a mistake to catch.
            ctx.error(
                model_node,
                f"speech model {model!r} is not installed in {store.directory} "
                f"(installed: {installed}); install it with `ivr models install`",
            )
        else:
            # No model at all: the site runs keys only (the service says so at
            # start), so shipped plans with intents still load.
            ctx.warn(
                model_node,
                f"speech model {model!r} is not installed in {store.directory} "
                "(installed: none); menus take keys only until it is installed "
                "with `ivr models install`",
            )
    language = default_language
    if "language" in entries:
        language = text_of(ctx, entries["language"][1], "speech.language") or language
    return SpeechSettings(
        model=model,
        language=language,
        threshold=_number(ctx, entries, "threshold", 0, 1, DEFAULT_THRESHOLD),
        open_vocabulary=_flag(ctx, entries, "open_vocabulary", False),
        barge_in=_flag(ctx, entries, "barge_in", True),
        end_silence_seconds=_number(
            ctx, entries, "end_silence", 0.2, 5, DEFAULT_END_SILENCE_SECONDS
        ),
        max_utterance_seconds=_number(
            ctx, entries, "max_utterance", 1, 60, DEFAULT_MAX_UTTERANCE_SECONDS
        ),
        filler=_texts(ctx, entries["filler"][1], "speech.filler") if "filler" in entries else (),
        out_of_scope=_texts_of(ctx, entries, "out_of_scope", "speech", languages),
    )


def _texts(ctx: YamlContext, node: yaml.Node, what: str) -> tuple[str, ...]:
    items = node.value if isinstance(node, yaml.SequenceNode) else [node]
    texts = []
    for item in items:
        text = text_of(ctx, item, what)
        if text:
            texts.append(text)
    return tuple(texts)


def _per_language(
    ctx: YamlContext, node: yaml.Node, what: str, languages: set[str] | None
) -> dict[str, tuple[str, ...]]:
    if not isinstance(node, yaml.MappingNode):
        return {ANY_LANGUAGE: _texts(ctx, node, what)}
    found = {}
    for language, (key_node, value_node) in entries_of(ctx, node, what, None).items():
        if languages and language not in languages:
            ctx.error(
                key_node,
                f"{what}: language {language!r} is not one of the plan's "
                f"languages ({', '.join(sorted(languages))})",
            )
            continue
        found[language] = _texts(ctx, value_node, f"{what} ({language})")
    return found


def _synonyms(
    ctx: YamlContext, node: yaml.Node, what: str, languages: set[str] | None
) -> dict[str, dict[str, str]]:
    entries = entries_of(ctx, node, what, None)
    # {canonical: [variants]} for every language, or {language: {canonical: [variants]}}
    per_language = bool(entries) and all(
        isinstance(value, yaml.MappingNode) for _, value in entries.values()
    )
    tables = (
        {lang: value for lang, (_, value) in entries.items()}
        if per_language
        else {ANY_LANGUAGE: node}
    )
    found: dict[str, dict[str, str]] = {}
    for language, table in tables.items():
        if languages and language not in languages and language != ANY_LANGUAGE:
            ctx.error(table, f"{what}: language {language!r} is not one of the plan's languages")
            continue
        rewrites = {}
        for canonical, (_, variants) in entries_of(ctx, table, what, None).items():
            for variant in _texts(ctx, variants, f"{what} of {canonical!r}"):
                rewrites[variant] = canonical
        found[language] = rewrites
    return found


def _texts_of(
    ctx: YamlContext, entries: Entries, key: str, what: str, languages: set[str] | None
) -> dict[str, tuple[str, ...]]:
    if key not in entries:
        return {}
    return _per_language(ctx, entries[key][1], f"{what} {key}", languages)


def load_intents(
    ctx: YamlContext, node: yaml.Node, languages: set[str] | None
) -> dict[str, Intent]:
    """The ``intents:`` section: intent name -> definition."""
    intents = {}
    for name, (key_node, value_node) in entries_of(ctx, node, "intents", None).items():
        entries = entries_of(ctx, value_node, f"intent {name!r}", INTENT_KEYS)
        if "phrases" not in entries and "keywords" not in entries:
            ctx.error(key_node, f"intent {name!r} has no 'phrases' or 'keywords'")
            continue
        what = f"intent {name!r}"

        synonyms = (
            _synonyms(ctx, entries["synonyms"][1], f"{what} synonyms", languages)
            if "synonyms" in entries
            else {}
        )
        intents[name] = Intent(
            name,
            _texts_of(ctx, entries, "phrases", what, languages),
            _texts_of(ctx, entries, "keywords", what, languages),
            synonyms,
            examples=_texts_of(ctx, entries, "examples", what, languages),
        )
    return intents
