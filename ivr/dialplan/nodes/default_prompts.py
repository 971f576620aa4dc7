"""The English a node says when its plan gives no prompt of its own.

Content, not code: a module of constants rather than a package data file,
because a data file would need a ``package-data`` entry in pyproject.toml to
reach an installed wheel. ``{name}`` fields are filled at call time, except
``{accept_key}``, which the node fills in when it is built.
"""

from __future__ import annotations

CALLBACK_PROMPTS = {
    "say": "All our agents are busy. Press {accept_key} and we will call you back, keeping your "
    "place "
    "in line. Press 2 to keep waiting.",
    "confirm": "We will call you back on {callback_number:digits}. Press {accept_key} to confirm, "
    "or 2 to give another number.",
    "ask_number": "Please key in the number to call back, then the hash key.",
    "choose_slot": "Press 1 to be called as soon as possible{slot_choices}.",
    "booked": "Thank you. We will call you back. You can hang up now.",
}
QUEUE_ANNOUNCEMENT = "You are number {position} in line. The wait is about {wait_minutes} minutes."
