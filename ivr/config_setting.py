"""What one row of the settings table (``ivr.config_table``) is: a setting with its
key, variable, parser, default and documentation, or a variable read elsewhere.

A leaf module: it imports nothing of the project.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Setting(Generic[T]):
    """One setting. ``default`` is what applies when neither the file nor the
    environment sets it; ``shown_default`` replaces it in the reference where the
    value alone would mislead (a default computed at start)."""

    key: str  # dotted, as in ivr.yaml
    env: str | None  # the environment variable that overrides the file, if any
    parse: Callable[[Any], T]  # raises ValueError saying what was expected
    default: T
    doc: str = ""
    shown_default: str | None = None


@dataclass(frozen=True)
class Variable:
    """An environment variable read outside the table (the config file, API tokens)."""

    env: str
    what: str
    shown_default: str
