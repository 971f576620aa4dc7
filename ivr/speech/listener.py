"""Listening to the caller: an audio sink that finds an utterance and streams it to
the recognizer as it arrives.

The media clock hands the sink caller audio every 40 ms on the event loop;
the sink only runs the voice activity detector and queues audio to the
decoding pool, so it never holds up the call loop. The utterance is what
lies between the detector's onset (plus a little audio before it, so the
first syllable is not clipped) and its end: trailing silence or the maximum
length. The quiet audio heard before the onset goes to the decoder as the
line's noise, for noise suppression (:mod:`ivr.speech.denoise`).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import replace

from ivr.exceptions import SpeechError
from ivr.speech.decode_stream import DecodeStream, Transcript
from ivr.speech.recognizer import SpeechEngine
from ivr.speech.spec import HeardText, ListenRequest
from ivr.speech.vad import (
    FRAME_BYTES,
    FRAME_SECONDS,
    ONSET_FRAMES,
    VoiceActivityDetector,
    VoiceEvent,
)
from ivr.telephony.interface import Call

PRE_ROLL_FRAMES = 15  # 300 ms of audio kept from before the onset
NOISE_FRAMES = 50  # up to 1 s of quiet audio before the onset: the line's noise
# Frames this close before the onset may hold the soft start of the speech itself.
NOISE_GAP_FRAMES = ONSET_FRAMES + 8


class UtteranceListener:
    """An :class:`~ivr.telephony.interface.AudioSink` for one turn: the first
    utterance after it is attached. Create it on the event loop's thread."""

    def __init__(self, engine: SpeechEngine, request: ListenRequest) -> None:
        self._request = request
        self._stream: DecodeStream = engine.stream(
            request.model, request.grammar, filler=request.filler, words=request.words
        )
        self._vad = VoiceActivityDetector(request.end_silence_seconds)
        self._max_frames = max(1, round(request.max_utterance_seconds / FRAME_SECONDS))
        self._pending = b""
        self._pre_roll: deque[bytes] = deque(maxlen=PRE_ROLL_FRAMES)
        # (frame, was speech) for every frame before the onset, newest last
        self._before: deque[tuple[bytes, bool]] = deque(maxlen=NOISE_FRAMES + NOISE_GAP_FRAMES)
        self._since_onset = 0  # frames after the onset: the utterance's own clock
        self._done = False
        self._started_at = 0.0
        self._ended_at = 0.0
        self._ended_by = "silence"
        self.speech_started = asyncio.Event()
        self._ended = asyncio.Event()

    def on_caller_audio(self, pcm: bytes) -> None:
        if self._done:
            return
        data = self._pending + pcm
        whole = len(data) - len(data) % FRAME_BYTES
        self._pending = data[whole:]
        for offset in range(0, whole, FRAME_BYTES):
            self._frame(data[offset : offset + FRAME_BYTES])
            if self._done:
                return

    def _frame(self, frame: bytes) -> None:
        event = self._vad.frame(frame)
        if not self.speech_started.is_set():
            self._pre_roll.append(frame)
            self._before.append((frame, self._vad.state.last_was_speech))
            if event is VoiceEvent.ONSET:
                self._started_at = time.time()
                self.speech_started.set()
                quiet = list(self._before)[:-NOISE_GAP_FRAMES]
                self._stream.learn_noise(b"".join(f for f, speech in quiet if not speech))
                self._before.clear()
                self._stream.feed(b"".join(self._pre_roll))
                self._pre_roll.clear()
            return
        self._stream.feed(frame)
        self._since_onset += 1
        if event is VoiceEvent.END or self._since_onset >= self._max_frames:
            self._ended_by = "silence" if event is VoiceEvent.END else "max_length"
            self._end()

    def _end(self) -> None:
        self._done = True
        # Timed by the audio, not the wall clock: a file replays faster than real time.
        self._ended_at = self._started_at + self._since_onset * FRAME_SECONDS
        silence = self._request.end_silence_seconds if self._ended_by == "silence" else 0.0
        # The onset frames went out with the pre-roll; the trailing silence is no speech.
        speech_seconds = (ONSET_FRAMES + self._since_onset) * FRAME_SECONDS - silence
        self._stream.finish(max(FRAME_SECONDS, speech_seconds))
        self._ended.set()

    @property
    def done(self) -> bool:
        """The utterance has ended (or listening was closed)."""
        return self._done

    @property
    def decoding_behind(self) -> bool:
        """The decoder has audio it has not got through yet."""
        return self._stream.busy

    def end_of_input(self) -> None:
        """No more audio will come (a file ran out): end an utterance in progress."""
        if not self._done and self.speech_started.is_set():
            self._ended_by = "end_of_audio"
            self._end()

    def on_played_audio(self, pcm: bytes) -> None:
        return None

    def on_playback_flushed(self, unplayed_bytes: int) -> None:
        return None

    async def heard(self) -> HeardText:
        """The transcript of the utterance; wait for :attr:`speech_started` first.

        Raises:
            SpeechError: decoding failed.
        """
        await self._ended.wait()
        transcript: Transcript = await asyncio.wrap_future(self._stream.result)
        # Silence before the detector's verdict is part of the end-of-utterance rule,
        # not of the speech: report when the caller actually stopped.
        silence = self._request.end_silence_seconds if self._ended_by == "silence" else 0.0
        return HeardText(
            text=transcript.text,
            confidence=transcript.confidence,
            started_at=self._started_at,
            ended_at=self._ended_at - silence,
            decode_ms=transcript.decode_ms,
            ended_by=self._ended_by,
            denoised=transcript.denoised,
            denoise_ms=transcript.denoise_ms,
            filler_heard=transcript.filler_heard,
            words=transcript.words,
            constrained=self._request.grammar is not None,
        )

    async def heard_again(
        self, first: HeardText, grammar: tuple[str, ...], budget_seconds: float
    ) -> HeardText | None:
        """The same utterance decoded once more with ``grammar``, after :meth:`heard`
        returned ``first``; ``decode_ms`` covers both decodings. None when the
        decoding pool has no thread free or the decoding outran ``budget_seconds``.

        Raises:
            SpeechError: decoding failed.
        """
        pending = self._stream.decode_again(grammar, budget_seconds)
        if pending is None:
            return None
        again: Transcript | None = await asyncio.wrap_future(pending)
        if again is None:
            return None
        return replace(
            first,
            text=again.text,
            confidence=again.confidence,
            decode_ms=round(first.decode_ms + again.decode_ms, 1),
            words=again.words,
            first_heard=first.text,
            constrained=True,
        )

    def close(self) -> None:
        if not self._done:
            self._done = True
            self._stream.cancel()


class CallListening:
    """One turn of listening on a live call; detaches its sink on close."""

    def __init__(self, call: Call, listener: UtteranceListener) -> None:
        self._call = call
        self._listener = listener
        call.add_audio_sink(listener)

    @property
    def speech_started(self) -> asyncio.Event:
        return self._listener.speech_started

    async def heard(self) -> HeardText:
        return await self._listener.heard()

    async def heard_again(
        self, first: HeardText, grammar: tuple[str, ...], budget_seconds: float
    ) -> HeardText | None:
        return await self._listener.heard_again(first, grammar, budget_seconds)

    def close(self) -> None:
        self._call.remove_audio_sink(self._listener)
        self._listener.close()


class CallSpeech:
    """Speech input for one call (what the plan runner's ``speech`` needs)."""

    def __init__(self, call: Call, engine: SpeechEngine) -> None:
        self._call = call
        self._engine = engine

    def listen(self, request: ListenRequest) -> CallListening:
        return CallListening(self._call, UtteranceListener(self._engine, request))


__all__ = ["CallSpeech", "SpeechError", "UtteranceListener"]
