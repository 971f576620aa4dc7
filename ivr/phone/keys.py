"""Keys to press: the ``--keys`` script and lines typed during a call.

A script is a sequence of steps: ``0``-``9``, ``*``, ``#`` and ``A``-``D`` press
that key; ``w`` waits one second; commas and spaces only separate
(``"w,w,1"`` == ``"ww1"``).
"""

from __future__ import annotations

from dataclasses import dataclass

DTMF_KEYS = frozenset("0123456789*#ABCD")
WAIT_STEP = "w"
WAIT_SECONDS = 1.0
SEPARATORS = frozenset(", \t\r\n")
DTMF_MODES = {"rfc4733": "rtpevent", "info": "info"}  # --dtmf -> the SIP stack's name


@dataclass(frozen=True)
class Press:
    key: str


@dataclass(frozen=True)
class Wait:
    seconds: float


Step = Press | Wait


def parse_keys(text: str) -> list[Step]:
    """The steps of ``text``.

    Raises:
        ValueError: naming the first character that is neither a key, ``w`` nor a separator.
    """
    steps: list[Step] = []
    for position, char in enumerate(text, start=1):
        if char in SEPARATORS:
            continue
        if char.lower() == WAIT_STEP:
            steps.append(Wait(WAIT_SECONDS))
        elif char.upper() in DTMF_KEYS:
            steps.append(Press(char.upper()))
        else:
            raise ValueError(
                f"{char!r} (character {position} of {text!r}) is not a key: "
                "use 0-9 * # A-D, w to wait 1 s, commas to separate"
            )
    return steps
