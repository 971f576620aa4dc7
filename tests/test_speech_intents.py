"""Intent scoring, speech in plans (validation, the simulator, scripted cases)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest
from speech_support import KOREAN_CASES, KOREAN_PLAN, install_korean_model, korean_main_menu
from support.service import run_ivr

from ivr.dialplan.loader import check_plan
from ivr.dialplan.speech_turn import MenuSpeech, understand, understand_heard
from ivr.speech.intents import Intent, IntentScorer, similarity
from ivr.speech.spec import HeardText, HeardWord

INTENTS = [
    Intent(
        "password",
        {"ko": ("비밀번호 초기화",), "zh": ("重置密码", "忘记密码"), "en": ("reset my password",)},
        keywords={"ko": ("비밀번호",), "zh": ("密码",), "en": ("password",)},
        synonyms={"ko": {"비밀번호": "비밀번호"}, "zh": {"口令": "密码"}},
    ),
    Intent(
        "agent",
        {"ko": ("상담원 연결",), "zh": ("转人工", "人工服务"), "en": ("talk to an agent",)},
        keywords={"zh": ("人工",), "en": ("agent", "human")},
    ),
]


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("asr_models")
    install_korean_model(directory)
    return directory


@pytest.mark.parametrize(
    ("language", "said", "intent"),
    [
        ("zh", "我想重置密码", "password"),  # no spaces: character n-grams still match
        ("zh", "帮我转人工服务", "agent"),
        ("zh", "我的口令忘了", "password"),  # a synonym of the keyword
        ("ko", "비밀번호 초기화 해 주세요", "password"),
        ("ko", "상담원 연결", "agent"),
        ("en", "I need to reset my password", "password"),
        ("en", "can I talk to a human", "agent"),
        ("en", "Talk to an AGENT!", "agent"),  # case and punctuation do not matter
    ],
)
def test_intents_are_scored_with_and_without_spaces(language: str, said: str, intent: str) -> None:
    decision = IntentScorer(INTENTS, language).decide(said, 1.0, 0.5)
    assert decision.intent == intent, decision


def test_unrelated_or_unsure_speech_is_no_match() -> None:
    scorer = IntentScorer(INTENTS, "en")
    assert scorer.decide("what is the weather like", 1.0, 0.5).reason == "below_threshold"
    # The right words, heard with little confidence by the recognizer, are not enough.
    assert scorer.decide("reset my password", 0.3, 0.5).intent is None
    assert scorer.decide("", 1.0, 0.5).reason == "nothing_heard"
    twins = [Intent("a", {"en": ("open a ticket",)}), Intent("b", {"en": ("open the ticket",)})]
    both = IntentScorer(twins, "en").decide("open ticket", 1.0, 0.5)
    assert both.intent is None and both.reason == "ambiguous", both


def test_similarity_is_one_for_the_same_text_and_low_for_different_text() -> None:
    assert similarity("重置密码", "重置密码") == 1.0
    assert similarity("重置密码", "人工服务") < 0.2


def test_grammar_holds_every_phrase_keyword_and_synonym_of_the_language() -> None:
    grammar = IntentScorer(INTENTS, "zh").grammar()
    assert set(grammar) == {"重置密码", "忘记密码", "密码", "口令", "转人工", "人工服务", "人工"}


def _plan(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "plan.yaml"
    path.write_text(body, encoding="utf-8")
    return path


SPEECH_PLAN = """\
plan: speechy
voice: ko
speech: {{model: {model}}}
intents:
  agent: {{phrases: [상담원]}}
start: menu
nodes:
  menu:
    type: menu
    say: 말씀하세요
    intents: {{agent: bye, billing: bye}}
    fallback: bye
  bye: {{type: hangup}}
