"""The listener over real audio: voice activity, end of utterance, streaming decode,
one shared model for many simultaneous utterances."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from speech_support import install_korean_model, korean_main_menu

from ivr.dialplan.speech_turn import MenuSpeech, understand
from ivr.speech import testset
from ivr.speech.listener import UtteranceListener
from ivr.speech.models import ModelStore
from ivr.speech.recognizer import SpeechEngine
from ivr.speech.spec import ListenRequest

CHUNK = 640  # 40 ms, as the media clock delivers it
GRAMMAR = ("비밀번호 초기화", "상담원 연결", "비용 처리")


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("asr_models")
    install_korean_model(directory)
    return directory


@pytest.fixture(scope="module")
def engine(models: Path) -> SpeechEngine:
    speech = SpeechEngine(ModelStore(models), pool_size=2)
    speech.load("ko")
    return speech


@pytest.fixture(scope="module")
def main_menu(models: Path) -> MenuSpeech:
    return korean_main_menu(models)


async def _feed(listener: UtteranceListener, pcm: bytes) -> None:
    for offset in range(0, len(pcm), CHUNK):
        listener.on_caller_audio(pcm[offset : offset + CHUNK])
        await asyncio.sleep(0)  # the decoding pool works while audio keeps coming


async def test_an_utterance_ends_after_trailing_silence_with_its_transcript(
    engine: SpeechEngine,
) -> None:
    speech = testset.speak("상담원 연결")
    listener = UtteranceListener(engine, ListenRequest("ko", GRAMMAR, 0.6, 6.0))
    await _feed(listener, bytes(8000) + speech)
    assert listener.speech_started.is_set() and not listener.done
    await _feed(listener, bytes(int(0.7 * 16000)))
    assert listener.done
    heard = await listener.heard()
    assert heard.text == "상담원 연결" and heard.ended_by == "silence"
    spoken = len(speech) / 16000
    assert abs((heard.ended_at - heard.started_at) - spoken) < 0.3, (heard, spoken)
    assert 0 <= heard.decode_ms < 500


async def test_silence_and_line_noise_are_not_speech(engine: SpeechEngine) -> None:
    listener = UtteranceListener(engine, ListenRequest("ko", GRAMMAR))
    quiet_noise = testset.add_noise(bytes(3 * 16000), 0, speech=b"\x64\x00" * 8000)  # RMS ~100
    await _feed(listener, quiet_noise)
    assert not listener.speech_started.is_set()
    listener.close()


async def test_an_utterance_that_goes_on_stops_at_the_maximum_length(engine: SpeechEngine) -> None:
    long_speech = b"".join(testset.speak("비밀번호 초기화 상담원 연결 비용 처리") for _ in range(3))
    listener = UtteranceListener(engine, ListenRequest("ko", GRAMMAR, 0.6, 2.0))
    await _feed(listener, bytes(4000) + long_speech)
    assert listener.done
    heard = await listener.heard()
    assert heard.ended_by == "max_length"
    assert 1.8 <= heard.ended_at - heard.started_at <= 2.4


async def test_a_menu_word_taken_for_a_short_filler_word_is_decoded_again_with_the_menu_alone(
    engine: SpeechEngine, main_menu: MenuSpeech
) -> None:
    # espeak's "프로그램" at 150 wpm decodes as the filler "음" over a fraction of it.
    listener = UtteranceListener(engine, main_menu.request)
    await _feed(listener, bytes(8000) + testset.speak("프로그램", "ko", 150) + bytes(11200))
    heard = await listener.heard()
    assert (heard.filler_heard, heard.text) == ("음", "프로그램")
    assert understand(main_menu, heard).match.intent == "software"


async def test_an_utterance_is_decoded_again_from_its_kept_audio_with_another_grammar(
    engine: SpeechEngine,
) -> None:
    listener = UtteranceListener(engine, ListenRequest("ko", ("상담원 연결", "비용 처리")))
    await _feed(listener, bytes(8000) + testset.speak("비밀번호 초기화") + bytes(11200))
    first = await listener.heard()
    again = await listener.heard_again(first, GRAMMAR, budget_seconds=5.0)
    assert again is not None and again.text == "비밀번호 초기화", again
    assert again.first_heard == first.text and again.constrained
    assert again.decode_ms >= first.decode_ms and again.started_at == first.started_at


async def test_a_second_decoding_that_outruns_its_budget_is_given_up(
    engine: SpeechEngine,
) -> None:
    listener = UtteranceListener(engine, ListenRequest("ko", GRAMMAR))
    await _feed(listener, bytes(8000) + testset.speak("비밀번호 초기화") + bytes(11200))
    first = await listener.heard()
    assert await listener.heard_again(first, GRAMMAR, budget_seconds=-1.0) is None


async def test_a_filler_word_spanning_the_speech_stays_as_heard(
    engine: SpeechEngine, main_menu: MenuSpeech
) -> None:
    listener = UtteranceListener(engine, main_menu.request)
    await _feed(listener, bytes(8000) + testset.speak("오늘") + bytes(11200))
    heard = await listener.heard()
    assert (heard.filler_heard, heard.text) == ("", "오늘")
    assert understand(main_menu, heard).match.intent is None


async def test_single_words_beside_the_phrases_let_a_sentence_nobody_listed_come_out_whole(
    engine: SpeechEngine,
) -> None:
    # "계정이" is not in the model's vocabulary: left out of the grammar, not fatal.
    request = ListenRequest("ko", GRAMMAR, words=("직원", "연결해", "주세요", "계정이"))
    listener = UtteranceListener(engine, request)
    await _feed(
        listener, bytes(8000) + testset.speak("직원 연결해 주세요", "ko", 160) + bytes(11200)
    )
    heard = await listener.heard()
    assert heard.text.endswith("연결해 주세요"), heard.text  # words of no phrase, chained
    assert engine.known("ko", request.words) == ["직원", "연결해", "주세요"]


async def test_many_callers_at_once_share_one_model(engine: SpeechEngine) -> None:
    said = ["비밀번호 초기화", "상담원 연결", "비용 처리"] * 4
    listeners = [UtteranceListener(engine, ListenRequest("ko", GRAMMAR)) for _ in said]
    audio = [bytes(4000) + testset.speak(text) + bytes(16000) for text in said]
    for offset in range(0, max(len(a) for a in audio), CHUNK):
        for listener, pcm in zip(listeners, audio, strict=True):
            listener.on_caller_audio(pcm[offset : offset + CHUNK])
        await asyncio.sleep(0)
    heard = await asyncio.gather(*(listener.heard() for listener in listeners))
    assert [h.text for h in heard] == said
    engine.load("ko")  # a second load is a no-op: one model per process
    assert engine.loaded == ["ko"]


def test_a_model_that_is_not_installed_is_named(tmp_path: Path) -> None:
    from ivr.exceptions import SpeechError

    with pytest.raises(SpeechError, match="speech model 'xx' is not installed in"):
        SpeechEngine(ModelStore(tmp_path), 1).load("xx")
