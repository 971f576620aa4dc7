"""Prompt text with values: ``"Ticket {ticket:digits} is {status}"``.

Formats: none (as written), ``digits`` (read one by one), ``number`` (read as a
number, in the voice's language by espeak-ng), ``date`` (an ISO date, spoken
in the plan's language).
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from datetime import date

FORMATS = ("", "digits", "number", "date")
_MONTHS_EN = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def template_fields(text: str) -> list[tuple[str, str]]:
    """(variable, format) of each field in ``text``.

    Raises:
        ValueError: unbalanced braces, an empty field or an unknown format.
    """
    fields = []
    for _, name, spec, conversion in string.Formatter().parse(text):
        if name is None:
            continue
        if not name or conversion or not name.isidentifier():
            raise ValueError(f"field {{{name}}} must be a variable name, e.g. {{ticket}}")
        if spec not in FORMATS:
            raise ValueError(
                f"unknown format {spec!r} for {{{name}}} "
                f"(known: {', '.join(f for f in FORMATS if f)})"
            )
        fields.append((name, spec))
    return fields


def speak_value(value: str, fmt: str, voice: str) -> str:
    if fmt == "digits":
        return " ".join(value)
    if fmt == "date":
        try:
            day = date.fromisoformat(value[:10])
        except ValueError:
            return value
        if voice.startswith(("cmn", "zh", "yue")):
            return f"{day.year}年{day.month}月{day.day}日"
        if voice.startswith("en"):
            return f"{_MONTHS_EN[day.month - 1]} {day.day}, {day.year}"
        return day.isoformat()
    return value


def render(text: str, variables: Mapping[str, str], voice: str) -> str:
    """``text`` with its fields filled; a variable that is not set speaks as nothing."""
    parts = []
    for literal, name, spec, _ in string.Formatter().parse(text):
        parts.append(literal)
        if name:
            parts.append(speak_value(str(variables.get(name, "")), spec or "", voice))
    return "".join(parts)
