"""Vosk behind a small interface: models loaded once per process, decoding in a pool.

No vosk type leaves this module. Decoding runs on a thread pool (Vosk's C++
decoder releases the GIL), so the call loop only queues audio. Each stream
decodes its chunks in order on whichever pool thread is free; several calls
decode in parallel up to the pool size. Noise suppression (``denoise``) runs
on the same pool thread, just before the decoder, for calls and
``ivr speech eval`` alike.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from ivr.exceptions import SpeechError
from ivr.speech.denoise import NoiseSuppressor
from ivr.speech.models import ModelStore
from ivr.telephony.interface import SAMPLE_RATE

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Transcript:
    text: str
    confidence: float  # mean word confidence, 0-1 (1.0 when the model gives none)
    decode_ms: float  # from finish() to the transcript
    denoised: bool = False  # noise suppression was applied (see ivr.speech.denoise)
    denoise_ms: float = 0.0  # CPU time noise suppression took, deciding included


def _vosk() -> Any:
    try:
        import vosk
    except ImportError as exc:
        raise SpeechError(f"the vosk package is not installed: {exc}") from exc
    vosk.SetLogLevel(-2)  # warnings too: the grammar's out-of-vocabulary words are expected
    return vosk


class SpeechEngine:
    """The process's speech models and decoding pool; share one across all calls."""

    def __init__(self, store: ModelStore, pool_size: int, denoise: bool = True) -> None:
        self._store = store
        self.denoise = denoise  # noise suppression before decoding (see ivr.speech.denoise)
        self._models: dict[str, Any] = {}
        self._load_lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=pool_size, thread_name_prefix="asr")

    @property
    def loaded(self) -> list[str]:
        return sorted(self._models)

    def installed(self) -> list[str]:
        return self._store.names()

    def load(self, name: str) -> None:
        """Load model ``name`` (a few seconds, blocking) unless it is loaded already.

        Raises:
            SpeechError: not installed, or Vosk cannot read it.
        """
        with self._load_lock:
            if name in self._models:
                return
            path = self._store.path_of(name)
            if path is None:
                known = ", ".join(self._store.names()) or "none"
                raise SpeechError(
                    f"speech model {name!r} is not installed in {self._store.directory} "
                    f"(installed: {known})"
                )
            vosk = _vosk()
            started = time.monotonic()
            try:
                self._models[name] = vosk.Model(str(path))
            except Exception as exc:  # vosk raises a bare Exception on a bad model
                raise SpeechError(f"speech model {name!r} at {path} did not load: {exc}") from exc
            log.info("speech model %s loaded in %.1f s", name, time.monotonic() - started)

    def stream(
        self, model: str, grammar: Sequence[str] | None, sample_rate: int = SAMPLE_RATE
    ) -> DecodeStream:
        """A new utterance decoder; ``grammar`` None hears any word (open vocabulary).
        The model loads on first use when it was not loaded at start-up."""
        return DecodeStream(self, model, grammar, sample_rate)

    def _recognizer(self, model: str, grammar: Sequence[str] | None, rate: int) -> Any:
        if model not in self._models:
            self.load(model)
        vosk = _vosk()
        if grammar is None:
            recognizer = vosk.KaldiRecognizer(self._models[model], rate)
        else:
            recognizer = vosk.KaldiRecognizer(
                self._models[model], rate, json.dumps(list(grammar), ensure_ascii=False)
            )
        recognizer.SetWords(True)
        return recognizer

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


class DecodeStream:
    """One utterance: ``feed`` audio as it comes (never blocks), then ``finish``."""

    def __init__(
        self, engine: SpeechEngine, model: str, grammar: Sequence[str] | None, rate: int
    ) -> None:
        self._engine = engine
        self._model = model
        self._grammar = list(grammar) if grammar is not None else None
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

    def finish(self) -> Future[Transcript]:
        """No more audio: the transcript arrives on the returned future (which
        carries a SpeechError when decoding failed)."""
        with self._lock:
            if self._finished_at is None:
                self._finished_at = time.monotonic()
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
                self._engine._pool.submit(self._drain)
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
        self._recognizer = self._engine._recognizer(self._model, self._grammar, self._rate)
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

    def _complete(self) -> None:
        if self._recognizer is None:  # no audio at all
            text, confidence = "", 0.0
        else:
            if self._suppressor is not None:
                started = time.thread_time()
                rest = self._suppressor.flush()
                self._suppress_seconds += time.thread_time() - started
                self._recognizer.AcceptWaveform(rest)
            final = json.loads(self._recognizer.FinalResult())
            text = str(final.get("text", ""))
            words = [float(w.get("conf", 1.0)) for w in final.get("result", [])]
            confidence = sum(words) / len(words) if words else (1.0 if text else 0.0)
        finished_at = self._finished_at or time.monotonic()
        decode_ms = (time.monotonic() - finished_at) * 1000
        if not self.result.done():
            denoised = self._suppressor is not None and self._suppressor.verdict is True
            denoise_ms = round(self._suppress_seconds * 1000, 2)
            self.result.set_result(
                Transcript(text, confidence, round(decode_ms, 1), denoised, denoise_ms)
            )
