"""Text to speech through libespeak-ng, as shipped by the ``espeakng-loader`` wheel.

libespeak-ng keeps global state and is not thread-safe: two initialisations, or
synthesis from two threads, crash the process. So the process has one engine,
on one dedicated thread, and every :class:`EspeakSynthesizer` hands its work
to it.
"""

from __future__ import annotations

import asyncio
import ctypes
import threading
from concurrent.futures import ThreadPoolExecutor

import espeakng_loader

from ivr.exceptions import PromptError

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_ESPEAK_CHARS_UTF8 = 1
_ESPEAK_RATE = 1  # espeak_SetParameter: words per minute
_ESPEAK_PITCH = 3  # espeak_SetParameter: base pitch, 0-100
DEFAULT_PITCH = 50
_RANDOM_SEED = 1  # espeak_ng_SetRandSeed
DEFAULT_WORDS_PER_MINUTE = 175
_SYNTH_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)


class _Engine:
    """The process's one libespeak-ng, used only from its own thread."""

    def __init__(self) -> None:
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="espeak")
        self._lib: ctypes.CDLL | None = None
        self._chunks: list[bytes] = []
        self._callback = _SYNTH_CALLBACK(self._collect)
        self.sample_rate = 0

    def _collect(self, wav: ctypes._Pointer[ctypes.c_short], count: int, _events: int) -> int:
        if wav and count > 0:
            self._chunks.append(ctypes.string_at(wav, count * 2))
        return 0

    def _load(self) -> ctypes.CDLL:
        if self._lib is None:
            lib = ctypes.CDLL(espeakng_loader.get_library_path())
            lib.espeak_Initialize.argtypes = [
                ctypes.c_int,
                ctypes.c_int,
                ctypes.c_char_p,
                ctypes.c_int,
            ]
            lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
            lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
            lib.espeak_Synth.argtypes = [
                ctypes.c_char_p,
                ctypes.c_size_t,
                ctypes.c_uint,
                ctypes.c_int,
                ctypes.c_uint,
                ctypes.c_uint,
                ctypes.c_void_p,
                ctypes.c_void_p,
            ]
            rate = lib.espeak_Initialize(
                _AUDIO_OUTPUT_SYNCHRONOUS, 0, espeakng_loader.get_data_path().encode(), 0
            )
            if rate <= 0:
                raise PromptError("espeak-ng failed to initialise")
            lib.espeak_SetSynthCallback(self._callback)
            self.sample_rate = rate
            self._lib = lib
        return self._lib

    def synthesize(
        self, text: str, voice: str, words_per_minute: int, pitch: int = DEFAULT_PITCH
    ) -> tuple[bytes, int]:
        """Runs on the engine thread only."""
        lib = self._load()
        if lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise PromptError(f"espeak-ng has no voice {voice!r}")
        lib.espeak_SetParameter(_ESPEAK_RATE, int(words_per_minute), 0)
        lib.espeak_SetParameter(_ESPEAK_PITCH, int(pitch), 0)
        # The breathy voices (f2, f3...) mix in noise from a generator seeded by the
        # clock: a fixed seed makes a text sound the same in every process.
        lib.espeak_ng_SetRandSeed(_RANDOM_SEED)
        self._chunks = []
        data = text.encode("utf-8")
        status = lib.espeak_Synth(data, len(data) + 1, 0, 0, 0, _ESPEAK_CHARS_UTF8, None, None)
        if status != 0:
            raise PromptError(f"espeak-ng could not synthesise {text[:40]!r} (status {status})")
        return b"".join(self._chunks), self.sample_rate


_engine: _Engine | None = None
_engine_lock = threading.Lock()


def _shared_engine() -> _Engine:
    global _engine
    with _engine_lock:
        if _engine is None:
            _engine = _Engine()
        return _engine


class EspeakSynthesizer:
    """Synthesises text to mono 16-bit PCM at :attr:`sample_rate` (22050 Hz), through
    the process's one espeak-ng engine."""

    def __init__(self) -> None:
        self._engine = _shared_engine()

    @property
    def sample_rate(self) -> int:
        return self._engine.sample_rate

    def synthesize_blocking(
        self,
        text: str,
        voice: str,
        words_per_minute: int = DEFAULT_WORDS_PER_MINUTE,
        pitch: int = DEFAULT_PITCH,
    ) -> bytes:
        """PCM for ``text`` in ``voice`` (an espeak-ng voice name such as en, cmn, ko) at
        ``pitch`` (0-100); waits for the engine thread. Not for the event loop: use
        :meth:`synthesize`.

        Raises:
            PromptError: unknown voice or synthesis failure.
        """
        work = self._engine.executor.submit(
            self._engine.synthesize, text, voice, words_per_minute, pitch
        )
        return work.result()[0]

    async def synthesize(self, text: str, voice: str) -> tuple[bytes, int]:
        """(PCM, sample rate) for ``text``, off the event loop."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._engine.executor, self._engine.synthesize, text, voice, DEFAULT_WORDS_PER_MINUTE
        )

    def close(self) -> None:
        """Nothing to release: the engine lives as long as the process."""
