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


def tone_share(pcm: bytes, frequency: float, rate: int = 8000) -> float:
    """The largest share (0..1) of a half-second's energy at ``frequency`` (Goertzel)
    over every sounding half-second of ``pcm``: a steady tone stands out near 1,
    speech and music stay far below."""
    samples = array("h", pcm)
    window = rate // 2
    coefficient = 2 * math.cos(2 * math.pi * frequency / rate)
    best = 0.0
    for start in range(0, len(samples) - window + 1, window // 2):
        chunk = samples[start : start + window]
        energy = float(sum(s * s for s in chunk))
        if energy < window * SOUND_RMS * SOUND_RMS / 4:
            continue
        previous = before = 0.0
        for sample in chunk:
            previous, before = sample + coefficient * previous - before, previous
        power = previous * previous + before * before - coefficient * previous * before
        best = max(best, min(1.0, 2 * power / (window * energy)))
    return best


def read_mono(path: Path) -> bytes:
    with wave.open(str(path), "rb") as wav:
        frames = wav.readframes(wav.getnframes())
        if wav.getnchannels() == 1:
            return frames
        return array("h", frames)[0::2].tobytes()
