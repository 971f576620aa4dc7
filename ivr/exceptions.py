"""Errors raised by the ivr package.

IvrError
├── ConfigError        a setting is missing or malformed (names key, value, source)
├── DialplanError      a plan failed to load; carries every problem found
├── PlanLoopError      a running plan kept moving without end (a cycle with no input)
├── CallerHungUp       the caller hung up while a node was running; carries the reason
├── CallbackUnavailable  a callback cannot be booked now (not configured, Redis unreachable)
├── KamailioError      Kamailio is missing, or refused the config it was given
├── PromptError        a prompt file cannot be read or converted, or TTS failed
├── SpeechError        a speech model is missing, broken or cannot be installed
├── TelephonyError     the SIP stack refused an operation or is not running
│   ├── CallGone       the call ended before the operation reached it
│   └── DialRefused    the dialling policy does not allow that target
└── TicketStoreError   the ticket database refused a read or write
    └── TicketStoreUnreachable  it did not answer at all (down, restarting, network)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ivr.dialplan.problems import Problem


class IvrError(Exception):
    """Root of every error this package raises on purpose."""


class ConfigError(IvrError):
    """A configuration value is missing or malformed."""


class DialplanError(IvrError):
    """A dial plan did not load; ``problems`` lists every error found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class PlanLoopError(IvrError):
    """A running plan made more steps than any call needs; it was stopped."""


class CallerHungUp(IvrError):
    """The caller hung up while a node was running; ``reason`` is the call's end reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class CallbackUnavailable(IvrError):
    """A booking cannot be made now (callbacks not configured, Redis unreachable)."""


class KamailioError(IvrError):
    """Kamailio is missing, or refused the config it was given."""


class PromptError(IvrError):
    """A prompt could not be produced (missing file, bad audio, TTS failure)."""


class SpeechError(IvrError):
    """A speech model is missing, broken or cannot be installed (the message says which)."""


class TelephonyError(IvrError):
    """The SIP stack refused an operation."""

    call_id = ""  # of the call it concerns, when the stack had given it one


class CallGone(TelephonyError):
    """The call ended before the operation reached it."""


class NoAck(CallGone):
    """The call was answered but the caller's side never confirmed it (no ACK within
    SIP's 64 x T1): a lost or broken caller, not one who hung up."""


class DialRefused(TelephonyError):
    """The dialling policy does not allow the target (the reason says why)."""


class TicketStoreError(IvrError):
    """The ticket database refused a read or a write."""


class TicketStoreUnreachable(TicketStoreError):
    """The ticket database did not answer: down, restarting or out of reach (a wrong
    name, role or password is a plain :class:`TicketStoreError`)."""
