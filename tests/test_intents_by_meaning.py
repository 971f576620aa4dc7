"""Intents by meaning: callers' own words in Korean, Chinese and English, as text.

The floors hold on the frozen sets of tests/data/paraphrase/ (written before any
tuning, never tuned on); they guard what was last measured (see bench/RESULTS.md).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.service import REPO, run_ivr

from ivr.dialplan.loader import check_plan
from ivr.dialplan.nodes.menu import MenuNode
from ivr.dialplan.speech_turn import menu_request, understand
from ivr.speech.answers import Polarity
from ivr.speech.intents import Intent, IntentScorer
from ivr.speech.spec import HeardText

FROZEN = REPO / "tests" / "data" / "paraphrase"

# language: (main menu right, out-of-menu refused), a little under what was measured on
# 2026-12-06 (en 94.4% / 96.2%, zh 91.7% / 96.0%, ko 87.1% / 86.1%); English and
# Chinese hold the targets, 90% / 80%.
FLOORS = {"en": (0.92, 0.92), "ko": (0.85, 0.83), "zh": (0.90, 0.92)}
# Yes/no questions: right per question, at least (measured: en 13/16 and 16/16, zh 12/16
# and 13/16, ko 22/22); no answer is ever taken for the other side.
YES_NO_FLOORS = {"en": 0.8, "ko": 0.95, "zh": 0.75}


@pytest.mark.parametrize("language", sorted(FLOORS))
def test_frozen_paraphrase_sets_hold_their_floors(language: str) -> None:
    result = run_ivr("speech", "eval-text", str(FROZEN / f"{language}.yaml"), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    main = next(m for m in report["menus"] if m["menu"] == "main_menu")
    right, refused = FLOORS[language]
    assert main["sentences"] >= 60 and main["out_of_menu"] >= 20
    assert main["accuracy"] >= right, main
    assert main["refusal"] >= refused, main
    questions = [m for m in report["menus"] if m["menu"] != "main_menu"]
    assert questions and all(m["swaps"] == 0 for m in report["menus"]), report
    assert all(m["accuracy"] >= YES_NO_FLOORS[language] for m in questions), questions


YES_NO = [
    Intent("yes", {"en": ("yes",), "zh": ("是",), "ko": ("네",)}),
    Intent("no", {"en": ("no",), "zh": ("不是",), "ko": ("아니요",)}),
]


@pytest.mark.parametrize(
    ("language", "said"),
    [
        ("en", "no it's still broken"),
        ("en", "nope"),
        ("en", "I don't think so"),
        ("en", "it is still broken"),
        ("zh", "还是老样子"),
        ("zh", "不行"),
        ("zh", "还没好"),
        ("ko", "아니요 괜찮아요"),
        ("ko", "하지 마세요"),
    ],
)
def test_a_no_is_never_taken_for_a_yes(language: str, said: str) -> None:
    decision = IntentScorer(YES_NO, language).decide(said, 1.0, 0.0)
    assert decision.intent != "yes", decision


@pytest.mark.parametrize(
    ("language", "said"), [("en", "yes, no, I mean"), ("zh", "好的不用了"), ("ko", "네 아니요")]
)
def test_an_answer_with_both_yes_and_no_words_is_asked_again(language: str, said: str) -> None:
    decision = IntentScorer(YES_NO, language).decide(said, 1.0, 0.0)
    assert decision.intent is None and decision.reason == "polarity", decision


@pytest.mark.parametrize(
    ("language", "said"),
    [
        ("en", "yes I tried that but it still fails"),  # tried: yes; solved: no
        ("en", "yeah, same error as before"),
        ("zh", "是试过了 可是还是报错"),
    ],
)
def test_a_yes_before_a_failure_is_asked_again_not_taken(language: str, said: str) -> None:
    decision = IntentScorer(YES_NO, language).decide(said, 1.0, 0.0)
    assert decision.intent is None and decision.reason == "polarity", decision


@pytest.mark.parametrize(
    ("language", "said"),
    [
        ("en", "no problem, I'll wait"),
        ("en", "I don't mind"),
        ("en", "that's okay, I'm not in a rush"),
        ("zh", "没事 我等着"),
        ("zh", "嗯 我不着急"),
    ],
)
def test_a_yes_said_with_a_negation_idiom_is_never_taken_for_a_no(
    language: str, said: str
) -> None:
    decision = IntentScorer(YES_NO, language).decide(said, 1.0, 0.0)
    assert decision.intent != "no", decision


@pytest.mark.parametrize(
    ("language", "said"),
    [
        ("en", "I did what it said but the page just reloads"),
        ("en", "yes I followed the steps, however the portal shows a blank page"),
        ("zh", "我照着做了 可是页面又跳回去了"),  # 可是 (but) holds 是, which is no yes
        ("zh", "新密码设好了 不过邮箱打开又要登录"),
    ],
)
def test_an_answer_with_a_but_and_no_negation_is_on_both_sides(language: str, said: str) -> None:
    polarity = Polarity.of(language)
    assert polarity is not None
    assert polarity.side(said) == "both"
    decision = IntentScorer(YES_NO, language).decide(said, 1.0, 0.0)
    assert decision.intent is None and decision.reason == "polarity", decision


@pytest.mark.parametrize(
    ("language", "said", "side"),
    [
        ("en", "no problems now, it works", "yes"),
        ("en", "no, but thanks", "no"),  # a negation with a "but" stays a no
        ("zh", "还是不行", "no"),
        ("zh", "就是这个问题", None),  # 就是 (just) is no yes
        ("zh", "是的", "yes"),
    ],
)
def test_answer_words_are_read_on_their_side(language: str, said: str, side: str | None) -> None:
    polarity = Polarity.of(language)
    assert polarity is not None
    assert polarity.side(said) == side


def test_a_yes_no_question_hears_short_answers_beside_its_phrases() -> None:
    grammar = IntentScorer(YES_NO, "ko").grammar()
    assert {"네", "아니요", "좋아요", "부탁드려요", "괜찮습니다", "됐어요"} <= set(grammar)
    assert "좋아요" not in IntentScorer(YES_NO[:1], "ko").grammar()  # not a question


@pytest.mark.parametrize(
    ("said", "taken"),
    [
        ("좋아요", "yes"),  # words and meaning agree: taken though no phrase says it
        ("부탁드려요", "yes"),
        ("안 해도 돼요", "no"),
        ("됐어요", None),  # "no thanks", but nearer 네 by meaning: asked again
    ],
)
def test_an_answers_words_vouch_for_its_meaning_and_never_overrule_it(
    said: str, taken: str | None
) -> None:
    plan, problems = check_plan(REPO / "tests" / "plans" / "korean" / "default.yaml")
    assert plan is not None, problems
    node = plan.nodes["password"]
    assert isinstance(node, MenuNode)
    menu = menu_request(plan, node, "ko")
    assert menu is not None and not menu.request.wider  # no second decoding of answers
    understood = understand(menu, HeardText(said, 1.0, 0.0, 0.0, 0.0))
    assert understood.match.intent == taken, understood.match


def test_an_intent_is_found_from_an_example_sentence_it_does_not_spell() -> None:
    intents = [
        Intent("password", {"en": ("reset my password",)}, examples={"en": ("I can't log in",)}),
        Intent(
            "agent", {"en": ("talk to an agent",)}, examples={"en": ("let me speak to a human",)}
        ),
    ]
    scorer = IntentScorer(intents, "en")
    assert scorer.decide("I am unable to log in to my computer", 1.0, 0.5).intent == "password"
    assert scorer.decide("I want to talk to a real person", 1.0, 0.5).intent == "agent"
    assert scorer.decide("what time does the canteen open", 1.0, 0.5).intent is None


def test_the_simulator_understands_chinese_with_no_acoustic_model(tmp_path: Path) -> None:
    cases = tmp_path / "cases.yaml"
    cases.write_text(
        "cases:\n"
        "  - name: a caller who cannot log in, in their own words\n"
        "    caller: '1002'\n"
        "    time: '2026-11-24T10:00:00+08:00'\n"
        "    input: ['say 我登不进电脑了', hangup]\n"
        "    expect:\n"
        "      path: [welcome, office_hours, identify, greet, main_menu, password_reset,\n"
        "             password_solved]\n",
        encoding="utf-8",
    )
    plan = REPO / "dialplans" / "it-helpdesk.zh.yaml"
    directory = REPO / "dialplans" / "directory.csv"
    result = run_ivr("dialplan", "test", str(plan), str(cases), "--directory", str(directory))
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_broken_sentence_set_is_a_clear_error(tmp_path: Path) -> None:
    broken = tmp_path / "set.yaml"
    broken.write_text("language: en\nmenus: [oops\n", encoding="utf-8")
    result = run_ivr("speech", "eval-text", str(broken))
    assert result.returncode == 1
    assert f"{broken}: cannot read the sentence set" in result.stderr


def test_what_the_plan_does_not_serve_is_refused_not_forced_onto_an_intent() -> None:
    intents = [
        Intent(
            "password",
            {"en": ("reset my password",)},
            keywords={"en": ("password",)},
            examples={"en": ("I forgot my password", "my account is locked")},
        ),
        Intent("agent", {"en": ("talk to an agent",)}, examples={"en": ("a real person please",)}),
    ]
    said = "I forgot the password of my gym locker"
    assert IntentScorer(intents, "en").decide(said, 1.0, 0.5).intent == "password"
    outside = ("I forgot the code of my gym locker", "my parcel has not arrived")
    scorer = IntentScorer(intents, "en", out_of_scope=outside)
    refused = scorer.decide(said, 1.0, 0.5)
    assert (refused.intent, refused.reason) == (None, "out_of_scope")
    assert " out of scope" not in refused.scores  # the ticket shows intents only
    assert scorer.decide("I can't remember my password", 1.0, 0.5).intent == "password"
    # A grammar's transcript holds the menu's words whatever was said: never compared.
    assert scorer.decide("password", 1.0, 0.5, constrained=True).intent == "password"


def test_out_of_scope_sentences_are_read_per_language_and_a_wrong_language_is_an_error(
    tmp_path: Path,
) -> None:
    zh, problems = check_plan(REPO / "dialplans" / "it-helpdesk.zh.yaml")
    assert zh is not None and zh.speech is not None, problems
    assert any("快递" in s for s in zh.speech.out_of_scope_for("zh"))
    plan = tmp_path / "default.yaml"
    plan.write_text(
        "plan: default\n"
        "languages: {en: en, zh: cmn}\n"
        "speech:\n"
        "  model: en-us\n"
        "  out_of_scope:\n"
        "    en: [where is my parcel]\n"
        "    fr: [mon colis]\n"
        "start: bye\n"
        "nodes:\n"
        "  bye: {type: hangup}\n",
        encoding="utf-8",
    )
    loaded, problems = check_plan(plan)
    assert loaded is None
    assert [str(p) for p in problems if "'fr'" in str(p)] == [
        f"{plan}:7:5: speech out_of_scope: language 'fr' is not one of the plan's "
        "languages (en, zh)"
    ]


def test_an_operator_adds_out_of_scope_sentences_and_the_menu_refuses_them(
    tmp_path: Path,
) -> None:
    plan = tmp_path / "it-helpdesk.en.yaml"
    plan.write_text((REPO / "dialplans" / "it-helpdesk.en.yaml").read_text(), encoding="utf-8")
    said = "I can't remember the PIN for my credit card"

    def taken() -> str | None:
        loaded, problems = check_plan(plan)
        assert loaded is not None, problems
        node = loaded.nodes["main_menu"]
        assert isinstance(node, MenuNode)
        menu = menu_request(loaded, node, "en")
        assert menu is not None
        return understand(menu, HeardText(said, 1.0, 0.0, 0.0, 0.0)).match.intent

    assert taken() == "password"
    added = "I lost the PIN of my personal credit card"
    result = run_ivr("speech", "accept", str(plan), "--out-of-scope", added)
    assert result.returncode == 0, result.stderr
    assert f"added out_of_scope of speech: {added}" in result.stdout
    assert f"    - {added}\n" in plan.read_text(encoding="utf-8")  # the block list, extended
    assert taken() is None
    again = run_ivr("speech", "accept", str(plan), "--out-of-scope", added)
    assert "already holds all of that" in again.stdout
    alone = run_ivr("speech", "accept", str(plan), "--not-served")
    assert alone.returncode == 2 and "give --suggestion" in alone.stderr


def test_out_of_scope_is_added_per_language_in_a_plan_of_several(tmp_path: Path) -> None:
    plan = tmp_path / "default.yaml"
    plan.write_text(
        "plan: default\n"
        "languages: {en: en, zh: cmn}\n"
        "speech: {model: en-us}\n"
        "start: bye\n"
        "nodes:\n"
        "  bye: {type: hangup}\n",
        encoding="utf-8",
    )
    result = run_ivr(
        "speech", "accept", str(plan), "--out-of-scope", "我的快递到了吗", "--language", "zh"
    )
    assert result.returncode == 0, result.stderr
    loaded, problems = check_plan(plan)
    assert loaded is not None and loaded.speech is not None, problems
    assert loaded.speech.out_of_scope == {"zh": ("我的快递到了吗",)}
    no_language = run_ivr("speech", "accept", str(plan), "--out-of-scope", "where is my parcel")
    assert no_language.returncode == 0, no_language.stderr  # the plan's speech language, en
    loaded, _ = check_plan(plan)
    assert loaded is not None and loaded.speech is not None
    assert loaded.speech.out_of_scope_for("en") == ("where is my parcel",)
