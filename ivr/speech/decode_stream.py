"""One utterance decoded on the engine's pool (:class:`DecodeStream`), and its
:class:`Transcript`.

A grammar holds the menu's phrases, any single ``words`` the request adds (the
decoder chains them into sentences nobody listed) and the plan's filler words.
Entries holding a word the model does not know are left out first
(``ivr.speech.vocabulary``): the grammar is what Vosk actually uses.

Filler words (everyday words of no intent, so that speech outside the menu
lands on them) are decoded together with the menu's phrases. A short filler
word also soaks up a menu word the model hears poorly: "프로그램" comes out
as "음" when the filler holds "음". So when a transcript is filler words
alone and they span less than ``FILLER_COVERAGE`` of the speech, they do not
account for what was said: the utterance is decoded once more, with the
menu's phrases alone, from the audio kept for that (a few tens of ms after
the end of speech, and only for such utterances). Speech that really lies
outside the menu is filler words end to end and stays as it was heard.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ivr.exceptions import SpeechError
from ivr.speech.denoise import NoiseSuppressor
from ivr.speech.intents import normalise, phrase_words
from ivr.speech.spec import HeardWord

if TYPE_CHECKING:
    from ivr.speech.recognizer import SpeechEngine

log = logging.getLogger(__name__)

# Filler words spanning less than this share of the speech do not account for it.
FILLER_COVERAGE = 0.75


@dataclass(frozen=True)
class Transcript:
    text: str
    confidence: float  # mean word confidence, 0-1 (1.0 when the model gives none)
    decode_ms: float  # from finish() to the transcript
    denoised: bool = False  # noise suppression was applied (see ivr.speech.denoise)
    denoise_ms: float = 0.0  # CPU time noise suppression took, deciding included
    filler_heard: str = ""  # the filler-only first transcript, when decoded again (see above)
    words: tuple[HeardWord, ...] = ()


@dataclass(frozen=True)
class _Decoded:
    text: str
    confidence: float
    words: tuple[HeardWord, ...]
    seconds: tuple[float, ...]  # how long each word spans


def _decoded(final: dict[str, Any]) -> _Decoded:
    text = str(final.get("text", ""))
    result = final.get("result", [])
    words = tuple(HeardWord(str(w["word"]), float(w.get("conf", 1.0))) for w in result)
    confidence = sum(w.confidence for w in words) / len(words) if words else float(bool(text))
    seconds = tuple(float(w["end"]) - float(w["start"]) for w in result)
    return _Decoded(text, confidence, words, seconds)


class DecodeStream:
    """One utterance: ``feed`` audio as it comes (never blocks), then ``finish``."""

    def __init__(
        self,
        engine: SpeechEngine,
        model: str,
        grammar: Sequence[str] | None,
        rate: int,
        filler: Sequence[str] = (),
        words: Sequence[str] = (),
    ) -> None:
        self._engine = engine
        self._model = model
        self._grammar = list(grammar) if grammar is not None else None
        self._words = list(words) if grammar is not None else []
        self._filler = list(filler) if grammar is not None else []
        self._filler_words = phrase_words(self._filler)
        self._decoded_audio: list[bytes] = []  # kept for a second decoding
        self._speech_seconds: float | None = None
        self._rate = rate
        self._lock = threading.Lock()
        self._chunks: deque[bytes] = deque()
        self._running = False
        self._finished_at: float | None = None
        self._cancelled = False
        self._recognizer: Any = None
        self._noise_sample = b""
        self._suppressor: NoiseSuppressor | None = None
        self._suppress_seconds = 0.0  # CPU time of noise suppression
        self.result: Future[Transcript] = Future()

    @property
    def busy(self) -> bool:
        """Audio is queued or being decoded."""
        return self._running

    def learn_noise(self, pcm: bytes) -> None:
        """Audio from before the caller spoke (no speech in it), for noise
        suppression; only heeded before the first :meth:`feed`."""
        with self._lock:
            if self._recognizer is None and not self._chunks:
                self._noise_sample = pcm

    def feed(self, pcm: bytes) -> None:
        with self._lock:
            if self._finished_at is not None or self._cancelled:
                return
            self._chunks.append(pcm)
            self._start_locked()

    def finish(self, speech_seconds: float | None = None) -> Future[Transcript]:
        """No more audio: the transcript arrives on the returned future (which
        carries a SpeechError when decoding failed). ``speech_seconds``: how much
        of the audio was speech, as the voice activity detector saw it (default:
        all of it)."""
        with self._lock:
            if self._finished_at is None:
                self._finished_at = time.monotonic()
                self._speech_seconds = speech_seconds
                self._start_locked()
        return self.result

    def cancel(self) -> None:
        with self._lock:
            self._cancelled = True
            self._chunks.clear()

    def _start_locked(self) -> None:
        if not self._running:
            self._running = True
            try:
                self._engine._submit(self._drain)
            except RuntimeError:  # the pool is shut down: the service is stopping
                self._running = False
                if not self.result.done():
                    self.result.set_exception(SpeechError("speech recognition has stopped"))

    def _drain(self) -> None:
        try:
            while True:
                with self._lock:
                    chunk = self._chunks.popleft() if self._chunks else None
                    if chunk is None:
                        if self._cancelled or self._finished_at is None:
                            self._running = False
                            return
                if chunk is None:
                    self._complete()
                    with self._lock:
                        self._running = False
                    return
                if self._recognizer is None:
                    self._start_decoding()
                self._accept(chunk)
        except Exception as exc:
            log.exception("speech decoding failed")
            with self._lock:
                self._running = False
            if not self.result.done():
                error = exc if isinstance(exc, SpeechError) else SpeechError(str(exc))
                self.result.set_exception(error)

    def _start_decoding(self) -> None:
        grammar = None if self._grammar is None else self._grammar + self._words + self._filler
        self._recognizer = self._engine._recognizer(self._model, grammar, self._rate)
        if self._engine.denoise and self._noise_sample:
            started = time.thread_time()
            suppressor = NoiseSuppressor(self._rate)
            suppressor.learn_noise(self._noise_sample)
            self._suppressor = suppressor if suppressor.active else None
            self._suppress_seconds += time.thread_time() - started

    def _accept(self, pcm: bytes) -> None:
        if self._suppressor is not None:
            started = time.thread_time()
            pcm = self._suppressor.process(pcm)
            self._suppress_seconds += time.thread_time() - started
        if pcm:
            self._recognizer.AcceptWaveform(pcm)
            self._decoded_audio.append(pcm)

    def _complete(self) -> None:
        filler_heard = ""
        heard = _Decoded("", 0.0, (), ())
        if self._recognizer is not None:  # else no audio at all
            if self._suppressor is not None:
                started = time.thread_time()
                rest = self._suppressor.flush()
                self._suppress_seconds += time.thread_time() - started
                self._recognizer.AcceptWaveform(rest)
                self._decoded_audio.append(rest)
            heard = _decoded(json.loads(self._recognizer.FinalResult()))
            if self._filler_too_short(heard):
                again = self._decode_again()
                if again is not None:  # always: no deadline
                    filler_heard, heard = heard.text, again
        finished_at = self._finished_at or time.monotonic()
        decode_ms = (time.monotonic() - finished_at) * 1000
        if not self.result.done():
            denoised = self._suppressor is not None and self._suppressor.verdict is True
            denoise_ms = round(self._suppress_seconds * 1000, 2)
            self.result.set_result(
                Transcript(
                    heard.text,
                    heard.confidence,
                    round(decode_ms, 1),
                    denoised,
                    denoise_ms,
                    filler_heard,
                    heard.words,
                )
            )

    def _filler_too_short(self, heard: _Decoded) -> bool:
        """Only filler words, spanning too little of the speech to be what was said."""
        if not heard.words or any(normalise(w.word) not in self._filler_words for w in heard.words):
            return False
        speech = self._speech_seconds
        if speech is None:
            speech = sum(len(pcm) for pcm in self._decoded_audio) / (2 * self._rate)
        return sum(heard.seconds) < FILLER_COVERAGE * speech

    def _decode_again(
        self, grammar: Sequence[str] | None = None, deadline: float | None = None
    ) -> _Decoded | None:
        """The kept audio once more with ``grammar`` (default: the menu's phrases
        alone); None when ``deadline`` (monotonic) passed before the end."""
        recognizer = self._engine._recognizer(self._model, grammar or self._grammar, self._rate)
        for pcm in self._decoded_audio:
            if deadline is not None and time.monotonic() > deadline:
                return None
            recognizer.AcceptWaveform(pcm)
        return _decoded(json.loads(recognizer.FinalResult()))

    def decode_again(
        self, grammar: Sequence[str], budget_seconds: float
    ) -> Future[Transcript | None] | None:
        """The utterance's audio (as the first decoding got it, noise suppressed or
        not) decoded once more on the pool with ``grammar``, after :attr:`result`.

        None when no pool thread is free (the second decoding would delay other
        callers' first ones); the future's result is None when the decoding took
        longer than ``budget_seconds`` and was given up. The transcript's
        ``decode_ms`` is this decoding's alone."""
        # This utterance's own decoding task may still be counted, ending.
        if not self._engine.has_room(finishing=1):
            return None
        result: Future[Transcript | None] = Future()
        submitted = time.monotonic()

        def run() -> None:
            try:
                heard = self._decode_again(grammar, submitted + budget_seconds)
            except Exception as exc:
                log.exception("speech decoding (second pass) failed")
                error = exc if isinstance(exc, SpeechError) else SpeechError(str(exc))
                result.set_exception(error)
                return
            if heard is None:
                result.set_result(None)
                return
            decode_ms = round((time.monotonic() - submitted) * 1000, 1)
            result.set_result(
                Transcript(heard.text, heard.confidence, decode_ms, words=heard.words)
            )

        try:
            self._engine._submit(run)
        except RuntimeError:  # the pool is shut down: the service is stopping
            return None
        return result
