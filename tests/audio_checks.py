"""Measuring audio in tests: how long a stretch of sound lasts and how loud it is."""

from __future__ import annotations

import math
import wave
from array import array
from pathlib import Path

FRAME_SAMPLES = 160  # 20 ms at 8 kHz
SOUND_RMS = 300


def frame_levels(samples: array) -> list[float]:
    levels = []
    for offset in range(0, len(samples) - FRAME_SAMPLES + 1, FRAME_SAMPLES):
        frame = samples[offset : offset + FRAME_SAMPLES]
        levels.append(math.sqrt(sum(s * s for s in frame) / FRAME_SAMPLES))
    return levels


def sound_span(pcm: bytes) -> tuple[float, float]:
    """(seconds from first to last sounding frame, RMS over sounding frames) of 8 kHz PCM."""
    levels = frame_levels(array("h", pcm))
    loud = [i for i, level in enumerate(levels) if level >= SOUND_RMS]
    if not loud:
        return 0.0, 0.0
    sounding = [levels[i] for i in loud]
    rms = math.sqrt(sum(x * x for x in sounding) / len(sounding))
    return (loud[-1] - loud[0] + 1) * 0.02, rms


def read_stereo(path: Path) -> tuple[bytes, bytes, float]:
    """(left, right, seconds) of a stereo 16-bit WAV."""
    with wave.open(str(path), "rb") as wav:
        assert wav.getnchannels() == 2 and wav.getsampwidth() == 2
        frames = wav.readframes(wav.getnframes())
        seconds = wav.getnframes() / wav.getframerate()
    samples = array("h", frames)
    return samples[0::2].tobytes(), samples[1::2].tobytes(), seconds
