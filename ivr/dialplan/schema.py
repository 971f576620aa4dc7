"""JSON Schema of the plan format, for editors that autocomplete and flag YAML as it is typed.

Generated from the loader's own key tables, so it cannot drift from what the
loader accepts. ``ivr dialplan validate`` stays the authority (it also checks
targets, prompt files and reachability, which a schema cannot).
"""

from __future__ import annotations

from typing import Any

from ivr.dialplan.loader import MATCH_KEYS, PLAN_KEYS
from ivr.dialplan.node_loader import NODE_KEYS
from ivr.dialplan.prompt_loader import PROMPT_KEYS
from ivr.dialplan.speech_loader import INTENT_KEYS, SPEECH_KEYS


def _per_language(schema: dict[str, Any]) -> dict[str, Any]:
    by_language = {
        "type": "object",
        "additionalProperties": schema,
        "description": "one per language of the plan's 'languages'",
    }
    return {"anyOf": [schema, by_language]}


_PROMPT_PROPERTIES: dict[str, Any] = {
    "say": _per_language({"type": "string", "description": "text spoken by espeak-ng"}),
    "play": _per_language({"type": "string", "description": "audio file, relative to the plan"}),
    "voice": {"type": "string", "description": "espeak-ng voice, e.g. en, cmn, ko"},
}
_PROMPT = {"type": "object", "properties": _PROMPT_PROPERTIES, "additionalProperties": False}
_PROMPTS = {
    "anyOf": [
        {"type": "string"},
        _PROMPT,
        {"type": "array", "items": {"anyOf": [{"type": "string"}, _PROMPT]}},
    ]
}
_NODE_NAME = {"type": "string", "description": "name of a node in this plan"}
_SECONDS = {"type": "number", "minimum": 0.5}

FIELDS: dict[str, Any] = {
    **_PROMPT_PROPERTIES,
    "next": _NODE_NAME,
    "fallback": _NODE_NAME,
    "keys": {
        "type": "object",
        "propertyNames": {"pattern": "^[0-9*#]$"},
        "additionalProperties": _NODE_NAME,
        "description": "DTMF key (quoted) -> node",
    },
    "timeout": {**_SECONDS, "maximum": 120},
    "inter_digit_timeout": {**_SECONDS, "maximum": 30},
    "tries": {"type": "integer", "minimum": 1, "maximum": 20},
    "no_input": _PROMPTS,
    "no_match": _PROMPTS,
    "variable": {"type": "string"},
    "identify": {"type": "boolean", "description": "the digits are an employee ID"},
    "plan": {"type": "string", "description": "name of another plan"},
    "node": {"type": "string", "description": "node in that plan (default: its start)"},
    "min_digits": {"type": "integer", "minimum": 1, "maximum": 64},
    "max_digits": {"type": "integer", "minimum": 1, "maximum": 64},
    "terminator": {"enum": ["#", "*"]},
    "pattern": {"type": "string", "format": "regex"},
    "values": {
        "type": "object",
        "additionalProperties": {"type": ["string", "number", "boolean"]},
        "description": "variable -> value",
    },
    "when": {
        "type": "array",
        "description": "rules, first that holds wins",
        "items": {
            "type": "object",
            "required": ["goto"],
            "properties": {
                "goto": _NODE_NAME,
                "hours": {"type": "string", "description": "name of an hours calendar"},
                "caller": {"type": "string", "format": "regex"},
                "variable": {"type": "string"},
                "identify": {"type": "boolean", "description": "the digits are an employee ID"},
                "plan": {"type": "string", "description": "name of another plan"},
                "node": {"type": "string", "description": "node in that plan (default: its start)"},
                "equals": {"type": ["string", "number"]},
                "matches": {"type": "string", "format": "regex"},
                "queue": {"type": "string", "description": "queue whose estimated wait is tested"},
                "wait_above": {"type": "number", "minimum": 0, "description": "seconds"},
            },
            "additionalProperties": False,
        },
    },
    "otherwise": _NODE_NAME,
    "on_failure": _NODE_NAME,
    "max_seconds": {"type": "number", "minimum": 5, "maximum": 600},
    "silence_seconds": {"type": "number", "minimum": 1, "maximum": 30},
    "end_key": {"type": "string", "pattern": "^[0-9*#]$"},
    "url": {"type": "string", "description": "http(s) URL; {variable} fields are filled"},
    "method": {
        "enum": ["GET", "POST", "get", "post", "bridge", "refer"],
        "description": "http: GET or POST; transfer to an extension: bridge or refer",
    },
    "queue": {"type": "string", "description": "queue name from ivr.yaml"},
    "extension": {"type": "string", "pattern": "^[0-9*#+]{1,32}$"},
    "intents": {
        "type": "object",
        "additionalProperties": _NODE_NAME,
        "description": "spoken intent (defined in the plan's intents) -> node",
    },
    "barge_in": {"type": "boolean", "description": "speech stops the prompt"},
    "confidence": {"type": "number", "minimum": 0, "maximum": 1},
    "announce": _PROMPTS,
    "accept_key": {"type": "string", "pattern": "^[0-9*#]$"},
    "confirm": _PROMPTS,
    "ask_number": _PROMPTS,
    "choose_slot": _PROMPTS,
    "booked": _PROMPTS,
    "decline": _NODE_NAME,
    "whisper": _PROMPTS,
    "results": {
        "type": "object",
        "additionalProperties": {"type": "string"},
        "description": "variable -> dotted path in the JSON answer",
    },
}
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
    },
    "additionalProperties": False,
}


def plan_schema() -> dict[str, Any]:
    node_schemas = []
    for node_type, keys in NODE_KEYS.items():
        properties = {"type": {"const": node_type}}
        properties.update({key: FIELDS[key] for key in sorted(keys | PROMPT_KEYS)})
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
        "voice": FIELDS["voice"],
        "languages": {
            "type": "object",
            "additionalProperties": {"type": "string"},
            "description": "language -> espeak-ng voice; the first is the default",
        },
        "record": {"type": "boolean"},
        "start": _NODE_NAME,
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
