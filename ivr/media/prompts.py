"""Prompt audio: files and synthesised text, converted once to call audio and cached.

Every prompt becomes 8 kHz mono 16-bit PCM (``ivr.telephony.interface``).
Conversions run in an executor and land in a memory cache and a disk cache
(``<cache_dir>/prompts``), keyed by the file's path, size and mtime or by the
text and voice, so a restart does not convert or synthesise again.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import subprocess
import warnings
from collections import OrderedDict
from pathlib import Path

import imageio_ffmpeg

with warnings.catch_warnings():
    # pydub looks for a system ffmpeg at import; we hand it the pip-installed one.
    warnings.simplefilter("ignore", RuntimeWarning)
    from pydub import AudioSegment

from ivr.exceptions import PromptError
from ivr.media.audio_format import SAMPLE_RATE, SAMPLE_WIDTH
from ivr.media.tts import EspeakSynthesizer

log = logging.getLogger(__name__)

MEMORY_CACHE_ENTRIES = 1024
AudioSegment.converter = imageio_ffmpeg.get_ffmpeg_exe()


def to_call_audio(segment: AudioSegment) -> bytes:
    converted = segment.set_channels(1).set_sample_width(SAMPLE_WIDTH).set_frame_rate(SAMPLE_RATE)
    return bytes(converted.raw_data)


def decode_file(path: Path) -> bytes:
    """Call audio for an audio file (WAV natively; MP3, OGG and the rest through ffmpeg).

    Raises:
        PromptError: the file is missing or not audio ffmpeg can read.
    """
    if not path.is_file():
        raise PromptError(f"prompt file {path} does not exist")
    try:
        if path.suffix.lower() == ".wav":
            return to_call_audio(AudioSegment.from_wav(str(path)))
        # pydub's generic loader probes with ffprobe, which the pip-installed
        # ffmpeg lacks; ffmpeg decodes to raw PCM just as well.
        result = subprocess.run(
            [
                imageio_ffmpeg.get_ffmpeg_exe(),
                "-v",
                "error",
                "-i",
                str(path),
                "-f",
                "s16le",
                "-ac",
                "1",
                "-ar",
                str(SAMPLE_RATE),
                "-",
            ],
            capture_output=True,
            check=False,
            timeout=120,
        )
    except Exception as exc:  # pydub raises bare Exceptions on bad WAV data
        raise PromptError(f"prompt file {path} is not readable audio: {exc}") from exc
    if result.returncode != 0 or not result.stdout:
        detail = result.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no audio"]
        raise PromptError(f"prompt file {path} is not readable audio: {detail[0]}")
    return to_call_audio(
        AudioSegment(result.stdout, sample_width=SAMPLE_WIDTH, frame_rate=SAMPLE_RATE, channels=1)
    )


class PromptLibrary:
    def __init__(self, cache_dir: Path, synthesizer: EspeakSynthesizer | None = None) -> None:
        self._disk = cache_dir / "prompts"
        self._disk.mkdir(parents=True, exist_ok=True)
        self._memory: OrderedDict[str, bytes] = OrderedDict()
        self._synthesizer = synthesizer or EspeakSynthesizer()

    async def file(self, path: Path) -> bytes:
        """Call audio for the audio file at ``path``. Raises PromptError."""
        try:
            stat = path.stat()
        except OSError as exc:
            raise PromptError(f"prompt file {path} cannot be read: {exc.strerror}") from None
        key = f"file\0{path.resolve()}\0{stat.st_size}\0{stat.st_mtime_ns}"
        return await self._cached(key, lambda: self._run_blocking(decode_file, path))

    async def speech(self, text: str, voice: str, keep_on_disk: bool = True) -> bytes:
        """Call audio for ``text`` spoken by espeak-ng ``voice``. Raises PromptError.

        ``keep_on_disk=False`` for one-off texts (a ticket number read out), which
        would otherwise grow the disk cache without bound."""
        key = f"say\0{voice}\0{text}"

        async def synthesise() -> bytes:
            pcm, rate = await self._synthesizer.synthesize(text, voice)
            segment = AudioSegment(pcm, sample_width=2, frame_rate=rate, channels=1)
            return await self._run_blocking(to_call_audio, segment)

        return await self._cached(key, synthesise, keep_on_disk)

    async def _cached(self, key: str, produce: object, keep_on_disk: bool = True) -> bytes:
        if key in self._memory:
            self._memory.move_to_end(key)
            return self._memory[key]
        disk_path = self._disk / (hashlib.sha256(key.encode()).hexdigest() + ".pcm")
        try:
            pcm = disk_path.read_bytes()
        except OSError:
            pcm = await produce()  # type: ignore[operator]
            if keep_on_disk:
                self._write_disk_cache(disk_path, pcm)
        self._memory[key] = pcm
        while len(self._memory) > MEMORY_CACHE_ENTRIES:
            self._memory.popitem(last=False)
        return pcm

    @staticmethod
    def _write_disk_cache(disk_path: Path, pcm: bytes) -> None:
        # Workers share the cache folder: each writes its own temporary file.
        temporary = disk_path.with_name(f".{disk_path.name}.{os.getpid()}.tmp")
        try:
            temporary.write_bytes(pcm)
            temporary.replace(disk_path)
        except OSError as exc:  # a full disk costs a re-conversion later, nothing more
            log.warning("prompt cache not written (%s): %s", disk_path, exc.strerror)

    @staticmethod
    async def _run_blocking(function: object, *args: object) -> bytes:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, function, *args)  # type: ignore[arg-type]

    def close(self) -> None:
        self._synthesizer.close()