"""


def test_an_intent_used_but_not_defined_is_reported_at_its_line(
    tmp_path: Path, models_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IVR_ASR_MODELS_DIR", str(models_dir))
    path = _plan(tmp_path, SPEECH_PLAN.format(model="ko"))
    plan, problems = check_plan(path)
    assert plan is None
    assert [str(p) for p in problems] == [
        f"{path}:11:27: intent 'billing' used but not defined (defined: agent)"
    ]


def test_a_plan_needing_a_model_that_is_not_installed_is_flagged_by_validation(
    tmp_path: Path, models_dir: Path
) -> None:
    # Speech is set up (ko is installed) but not this plan's model: an error.
    plan = _plan(tmp_path, SPEECH_PLAN.format(model="en-us").replace(", billing: bye", ""))
    result = run_ivr("dialplan", "validate", str(plan), "--models-dir", str(models_dir))
    assert result.returncode == 1
    assert (
        f"{plan}:3:17: speech model 'en-us' is not installed in {models_dir} "
        "(installed: ko); install it with `ivr models install`"
    ) in result.stdout
    # No model at all: the site runs keys only, the plan loads with a warning.
    empty = tmp_path / "no-models"
    empty.mkdir()
    result = run_ivr("dialplan", "validate", str(plan), "--models-dir", str(empty))
    assert result.returncode == 0
    assert f"{plan}:3:17: warning: speech model 'en-us' is not installed" in result.stdout


def _heard(*words: tuple[str, float]) -> HeardText:
    confidence = sum(c for _, c in words) / len(words)
    text = " ".join(w for w, _ in words)
    return HeardText(text, confidence, 0.0, 0.0, 0.0, words=tuple(HeardWord(*w) for w in words))


@pytest.mark.parametrize(
    ("words", "intent"),
    [
        # "오늘 날씨가 정말 좋네요" as a real call heard it: mostly filler, one menu word.
        ((("오늘", 0.9), ("확인", 1.0), ("정말", 0.8), ("오늘", 0.9)), None),
        # Noise slipped a filler word in, heard with low confidence: still the intent.
        ((("상태", 1.0), ("확인", 1.0), ("음", 0.4)), "status"),
        ((("비밀번호", 0.92), ("오늘", 0.53)), "password"),
    ],
)
def test_filler_words_heard_with_confidence_count_against_the_menu(
    models_dir: Path, words: tuple[tuple[str, float], ...], intent: str | None
) -> None:
    understood = understand(korean_main_menu(models_dir), _heard(*words))
    assert understood.match.intent == intent, understood
    assert understood.menu_share < 1


def test_korean_plan_cases_pass_in_the_simulator(models_dir: Path) -> None:
    result = run_ivr(
        "dialplan", "test", str(KOREAN_PLAN), str(KOREAN_CASES), "--models-dir", str(models_dir)
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 passed, 0 failed" in result.stdout


def test_simulator_takes_spoken_lines(models_dir: Path) -> None:
    result = run_ivr(
        "dialplan",
        "simulate",
        str(KOREAN_PLAN),
        "--models-dir",
        str(models_dir),
        stdin="say 비용 처리\n9\n",
    )
    assert result.returncode == 0, result.stderr
    assert "IVR: 비용입니다." in result.stdout
    assert "path: main_menu -> expense -> main_menu -> goodbye" in result.stdout


class _ScriptedListening:
    """What a decoder heard first and what it hears when asked again (None: no thread
    or time for it): the recognizer's own answers are tested over real audio in
    test_speech_listener.py; here only the choice between them."""

    def __init__(self, first: HeardText, again: HeardText | None) -> None:
        self.speech_started = asyncio.Event()
        self._first, self._again = first, again
        self.asked_again: tuple[str, ...] | None = None

    async def heard(self) -> HeardText:
        return self._first

    async def heard_again(
        self, first: HeardText, grammar: tuple[str, ...], budget_seconds: float
    ) -> HeardText | None:
        self.asked_again = grammar
        if self._again is None:
            return None
        return replace(self._again, first_heard=first.text, decode_ms=first.decode_ms + 50)

    def close(self) -> None:
        return None


def _wider(models_dir: Path) -> MenuSpeech:
    menu = korean_main_menu(models_dir)
    request = menu.request
    wider = (*(request.grammar or ()), *menu.scorer.example_words(), *request.filler)
    return replace(menu, request=replace(request, wider=wider))


async def test_a_weak_result_is_decoded_again_and_the_wider_transcript_taken_when_it_matches(
    models_dir: Path,
) -> None:
    menu = _wider(models_dir)
    assert "암호" in menu.request.wider and "암호" not in (menu.request.grammar or ())
    listening = _ScriptedListening(
        _heard(("음", 0.9), ("상담원", 0.4), ("글쎄요", 0.7)), _heard(("암호", 0.9), ("돼요", 0.8))
    )
    understood = await understand_heard(menu, listening)
    assert listening.asked_again == menu.request.wider
    assert understood.match.intent == "password" and understood.decoded_wider
    assert understood.heard.first_heard == "음 상담원 글쎄요"


async def test_a_weak_result_stays_when_the_wider_transcript_matches_nothing_either(
    models_dir: Path,
) -> None:
    listening = _ScriptedListening(_heard(("음", 0.9), ("글쎄요", 0.7)), _heard(("돼요", 0.8)))
    understood = await understand_heard(_wider(models_dir), listening)
    assert understood.match.intent is None and understood.heard.text == "음 글쎄요"
    assert understood.decoded_wider and understood.heard.decode_ms == 50  # the caller waited


@pytest.mark.parametrize("busy", [False, True])
async def test_a_clear_result_or_a_busy_decoding_pool_means_one_decoding(
    models_dir: Path, busy: bool
) -> None:
    first = _heard(("비밀번호", 1.0), ("초기화", 1.0)) if not busy else _heard(("음", 0.9))
    listening = _ScriptedListening(first, None if busy else _heard(("상담원", 1.0)))
    understood = await understand_heard(_wider(models_dir), listening)
    assert not understood.decoded_wider and understood.heard.text == first.text
    assert (listening.asked_again is not None) == busy  # a weak result was asked again


def test_menus_do_not_decode_again_unless_switched_on(models_dir: Path) -> None:
    assert not korean_main_menu(models_dir).request.wider  # speech_turn.WIDER_DECODING
