"""Synthetic speech for measuring recognition: espeak-ng phrases at 8 kHz, in several
voices and speeds, with white or pink (1/f, most of its power where speech has
its own) noise at a chosen signal-to-noise ratio.

Files are named ``<intent>__<detail>.wav``, the naming ``ivr speech eval`` reads.
Synthesis runs on the process's one espeak-ng thread (espeak-ng is not thread-safe).
"""

from __future__ import annotations

import math
import os
import random
import warnings
import wave
import zlib
from array import array
from pathlib import Path

import numpy as np

from ivr.media.audio_format import SAMPLE_RATE
from ivr.media.tts import DEFAULT_PITCH, EspeakSynthesizer
from ivr.speech.vad import FRAME_BYTES, frame_rms

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

LEAD_SILENCE_SECONDS = 0.4
TRAIL_SILENCE_SECONDS = 1.2


def speak(
    text: str, voice: str = "ko", words_per_minute: int = 175, pitch: int = DEFAULT_PITCH
) -> bytes:
    """``text`` as 8 kHz 16-bit mono PCM, trimmed of espeak's own silence."""
    synth = EspeakSynthesizer()
    raw = synth.synthesize_blocking(text, voice, words_per_minute, pitch)
    pcm, _ = audioop.ratecv(raw, 2, 1, synth.sample_rate, SAMPLE_RATE, None)
    return trim(pcm)


def trim(pcm: bytes, level: float = 200.0) -> bytes:
    """Drop leading and trailing 20 ms frames quieter than ``level``."""
    frames = [pcm[i : i + FRAME_BYTES] for i in range(0, len(pcm) - FRAME_BYTES + 1, FRAME_BYTES)]
    loud = [i for i, f in enumerate(frames) if frame_rms(f) >= level]
    if not loud:
        return b""
    return b"".join(frames[loud[0] : loud[-1] + 1])


def pad(
    pcm: bytes, lead: float = LEAD_SILENCE_SECONDS, trail: float = TRAIL_SILENCE_SECONDS
) -> bytes:
    return bytes(int(lead * SAMPLE_RATE) * 2) + pcm + bytes(int(trail * SAMPLE_RATE) * 2)


def add_noise(pcm: bytes, snr_db: float, seed: int = 0, speech: bytes | None = None) -> bytes:
    """White noise over all of ``pcm`` at ``snr_db`` below the power of ``speech``
    (default: ``pcm`` itself)."""
    reference = array("h", speech if speech is not None else pcm)
    power = sum(s * s for s in reference) / max(1, len(reference))
    sigma = math.sqrt(power / (10 ** (snr_db / 10)))
    rng = random.Random(seed)
    samples = array("h", pcm)
    noisy = array("h", (max(-32768, min(32767, int(s + rng.gauss(0.0, sigma)))) for s in samples))
    return noisy.tobytes()


def add_pink_noise(pcm: bytes, snr_db: float, seed: int = 0, speech: bytes | None = None) -> bytes:
    """Pink (1/f power) noise over all of ``pcm`` at ``snr_db`` below the power of
    ``speech`` (default: ``pcm`` itself)."""
    reference = np.frombuffer(speech if speech is not None else pcm, dtype="<i2").astype(float)
    samples = np.frombuffer(pcm, dtype="<i2").astype(float)
    spectrum = np.fft.rfft(np.random.default_rng(seed).standard_normal(len(samples)))
    spectrum[1:] /= np.sqrt(np.arange(1, len(spectrum)))
    spectrum[0] = 0.0
    noise = np.fft.irfft(spectrum, n=len(samples))
    power = float(np.mean(reference**2)) if len(reference) else 0.0
    noise *= np.sqrt(power / (10 ** (snr_db / 10)) / max(float(np.mean(noise**2)), 1e-12))
    return bytes(np.clip(np.rint(samples + noise), -32768, 32767).astype("<i2").tobytes())


def write_wav(path: Path, pcm: bytes, rate: int = SAMPLE_RATE) -> None:
    """Write the file whole or not at all: processes sharing a cached set never read a
    half-written one (a process killed meanwhile leaves its hidden ``.tmp`` file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with wave.open(str(temporary), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm)
    os.replace(temporary, path)


def generate(
    phrases: dict[str, list[str]],
    folder: Path,
    voices: tuple[str, ...] = ("ko",),
    speeds: tuple[int, ...] = (175,),
    snrs: tuple[float | None, ...] = (None,),
    colour: str = "white",
    pitch: int = DEFAULT_PITCH,
) -> list[Path]:
    """Write one file per intent, phrase, voice, speed and noise level (None: clean),
    at ``pitch`` (0-100); ``colour`` is the noise's: white or pink. Files already
    there are kept (a cache)."""
    if colour not in ("white", "pink"):
        raise ValueError(f"noise colour {colour!r}: expected white or pink")
    prefix = "snr" if colour == "white" else colour
    written = []
    for intent, texts in phrases.items():
        for index, text in enumerate(texts):
            for voice in voices:
                for speed in speeds:
                    clean: bytes | None = None
                    for snr in snrs:
                        noise = "clean" if snr is None else f"{prefix}{snr:g}"
                        tag = voice.replace("+", "-")
                        if pitch != DEFAULT_PITCH:
                            tag += f"-p{pitch}"
                        path = folder / f"{intent}__{index}-{tag}-{speed}-{noise}.wav"
                        if not path.exists():
                            if clean is None:
                                clean = speak(text, voice, speed, pitch)
                            audio = pad(clean)
                            seed = zlib.crc32(path.name.encode())
                            if snr is not None and colour == "pink":
                                audio = add_pink_noise(audio, snr, seed, speech=clean)
                            elif snr is not None:
                                audio = add_noise(audio, snr, seed=seed, speech=clean)
                            write_wav(path, audio)
                        written.append(path)
    return written
