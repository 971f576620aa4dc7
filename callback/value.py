"""Most valuable first: the rule that moves a callback earlier in its queue's line.

A callback's standing in line (its score in the line's sorted set) is its place
(when its caller joined the line, else when they booked) less seconds given by
this rule, less the seconds an operator gave it (``priority_seconds``):

- ``vip_seconds``: the caller is a VIP of the employee directory
- ``intent_seconds``: per intent of the call that booked it
- ``per_failed_attempt_seconds``: for each attempt that did not reach the customer

How long a booking has waited is its place itself: every second waited counts one
second, the same for live callers and callbacks in the one line, so the rule's
figures read as "worth this many seconds of waiting". The VIP and intent parts are
fixed when the callback is booked; the failed attempts' part is added when an
attempt fails (in the same Lua script that records it), so the sorted set stays the
one order every dispatcher takes from. Zero everywhere (the default) is the plain
order of arrival.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class BookedValue:
    """The rule's seconds for one booking (all 0 or more); kept on the booking."""

    vip_seconds: float = 0.0
    intent_seconds: float = 0.0
    per_failed_attempt_seconds: float = 0.0


@dataclass(frozen=True)
class ValueRule:
    """Seconds a callback stands earlier in line, by who calls, why, and failed attempts."""

    vip_seconds: float = 0.0
    intent_seconds: Mapping[str, float] = field(default_factory=dict)
    per_failed_attempt_seconds: float = 0.0

    def for_booking(self, vip: bool, intent: str) -> BookedValue:
        """What the rule gives a booking by a VIP (or not) with ``intent`` ('' for none)."""
        return BookedValue(
            vip_seconds=self.vip_seconds if vip else 0.0,
            intent_seconds=self.intent_seconds.get(intent, 0.0) if intent else 0.0,
            per_failed_attempt_seconds=self.per_failed_attempt_seconds,
        )


def value_parts(
    value: BookedValue, intent: str, failed_attempts: int, last_outcome: str = ""
) -> list[str]:
    """The rule's parts that moved a booking, in words: ``["VIP +600 s",
    "password_reset +120 s", "1 failed attempt +60 s (last: no_answer)"]``. Failed
    attempts are named even when the rule gives them nothing (they explain a wait)."""
    parts = []
    if value.vip_seconds:
        parts.append(f"VIP +{value.vip_seconds:g} s")
    if value.intent_seconds:
        parts.append(f"{intent or 'intent'} +{value.intent_seconds:g} s")
    if failed_attempts:
        noun = "attempt" if failed_attempts == 1 else "attempts"
        text = f"{failed_attempts} failed {noun}"
        bonus = failed_attempts * value.per_failed_attempt_seconds
        if bonus:
            text += f" +{bonus:g} s"
        if last_outcome:
            text += f" (last: {last_outcome})"
        parts.append(text)
    return parts


def waited_text(seconds: float) -> str:
    """``waited 14 min`` (whole minutes; under a minute: seconds; past 2 h: hours and
    minutes)."""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"waited {int(seconds)} s"
    minutes = int(seconds // 60)
    if minutes < 120:
        return f"waited {minutes} min"
    return f"waited {minutes // 60} h {minutes % 60} min"
