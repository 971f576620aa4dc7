"""The noise suppressor on its own: what it leaves alone, what it removes, and that
every sample comes out once, in order (the decoder hears the whole utterance)."""

from __future__ import annotations

import numpy as np

from ivr.speech.denoise import NoiseSuppressor

RATE = 8000
CHUNK_BYTES = 640  # 40 ms, as the media clock hands audio over


def _noise(seconds: float, rms: float, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(0.0, rms, int(seconds * RATE))


def _voice(seconds: float, rms: float) -> np.ndarray:
    """A vowel-like sound: a 150 Hz pitch and its harmonics up to 3 kHz."""
    t = np.arange(int(seconds * RATE)) / RATE
    wave = sum(np.sin(2 * np.pi * 150 * k * t) / k for k in range(1, 21))
    return np.asarray(wave * rms / np.sqrt(np.mean(wave**2)))


def _pcm(samples: np.ndarray) -> bytes:
    return bytes(np.clip(np.rint(samples), -32768, 32767).astype("<i2").tobytes())


def _run(suppressor: NoiseSuppressor, audio: bytes, chunk: int = CHUNK_BYTES) -> bytes:
    out = b"".join(suppressor.process(audio[i : i + chunk]) for i in range(0, len(audio), chunk))
    return out + suppressor.flush()


def _rms(pcm: bytes) -> float:
    samples = np.frombuffer(pcm, dtype="<i2").astype(float)
    return float(np.sqrt(np.mean(samples**2)))


def test_a_quiet_line_is_left_untouched() -> None:
    suppressor = NoiseSuppressor(RATE)
    suppressor.learn_noise(_pcm(_noise(0.5, 30.0, seed=1)))
    speech = _pcm(_voice(1.0, 3000.0) + _noise(1.0, 30.0, seed=2))
    assert not suppressor.active
    assert _run(suppressor, speech) == speech


def test_too_little_audio_before_the_onset_leaves_it_off() -> None:
    suppressor = NoiseSuppressor(RATE)
    suppressor.learn_noise(_pcm(_noise(0.02, 1000.0, seed=1)))
    assert not suppressor.active


def test_speech_well_above_the_noise_is_passed_through_unchanged() -> None:
    suppressor = NoiseSuppressor(RATE)
    suppressor.learn_noise(_pcm(_noise(0.5, 200.0, seed=3)))
    speech = _pcm(_voice(1.5, 4000.0) + _noise(1.5, 200.0, seed=4))  # about 26 dB
    assert suppressor.active
    assert _run(suppressor, speech) == speech
    assert suppressor.verdict is False
    assert suppressor.snr_db is not None and suppressor.snr_db > 20


def test_noisy_speech_keeps_the_voice_and_loses_most_of_the_noise() -> None:
    suppressor = NoiseSuppressor(RATE)
    suppressor.learn_noise(_pcm(_noise(0.5, 1300.0, seed=5)))
    voice = np.concatenate([_voice(1.0, 4000.0), np.zeros(int(0.6 * RATE))])
    noisy = _pcm(voice + _noise(len(voice) / RATE, 1300.0, seed=6))  # about 10 dB
    out = _run(suppressor, noisy, chunk=998)  # odd chunks: samples split across calls
    assert suppressor.verdict is True
    assert len(out) == len(noisy)
    split = RATE * 2  # bytes: the voice is the first second, then only noise
    assert _rms(out[split + 1600 :]) < _rms(noisy[split + 1600 :]) / 3  # > 9.5 dB less noise
    kept = _rms(out[800:split]) / np.sqrt(np.mean(voice[400:RATE] ** 2))
    assert 0.8 < kept < 1.1  # the voice within about 2 dB


def test_an_utterance_shorter_than_the_decision_comes_out_whole() -> None:
    suppressor = NoiseSuppressor(RATE)
    suppressor.learn_noise(_pcm(_noise(0.5, 1300.0, seed=7)))
    short = _pcm(_voice(0.2, 4000.0) + _noise(0.2, 1300.0, seed=8))
    out = _run(suppressor, short)
    assert suppressor.verdict is True
    assert len(out) == len(short)
