"""One call over baresip-python, behind the :class:`~ivr.telephony.interface.Call` interface.

Audio moves in :meth:`BaresipCall.pump`, which the engine calls for every live
call on one shared media clock: it tops the transmit buffer up from the
current playback (or from the mix of other legs, :meth:`BaresipCall.mix`) and
drains the receive buffer into the audio sinks, the bridged leg and the legs
mixing it in.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence

import baresip
from baresip import Event, StackEvent

from ivr.exceptions import CallGone, NoAck, TelephonyError
from ivr.media.audio_format import BYTES_PER_SECOND
from ivr.media.mixing import Mixer
from ivr.telephony.headroom import stale_invite
from ivr.telephony.interface import (
    MEDIA_TIMEOUT,
    AudioSink,
    CallEnded,
    CallEvent,
    CallInfo,
    DigitPressed,
)

log = logging.getLogger(__name__)

# How far ahead of the wire we keep the transmit buffer filled: enough to ride
# out a late media tick, small enough that the recording stays in step.
WRITE_AHEAD_BYTES = BYTES_PER_SECOND * 200 // 1000
ONE_FRAME_BYTES = BYTES_PER_SECOND * 20 // 1000
# A leg sending a mix keeps this much of it queued for the wire: more than one media
# tick (40 ms), so a late tick leaves no gap; little, as the mix has its own buffer.
MIX_TX_BYTES = BYTES_PER_SECOND * 100 // 1000
# After our 200 OK, how long the caller's ACK may take: RFC 3261's 64*T1, the time
# a UAS retransmits its 2xx for. Under load a 200 or ACK lost on UDP arrives on a
# retransmission seconds later; giving up sooner ended calls the caller had up.
ESTABLISH_TIMEOUT_SECONDS = 32.0
# When the far end stops sending RTP (on hold, or a peer that only sends while
# it talks) the sinks still get wall-clock time, as silence, past this lag.
RX_GAP_TOLERANCE_BYTES = BYTES_PER_SECOND * 200 // 1000

# The stack reports a remote BYE as a connection reset and its RTP timeout as a
# stream error; say what happened.
_REMOTE_BYE = "Connection reset by peer [104]"
_CLOSE_REASONS = {
    _REMOTE_BYE: "remote hung up",
    "rtp stream error": MEDIA_TIMEOUT,
}


class _Playback:
    def __init__(self, pcm: bytes, done: asyncio.Future[bool]) -> None:
        self.pcm = pcm
        self.offset = 0
        self.done = done


class BaresipCall:
    def __init__(self, call: baresip.Call, info: CallInfo, *, outbound: bool = False) -> None:
        self._call = call
        self._info = info
        self._outbound = outbound
        self._events: asyncio.Queue[CallEvent] = asyncio.Queue()
        self._sinks: list[AudioSink] = []
        self._playback: _Playback | None = None
        self._media_up = False
        self._ended: CallEnded | None = None
        self._hangup_requested = False
        self._closed = asyncio.get_running_loop().create_future()
        self._rx_started: float | None = None
        self._rx_bytes = 0
        self._bridged: BaresipCall | None = None
        self._mixer: Mixer | None = None
        self._mix_sources: tuple[BaresipCall, ...] = ()
        self._listeners: list[BaresipCall] = []  # legs mixing in what this one receives
        call.on(self._on_stack_event)
        call.on_dtmf(self._on_digit)

    @property
    def info(self) -> CallInfo:
        return self._info

    @property
    def ended(self) -> bool:
        return self._ended is not None

    @property
    def end_reason(self) -> str | None:
        return self._ended.reason if self._ended else None

    @property
    def closed(self) -> asyncio.Future[None]:
        return self._closed

    def _on_stack_event(self, event: StackEvent) -> None:
        if event.event is Event.CALL_ESTABLISHED:
            self._media_up = True
        elif event.event is Event.CALL_CLOSED and self._ended is None:
            reason = _CLOSE_REASONS.get(event.text or "", event.text or "closed")
            by_caller = not self._hangup_requested and reason != MEDIA_TIMEOUT
            self._ended = CallEnded(reason=reason, by_caller=by_caller)
            self._finish_playback(False)
            self._events.put_nowait(self._ended)
            if not self._closed.done():
                self._closed.set_result(None)

    def _on_digit(self, digit: baresip.DigitEvent) -> None:
        if self._ended is None:
            self._events.put_nowait(DigitPressed(digit.digit))

    async def answer(self) -> None:
        if self._media_up:
            return  # answered already (an agent menu before the plan)
        # Taken up in time, it may have waited since (a slow ticket store or Redis): a
        # 200 after the edge gave up on the INVITE would reach a caller told 503.
        stale = stale_invite(dict(self._call.headers))
        if stale is not None:
            with contextlib.suppress(baresip.BaresipError):
                await self._call.reject()
            raise CallGone(f"refused before the answer: {stale}")
        try:
            # video=True keeps the stack from re-INVITEing after the ACK; the
            # account has no video codec, so no video is ever accepted (NO_VIDEO).
            await self._call.answer(video=True)
            await self._call.wait_established(timeout=ESTABLISH_TIMEOUT_SECONDS)
        except baresip.BaresipError as exc:
            if self._media_up or _REMOTE_BYE in str(exc):
                # Established, then ended before this loop looked (a late worker, a
                # short call), or the caller's BYE overtook its ACK (only an answered
                # call gets a BYE): answered all the same; the plan sees the end at once.
                return
            # Answered, then nothing: the stack gives up retransmitting its 200 after
            # 64 x T1 ("Connection timed out"), or our own wait runs out first.
            if isinstance(exc, baresip.CallTimeout) or "timed out" in str(exc):
                raise NoAck(
                    f"answered, but no ACK came within {ESTABLISH_TIMEOUT_SECONDS:g} s"
                ) from exc
            raise CallGone(f"call ended before it was answered: {exc}") from exc
        self._media_up = True

    async def play(self, pcm: bytes) -> bool:
        if self._ended is not None:
            return False
        self.stop_playback()
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._playback = _Playback(pcm, done)
        return await done

    def stop_playback(self) -> None:
        if self._playback is None:
            return
        self._finish_playback(False)
        try:
            unplayed = self._call.audio.info().tx_buffered
            self._call.audio.flush_tx()
        except baresip.BaresipError:
            return
        for sink in self._sinks:
            sink.on_playback_flushed(unplayed)

    def _finish_playback(self, completed: bool) -> None:
        playback, self._playback = self._playback, None
        if playback is not None and not playback.done.done():
            playback.done.set_result(completed)

    def add_audio_sink(self, sink: AudioSink) -> None:
        self._sinks.append(sink)

    def remove_audio_sink(self, sink: AudioSink) -> None:
        if sink in self._sinks:
            self._sinks.remove(sink)

    def bridge(self, other: object | None) -> None:
        if other is not None and not isinstance(other, BaresipCall):
            raise TelephonyError("only calls of the same SIP stack can be bridged")
        self._bridged = other
        if other is not None:
            self.stop_playback()

    def mix(self, sources: Sequence[object]) -> None:
        legs: list[BaresipCall] = []
        for source in sources:
            if not isinstance(source, BaresipCall) or source is self:
                raise TelephonyError("only other calls of the same SIP stack can be mixed")
            legs.append(source)
        for old in self._mix_sources:
            if self in old._listeners:
                old._listeners.remove(self)
            if self._mixer is not None and old not in legs:
                self._mixer.remove(old)
        self._mix_sources = tuple(legs)
        for leg in legs:
            leg._listeners.append(self)
        if not legs:
            self._mixer = None  # the bridged leg's audio goes straight through again
        elif self._mixer is None:
            self._mixer = Mixer()

    async def next_event(self, timeout: float | None = None) -> CallEvent | None:
        if not self._events.empty():
            return self._events.get_nowait()
        if self._ended is not None:
            return self._ended
        try:
            return await asyncio.wait_for(self._events.get(), timeout)
        except TimeoutError:
            return None

    async def hangup(self) -> None:
        if self._ended is not None:
            return
        self._hangup_requested = True
        try:
            await self._call.hangup()
        except baresip.BaresipError as exc:
            log.debug("hangup of an ending call: %s", exc)

    async def transfer(self, uri: str) -> None:
        try:
            await self._call.transfer(uri)
        except baresip.BaresipError as exc:
            raise TelephonyError(f"transfer to {uri} failed: {exc}") from exc

    async def send_digits(self, digits: str) -> None:
        try:
            await self._call.send_dtmf(digits)
        except baresip.BaresipError as exc:
            raise TelephonyError(f"sending DTMF failed: {exc}") from exc

    def pump(self) -> None:
        """Move one media tick's audio both ways. Never raises."""
        if not self._media_up or self._ended is not None:
            return
        audio = self._call.audio
        try:
            if self._playback is not None:
                self._feed(audio)
            elif self._mixer is not None:
                self._feed_mix(audio, self._mixer)
            received = audio.read(BYTES_PER_SECOND)
        except (baresip.AudioNotActive, baresip.AudioRestarted):
            return
        self._deliver_caller_audio(received)
        if not received:
            return
        if self._bridged is not None:
            self._bridged._send_from_peer(received, self)
        for listener in self._listeners:
            if listener is not self._bridged and listener._mixer is not None:
                listener._mixer.push(self, received)

    def _send_from_peer(self, pcm: bytes, peer: BaresipCall) -> None:
        """Bridged audio from the other leg, sent to this leg's far end (into its mix
        when it has one); the sinks (the recording) hear it as what the service played."""
        if self._mixer is not None:
            self._mixer.push(peer, pcm)
            return
        if not self._media_up or self._ended is not None or self._playback is not None:
            return
        audio = self._call.audio
        try:
            # Drop rather than queue when the far end's clock runs slow, so the
            # conversation's delay stays bounded.
            if audio.info().tx_buffered > WRITE_AHEAD_BYTES:
                return
            written = audio.write(pcm[: len(pcm) - len(pcm) % 2])
        except (baresip.AudioNotActive, baresip.AudioRestarted, baresip.BaresipError):
            return
        written -= written % 2
        for sink in self._sinks:
            sink.on_played_audio(pcm[:written])

    def _feed_mix(self, audio: baresip.CallAudio, mixer: Mixer) -> None:
        room = MIX_TX_BYTES - audio.info().tx_buffered
        room -= room % ONE_FRAME_BYTES
        if room < ONE_FRAME_BYTES:
            return
        pcm = mixer.pull(room)
        if not pcm:
            return  # no source has filled its jitter buffer yet
        written = audio.write(pcm)
        written -= written % 2
        if written:
            for sink in self._sinks:
                sink.on_played_audio(pcm[:written])

    def _deliver_caller_audio(self, received: bytes) -> None:
        now = time.monotonic()
        if self._rx_started is None:
            self._rx_started = now
        self._rx_bytes += len(received)
        if received:
            for sink in self._sinks:
                sink.on_caller_audio(received)
        missing = int((now - self._rx_started) * BYTES_PER_SECOND) - self._rx_bytes
        if missing > RX_GAP_TOLERANCE_BYTES:
            missing -= missing % 2
            self._rx_bytes += missing
            silence = bytes(missing)
            for sink in self._sinks:
                sink.on_caller_audio(silence)

    def _feed(self, audio: baresip.CallAudio) -> None:
        playback = self._playback
        assert playback is not None
        buffered = audio.info().tx_buffered
        remaining = len(playback.pcm) - playback.offset
        if remaining <= 0:
            if buffered < ONE_FRAME_BYTES:
                self._finish_playback(True)
            return
        room = WRITE_AHEAD_BYTES - buffered
        if room < ONE_FRAME_BYTES:
            return
        chunk = playback.pcm[playback.offset : playback.offset + min(room, remaining)]
        # Whole samples only: a split sample would shift every later byte.
        chunk = chunk[: len(chunk) - len(chunk) % 2]
        written = audio.write(chunk)
        written -= written % 2
        playback.offset += written
        if written:
            for sink in self._sinks:
                sink.on_played_audio(chunk[:written])
