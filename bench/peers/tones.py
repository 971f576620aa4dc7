"""The peers' prompts: tones written as 8 kHz mono WAV files (no speech engine needed).

A prompt is a 440 Hz beep of 1.5 s and 0.5 s of silence (played in a loop until the
caller presses a key); the confirmation a 660 Hz beep of 0.8 s."""

from __future__ import annotations

import math
import struct
import wave
from pathlib import Path

RATE = 8000
PROMPT_SECONDS = 2.0
CONFIRMATION_SECONDS = 0.8


def _samples(frequency: float, sound_seconds: float, total_seconds: float) -> list[int]:
    sound = int(RATE * sound_seconds)
    return [
        int(8000 * math.sin(2 * math.pi * frequency * i / RATE)) if i < sound else 0
        for i in range(int(RATE * total_seconds))
    ]


def linear16(frequency: float, sound_seconds: float, total_seconds: float) -> bytes:
    """Signed 16-bit little-endian samples at 8 kHz."""
    samples = _samples(frequency, sound_seconds, total_seconds)
    return struct.pack(f"<{len(samples)}h", *samples)


def unsigned8(frequency: float, sound_seconds: float, total_seconds: float) -> bytes:
    """Unsigned 8-bit samples at 8 kHz (what pyVoIP's ``write_audio`` takes)."""
    return bytes(128 + s // 256 for s in _samples(frequency, sound_seconds, total_seconds))


def prompt_pcm16() -> bytes:
    return linear16(440, 1.5, PROMPT_SECONDS)


def confirmation_pcm16() -> bytes:
    return linear16(660, CONFIRMATION_SECONDS, CONFIRMATION_SECONDS)


def write_wavs(directory: Path) -> tuple[Path, Path]:
    """prompt.wav and confirmation.wav (16-bit, 8 kHz, mono) in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = (directory / "prompt.wav", directory / "confirmation.wav")
    for path, pcm in zip(paths, (prompt_pcm16(), confirmation_pcm16()), strict=True):
        with wave.open(str(path), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(RATE)
            out.writeframes(pcm)
    return paths
