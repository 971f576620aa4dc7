"""JSON Schema of the plan format, for editors that autocomplete and flag YAML as it is typed.

Each node type contributes the schema of its own keys (``schema()`` in its
module of :mod:`ivr.dialplan.nodes`), checked against the keys its loader
accepts, so the two cannot drift. ``ivr dialplan validate`` stays the authority (it also checks
targets, prompt files and reachability, which a schema cannot).
"""

from __future__ import annotations

from typing import Any

from ivr.dialplan.loader import MATCH_KEYS, PLAN_KEYS
from ivr.dialplan.nodes import NODE_TYPES
from ivr.dialplan.nodes.base import NODE_NAME, PROMPT_FIELDS
from ivr.dialplan.prompt_loader import PROMPT_KEYS
from ivr.dialplan.speech_loader import INTENT_KEYS, SPEECH_KEYS

_HOURS = {
    "type": "object",
    "required": ["timezone", "open", "close"],
    "properties": {
        "timezone": {"type": "string", "description": "IANA zone, e.g. Asia/Shanghai"},
        "weekdays": {
            "type": "array",
            "items": {"enum": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]},
        },
        "open": {"type": "string", "pattern": "^[0-2][0-9]:[0-5][0-9]$"},
        "close": {"type": "string", "pattern": "^[0-2][0-9]:[0-5][0-9]$"},
        "holidays": {"type": "array", "items": {"type": "string", "format": "date"}},
    },
    "additionalProperties": False,
}

_TEXTS = {"type": "array", "items": {"type": "string"}}
_TEXTS_PER_LANGUAGE = {"anyOf": [_TEXTS, {"type": "object", "additionalProperties": _TEXTS}]}
_INTENT = {
    "type": "object",
    "properties": {
        "phrases": _TEXTS_PER_LANGUAGE,
        "examples": {
            **_TEXTS_PER_LANGUAGE,
            "description": "whole sentences callers say for this intent (scored by meaning)",
        },
        "keywords": _TEXTS_PER_LANGUAGE,
        "synonyms": {
            "type": "object",
            "description": "canonical word -> variants, or language -> that",
        },
    },
    "additionalProperties": False,
}
_SPEECH = {
    "type": "object",
    "required": ["model"],
    "properties": {
        "model": {"type": "string", "description": "an installed model (ivr models list)"},
        "language": {"type": "string", "description": "the intents' language"},
        "threshold": {"type": "number", "minimum": 0, "maximum": 1},
        "open_vocabulary": {"type": "boolean"},
        "barge_in": {"type": "boolean"},
        "end_silence": {"type": "number", "minimum": 0.2, "maximum": 5},
        "max_utterance": {"type": "number", "minimum": 1, "maximum": 60},
        "filler": {**_TEXTS, "description": "everyday words that mean no intent"},
        "out_of_scope": {
            **_TEXTS_PER_LANGUAGE,
            "description": (
                "callers' sentences no intent serves: own words nearer to one are refused "
                "(typed text and open_vocabulary speech; a grammar's transcript is not compared)"
            ),
        },
    },
    "additionalProperties": False,
}


def plan_schema() -> dict[str, Any]:
    node_schemas = []
    for node_type, kind in NODE_TYPES.items():
        fields = {**PROMPT_FIELDS, **kind.schema()}
        assert set(fields) == kind.keys | PROMPT_KEYS, node_type
        properties: dict[str, Any] = {"type": {"const": node_type}}
        properties.update({key: fields[key] for key in sorted(fields)})
        node_schemas.append(
            {
                "type": "object",
                "title": f"{node_type} node",
                "required": ["type"],
                "properties": properties,
                "additionalProperties": False,
            }
        )
    match_properties: dict[str, Any] = {
        "called": {"type": "array", "items": {"type": ["string", "integer"]}},
        "caller": {"type": "array", "items": {"type": "string", "format": "regex"}},
    }
    assert set(match_properties) == MATCH_KEYS
    match = {"type": "object", "properties": match_properties, "additionalProperties": False}
    top: dict[str, Any] = {
        "plan": {"type": "string", "description": "the plan's name"},
        "description": {"type": "string"},
        "voice": PROMPT_FIELDS["voice"],
        "languages": {
            "type": "object",
            "additionalProperties": {"type": "string"},
            "description": "language -> espeak-ng voice; the first is the default",
        },
        "record": {"type": "boolean"},
        "start": NODE_NAME,
        "match": match,
        "hours": {"type": "object", "additionalProperties": _HOURS},
        "nodes": {"type": "object", "additionalProperties": {"oneOf": node_schemas}},
        "speech": _SPEECH,
        "intents": {"type": "object", "additionalProperties": _INTENT},
    }
    assert set(top) == PLAN_KEYS
    assert set(_SPEECH["properties"]) == SPEECH_KEYS  # type: ignore[call-overload]
    assert set(_INTENT["properties"]) == INTENT_KEYS  # type: ignore[call-overload]
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Hotline IVR dial plan",
        "type": "object",
        "required": ["plan", "start", "nodes"],
        "properties": top,
        "additionalProperties": False,
    }
