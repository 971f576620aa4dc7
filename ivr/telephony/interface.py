"""The call interface the rest of the service uses; no SIP-stack type crosses it.

Audio crosses it in the format of :mod:`ivr.media.audio_format`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from ivr.telephony.headroom import HeadroomView


@dataclass(frozen=True)
class CallInfo:
    """Who called whom, as read from the INVITE."""

    call_id: str
    caller_uri: str
    caller_number: str
    called_number: str
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class DigitPressed:
    digit: str


@dataclass(frozen=True)
class CallEnded:
    """The call is over; ``by_caller`` is False when we or the stack ended it."""

    reason: str
    by_caller: bool


# The end reason of a call whose far end stopped sending media for
# sip.rtp_timeout_seconds without a BYE: a lost line (a crashed phone, a network
# cut, a peer that gave up on the call), not a caller who hung up.
MEDIA_TIMEOUT = "media timeout"

CallEvent = DigitPressed | CallEnded


class AudioSink(Protocol):
    """Receives a call's audio as it flows (recording, later speech recognition)."""

    def on_caller_audio(self, pcm: bytes) -> None: ...

    def on_played_audio(self, pcm: bytes) -> None: ...

    def on_playback_flushed(self, unplayed_bytes: int) -> None: ...


class Call(Protocol):
    """One live call leg."""

    @property
    def info(self) -> CallInfo: ...

    @property
    def ended(self) -> bool: ...

    @property
    def end_reason(self) -> str | None:
        """Why the call ended (the stack's words); None while it is up."""

    async def answer(self) -> None:
        """Answer and wait until media is up. Raises CallGone if the caller left."""

    async def play(self, pcm: bytes) -> bool:
        """Play ``pcm`` to the far end; True when it all played, False when
        stopped by :meth:`stop_playback` or the end of the call."""

    def stop_playback(self) -> None:
        """Stop the current playback within one frame (barge-in)."""

    def add_audio_sink(self, sink: AudioSink) -> None: ...

    def remove_audio_sink(self, sink: AudioSink) -> None: ...

    def bridge(self, other: Call | None) -> None:
        """Send the audio this call receives to ``other``'s far end (one direction;
        bridge both legs for a conversation); None ends it. Stops any playback."""

    def mix(self, sources: Sequence[Call]) -> None:
        """Send this leg's far end the sum of the audio ``sources`` receive, together with
        what a leg bridged to this one sends (clipped to 16 bits, a few tens of
        milliseconds of jitter buffer each); replaces the previous sources, an empty
        sequence ends the mix. A playback goes first while it plays."""

    async def next_event(self, timeout: float | None = None) -> CallEvent | None:
        """The next key press or the end of the call; None after ``timeout`` seconds."""

    async def hangup(self) -> None:
        """End the call; a no-op when it has ended already."""

    async def transfer(self, uri: str) -> None:
        """Blind transfer (REFER) to ``uri``. Raises TelephonyError on refusal."""

    async def send_digits(self, digits: str) -> None: ...


IncomingCallHandler = Callable[[Call], Awaitable[None]]


@dataclass(frozen=True)
class RegistrationStatus:
    account: str
    registered: bool
    detail: str


class Telephony(Protocol):
    """A SIP endpoint that hands each inbound call to a handler."""

    async def start(self, on_incoming: IncomingCallHandler) -> None: ...

    async def dial(self, uri: str, timeout: float = 30.0) -> Call:
        """Call ``uri`` and wait until it is answered. Raises TelephonyError."""

    async def stop_accepting(self) -> None:
        """Refuse new inbound calls from now on; live calls carry on."""

    async def close(self) -> None: ...

    def registrations(self) -> list[RegistrationStatus]: ...

    def headroom(self) -> HeadroomView:
        """Calls carried, event-loop lag, and whether new calls are refused (full)."""

    @property
    def live_calls(self) -> int: ...
