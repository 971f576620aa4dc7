"""JSON Schema of the plan format, for editors that autocomplete and flag YAML as it is typed.

Generated from the loader's own key tables, so it cannot drift from what the
loader accepts. ``ivr dialplan validate`` stays the authority (it also checks
targets, prompt files and reachability, which a schema cannot).
"""

from __future__ import annotations

from typing import Any

from ivr.dialplan.loader import MATCH_KEYS, PLAN_KEYS
from ivr.dialplan.node_loader import NODE_KEYS, PROMPT_KEYS

_PROMPT_PROPERTIES: dict[str, Any] = {
    "say": {"type": "string", "description": "text spoken by espeak-ng"},
    "play": {"type": "string", "description": "audio file, relative to the plan"},
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
    "min_digits": {"type": "integer", "minimum": 1, "maximum": 64},
    "max_digits": {"type": "integer", "minimum": 1, "maximum": 64},
    "terminator": {"enum": ["#", "*"]},
    "pattern": {"type": "string", "format": "regex"},
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
        "record": {"type": "boolean"},
        "start": _NODE_NAME,
        "match": match,
        "nodes": {"type": "object", "additionalProperties": {"oneOf": node_schemas}},
    }
    assert set(top) == PLAN_KEYS
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Hotline IVR dial plan",
        "type": "object",
        "required": ["plan", "start", "nodes"],
        "properties": top,
        "additionalProperties": False,
    }
