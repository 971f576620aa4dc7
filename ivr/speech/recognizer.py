"""Vosk behind a small interface: models loaded once per process, decoding in a pool.

No vosk type leaves this module. Decoding runs on a thread pool (Vosk's C++
decoder releases the GIL), so the call loop only queues audio. Each stream
decodes its chunks in order on whichever pool thread is free; several calls
decode in parallel up to the pool size. Noise suppression (``denoise``) runs
on the same pool thread, just before the decoder, for calls and
``ivr speech eval`` alike.

One utterance's decoding is :mod:`ivr.speech.decode_stream`.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ivr.exceptions import SpeechError
from ivr.media.audio_format import SAMPLE_RATE
from ivr.speech.decode_stream import DecodeStream
from ivr.speech.models import ModelStore
from ivr.speech.vocabulary import known_phrases, model_vocabulary

log = logging.getLogger(__name__)


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
        self._vocabularies: dict[str, frozenset[str] | None] = {}
        self._reported: set[tuple[str, frozenset[str]]] = set()  # grammar entries left out
        self._load_lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=pool_size, thread_name_prefix="asr")
        self._pool_size = pool_size
        self._in_flight = 0  # pool tasks queued or running
        self._flight_lock = threading.Lock()

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
                model = vosk.Model(str(path))
            except Exception as exc:  # vosk raises a bare Exception on a bad model
                raise SpeechError(f"speech model {name!r} at {path} did not load: {exc}") from exc
            self._vocabularies[name] = model_vocabulary(path)
            self._models[name] = model
            log.info("speech model %s loaded in %.1f s", name, time.monotonic() - started)

    def vocabulary(self, model: str) -> frozenset[str] | None:
        """The words model ``model`` knows (None: it does not say); loads it if need be."""
        self.load(model)
        return self._vocabularies[model]

    def known(self, model: str, phrases: Sequence[str]) -> list[str]:
        """``phrases`` less those holding a word model ``model`` does not know: the
        grammar Vosk will actually decode with (it would drop them itself, warning
        on every utterance); each distinct set left out is logged once."""
        kept = known_phrases(phrases, self.vocabulary(model))
        left_out = frozenset(phrases) - set(kept)
        if left_out and (model, left_out) not in self._reported:
            self._reported.add((model, left_out))
            log.info(
                "speech model %s does not know these grammar entries, left out: %s",
                model,
                ", ".join(sorted(left_out)),
            )
        return kept

    def stream(
        self,
        model: str,
        grammar: Sequence[str] | None,
        sample_rate: int = SAMPLE_RATE,
        filler: Sequence[str] = (),
        words: Sequence[str] = (),
    ) -> DecodeStream:
        """A new utterance decoder; ``grammar`` None hears any word (open vocabulary),
        ``words`` are single words heard alongside ``grammar`` (chained as the caller
        says them), ``filler`` words of no intent heard alongside both.
        The model loads on first use when it was not loaded at start-up."""
        return DecodeStream(self, model, grammar, sample_rate, filler, words)

    def _recognizer(self, model: str, grammar: Sequence[str] | None, rate: int) -> Any:
        if model not in self._models:
            self.load(model)
        vosk = _vosk()
        if grammar is None:
            recognizer = vosk.KaldiRecognizer(self._models[model], rate)
        else:
            known = self.known(model, grammar)
            recognizer = vosk.KaldiRecognizer(
                self._models[model], rate, json.dumps(known, ensure_ascii=False)
            )
        recognizer.SetWords(True)
        return recognizer

    def has_room(self, finishing: int = 0) -> bool:
        """A pool thread is free now, counting ``finishing`` tasks that are about to
        end as free: extra work (a second decoding) delays nobody."""
        with self._flight_lock:
            return self._in_flight - finishing < self._pool_size

    def _submit(self, task: Callable[[], None]) -> None:
        """Run ``task`` on the pool, counted in :meth:`has_room`. Raises RuntimeError
        when the pool is shut down."""

        def counted() -> None:
            try:
                task()
            finally:
                with self._flight_lock:
                    self._in_flight -= 1

        with self._flight_lock:
            self._in_flight += 1
        try:
            self._pool.submit(counted)
        except RuntimeError:
            with self._flight_lock:
                self._in_flight -= 1
            raise

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
