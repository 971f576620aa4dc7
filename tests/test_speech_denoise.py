"""The noise suppressor on its own: what it leaves alone, what it removes, and that
every sample comes out once, in order (the decoder hears the whole utterance)."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from speech_support import install_korean_model

from ivr.speech import testset
from ivr.speech.denoise import MIN_NOISE_SECONDS, NoiseSuppressor
from ivr.speech.listener import UtteranceListener
from ivr.speech.models import ModelStore
from ivr.speech.recognizer import SpeechEngine
from ivr.speech.spec import HeardText, ListenRequest

RATE = 8000
CHUNK_BYTES = 640  # 40 ms, as the media clock hands audio over


def _noise(seconds: float, rms: float, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(0.0, rms, int(seconds * RATE))


def _voice(seconds: float, rms: float) -> np.ndarray:
    """A vowel-like sound: a 150 Hz pitch and its harmonics up to 3 kHz."""
    t = np.arange(int(seconds * RATE)) / RATE
    wave = sum(np.sin(2 * np.pi * 150 * k * t) / k for k in range(1, 21))
    return np.asarray(wave * rms / np.sqrt(np.mean(wave**2)))


def _syllables(seconds: float, rms: float) -> np.ndarray:
    """The voice in 150 ms syllables with 50 ms between them, 20 dB down."""
    t = np.arange(int(seconds * RATE)) / RATE
    return np.asarray(_voice(seconds, rms) * np.where(t % 0.2 < 0.15, 1.0, 0.1))


def _pcm(samples: np.ndarray) -> bytes:
    return bytes(np.clip(np.rint(samples), -32768, 32767).astype("<i2").tobytes())


def _run(suppressor: NoiseSuppressor, audio: bytes, chunk: int = CHUNK_BYTES) -> bytes:
    out = b"".join(suppressor.process(audio[i : i + chunk]) for i in range(0, len(audio), chunk))
    return out + suppressor.flush()


def _floats(pcm: bytes) -> np.ndarray:
    return np.frombuffer(pcm, dtype="<i2").astype(float)


def _rms(pcm: bytes) -> float:
    return float(np.sqrt(np.mean(_floats(pcm) ** 2)))


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


def test_speech_handed_over_as_the_line_noise_leaves_it_off() -> None:
    # A caller who speaks at once: the audio before the detector's onset is the
    # first syllables themselves, not noise to learn.
    suppressor = NoiseSuppressor(RATE)
    suppressor.learn_noise(_pcm(_syllables(0.24, 3000.0)))
    speech = _pcm(_syllables(1.5, 3000.0))
    assert not suppressor.active
    assert _run(suppressor, speech) == speech


def test_noise_is_learnt_from_the_minimum_lead_in_and_not_from_less() -> None:
    noisy = _pcm(_voice(1.0, 4000.0) + _noise(1.0, 1300.0, seed=9))
    enough = NoiseSuppressor(RATE)
    enough.learn_noise(_pcm(_noise(MIN_NOISE_SECONDS, 1300.0, seed=10)))
    assert enough.active
    assert _run(enough, noisy) != noisy and enough.verdict is True
    short = NoiseSuppressor(RATE)
    short.learn_noise(_pcm(_noise(MIN_NOISE_SECONDS - 0.02, 1300.0, seed=10)))
    assert not short.active


def test_a_click_in_the_lead_in_is_not_learnt_as_noise() -> None:
    lead_in = _noise(0.5, 300.0, seed=11)
    lead_in[2000:2002] += (20000.0, -20000.0)  # a click: all frequencies at once
    clicked, steady = NoiseSuppressor(RATE), NoiseSuppressor(RATE)
    clicked.learn_noise(_pcm(lead_in))
    steady.learn_noise(_pcm(_noise(0.5, 300.0, seed=11)))
    speech = _pcm(_voice(1.0, 1500.0) + _noise(1.0, 300.0, seed=12))  # about 14 dB
    apart = _floats(_run(clicked, speech)) - _floats(_run(steady, speech))
    difference = float(np.sqrt(np.mean(apart**2)))
    assert clicked.verdict is steady.verdict is True
    assert difference < 0.05 * _rms(speech)  # the same suppression, less a few windows


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> SpeechEngine:
    models = tmp_path_factory.mktemp("asr_models")
    install_korean_model(models)
    speech = SpeechEngine(ModelStore(models), pool_size=1)
    speech.load("ko")
    return speech


async def _listen(engine: SpeechEngine, audio: bytes) -> HeardText:
    listener = UtteranceListener(engine, ListenRequest("ko", ("비밀번호 초기화",), 0.6, 6.0))
    for offset in range(0, len(audio), CHUNK_BYTES):
        listener.on_caller_audio(audio[offset : offset + CHUNK_BYTES])
        await asyncio.sleep(0)
    listener.end_of_input()
    return await asyncio.wait_for(listener.heard(), 30)


async def test_a_caller_who_speaks_at_once_is_heard_as_said(engine: SpeechEngine) -> None:
    # Voices that start loud fool the detector's first frames (its calibration), so
    # the "noise" handed over was speech and the suppressor came on (issue 18).
    for voice in ("ko+m1", "ko+m5"):
        speech = testset.speak("비밀번호 초기화", voice, 165)
        heard = await _listen(engine, testset.pad(speech, lead=0.0))
        assert not heard.denoised, voice


async def test_a_noisy_line_with_a_lead_in_is_still_cleaned(engine: SpeechEngine) -> None:
    speech = testset.speak("비밀번호 초기화", "ko+m1", 165)
    noisy = testset.add_noise(testset.pad(speech), 10, seed=1, speech=speech)
    heard = await _listen(engine, noisy)
    assert heard.denoised
    assert heard.text == "비밀번호 초기화"
