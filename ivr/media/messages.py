"""Leaving a message: after a tone, the caller's audio goes to a mono WAV until
the end key, a stretch of silence, the maximum length, or the caller hangs up."""

from __future__ import annotations

import math
import time
from array import array
from dataclasses import dataclass
from pathlib import Path

from ivr.dialplan.ports import MessageLimits
from ivr.media.audio_format import SAMPLE_RATE
from ivr.media.wav import WavFile
from ivr.telephony.interface import Call, CallEnded, DigitPressed

SPEECH_RMS = 500  # a chunk louder than this counts as the caller speaking
POLL_SECONDS = 0.25


def tone(frequency: float = 1000.0, seconds: float = 0.3) -> bytes:
    samples = array(
        "h",
        (
            int(8000 * math.sin(2 * math.pi * frequency * i / SAMPLE_RATE))
            for i in range(int(SAMPLE_RATE * seconds))
        ),
    )
    return samples.tobytes()


BEEP = tone()


@dataclass(frozen=True)
class MessageResult:
    path: Path | None  # None when the caller said nothing
    seconds: float
    ended_by: str  # key | silence | max_length | hangup


class _MessageSink:
    """An AudioSink writing the caller's side to a mono WAV and noting when they spoke."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._wav = WavFile(path, channels=1)
        self.frames = 0
        self.heard_speech = False
        self.last_sound = time.monotonic()

    def on_caller_audio(self, pcm: bytes) -> None:
        samples = array("h", pcm[: len(pcm) - len(pcm) % 2])
        if not samples:
            return
        self._wav.append(samples.tobytes())
        self.frames += len(samples)
        if math.sqrt(sum(s * s for s in samples) / len(samples)) >= SPEECH_RMS:
            self.heard_speech = True
            self.last_sound = time.monotonic()

    def on_played_audio(self, pcm: bytes) -> None:
        return None

    def on_playback_flushed(self, unplayed_bytes: int) -> None:
        return None

    def close(self) -> None:
        self._wav.close()


class CallMessageTaker:
    """Takes messages on one call, into ``folder`` as ``<ticket>-message-<n>.wav``."""

    def __init__(self, call: Call, folder: Path, ticket_id: int | None) -> None:
        self._call = call
        self._folder = folder
        self._ticket_id = ticket_id
        self._taken = 0

    async def take(self, node: MessageLimits) -> MessageResult:
        self._taken += 1
        path = self._folder / f"{self._ticket_id or 'call'}-message-{self._taken}.wav"
        await self._call.play(BEEP)
        sink = _MessageSink(path)
        self._call.add_audio_sink(sink)
        started = time.monotonic()
        try:
            ended_by = await self._until_done(node, sink, started)
        finally:
            self._call.remove_audio_sink(sink)
            sink.close()
        if not sink.heard_speech:
            path.unlink(missing_ok=True)
            return MessageResult(None, 0.0, ended_by)
        return MessageResult(path, round(sink.frames / SAMPLE_RATE, 1), ended_by)

    async def _until_done(self, node: MessageLimits, sink: _MessageSink, started: float) -> str:
        while True:
            now = time.monotonic()
            if now - started >= node.max_seconds:
                return "max_length"
            if now - sink.last_sound >= node.silence_seconds:
                return "silence"
            event = await self._call.next_event(POLL_SECONDS)
            if isinstance(event, CallEnded):
                return "hangup"
            if isinstance(event, DigitPressed) and event.digit == node.end_key:
                return "key"
