"""``ivr speech eval`` on a generated set: the Korean plan's main-menu phrases in three
espeak-ng voices at two speeds, clean and with white noise at 20 dB and 10 dB SNR
(what noise suppression and the second decoding of filler-only transcripts were
tuned on), and a held-out set they were not tuned on: three other voices, two other
speeds, other noise seeds, clean, white and pink noise."""

from __future__ import annotations

from pathlib import Path

import pytest
from speech_support import (
    CACHE,
    KOREAN_PLAN,
    evaluate_menu,
    generate_in_fresh_interpreter,
    install_korean_model,
)
from support.service import run_ivr

from ivr.dialplan.loader import check_plan
from ivr.dialplan.nodes.menu import MenuNode
from ivr.speech import testset

VOICES = ("ko", "ko+m3", "ko+f2")
SPEEDS = (150, 190)
HELD_OUT_VOICES = ("ko+f3", "ko+m1", "ko+m5")
HELD_OUT_SPEEDS = (165, 210)
# What these sets reach, with a margin where there is one. The sets are the same on
# every clone (see speech_support.generate_in_fresh_interpreter); measured on 2026-12-05:
# 91.7% clean, 88.3% at 20 dB, 93.3% at 10 dB; held out 81.7% clean, 83.3% at 10 dB
# white, 81.7% at 10 dB pink.
# Earlier, on sets that differed from clone to clone, means of three runs:
# 92.2% clean, 87.2% at 20 dB, 90.0% at 10 dB; held out 84.4% clean, 80.6% at 10 dB
# white, 84.4% at 10 dB pink. Before filler-only transcripts were decoded again:
# 86.1%, 87.8%, 90.0%; held out 75.0%, 78.9%, 84.4%. Before noise suppression 10 dB
# was 30%, held out 36.7% white and 68.3% pink. The issue aims at 90% clean and 80%
# at 10 dB. Clean audio never goes through the suppressor.
LEAST_ACCURACY = {
    "clean": 0.9,
    "snr20": 0.8,
    "snr10": 0.85,
    "heldout-clean": 0.8,
    "heldout-snr10": 0.75,
    "heldout-pink10": 0.75,
}


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("asr_models")
    install_korean_model(directory)
    return directory


def _phrases(models_dir: Path) -> dict[str, list[str]]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("IVR_ASR_MODELS_DIR", str(models_dir))
        plan, problems = check_plan(KOREAN_PLAN)
    assert plan is not None, problems
    menu = plan.nodes["main_menu"]
    assert isinstance(menu, MenuNode)
    return {intent: list(plan.intents[intent].phrases_for("ko")) for intent in menu.intents}


@pytest.mark.parametrize(
    ("condition", "snr", "colour"),
    [
        ("clean", None, "white"),
        ("snr20", 20, "white"),
        ("snr10", 10, "white"),
        ("heldout-clean", None, "white"),
        ("heldout-snr10", 10, "white"),
        ("heldout-pink10", 10, "pink"),
    ],
)
def test_speech_eval_reports_accuracy_on_a_generated_set(
    models_dir: Path, condition: str, snr: float | None, colour: str
) -> None:
    folder = CACHE / "eval" / condition
    held_out = condition.startswith("heldout")
    voices, speeds = (HELD_OUT_VOICES, HELD_OUT_SPEEDS) if held_out else (VOICES, SPEEDS)
    generate_in_fresh_interpreter(_phrases(models_dir), folder, voices, speeds, (snr,), colour)
    report = evaluate_menu(folder, models_dir)
    print(
        f"{condition}: accuracy {report['accuracy']:.1%}, no-match {report['no_match_rate']:.1%}, "
        f"latency p50 {report['latency_ms']['p50']} ms p95 {report['latency_ms']['p95']} ms, "
        f"denoised {report['denoised']} files, {report['denoise_ms']['p50']} ms p50, "
        f"decoded again {report['decoded_again']} files"
    )
    assert report["files"] == 10 * len(voices) * len(speeds)
    assert set(report["per_intent"]) == {"password", "agent", "software", "expense", "status"}
    assert report["accuracy"] >= LEAST_ACCURACY[condition], report["per_intent"]
    if snr is None:
        assert report["denoised"] == 0
    elif snr <= 10:
        assert report["denoised"] >= 0.9 * report["files"]


# Everyday speech that is none of the menu's intents: the grammar forces it onto its
# words, so rejecting it rests on the filler words (and on weighing them, see
# ivr.dialplan.speech_turn.menu_share). Measured 44-50% rejected (21% before).
OUT_OF_MENU = [
    "오늘 날씨가 정말 좋네요",
    "점심 뭐 먹을까요",
    "여보세요",
    "잘 모르겠어요",
    "회의실 예약하고 싶어요",
    "택배가 아직 안 왔어요",
]


def test_speech_eval_rejects_most_speech_outside_the_menu(models_dir: Path) -> None:
    folder = CACHE / "eval" / "out-of-menu"
    generate_in_fresh_interpreter(
        {"none": OUT_OF_MENU}, folder, ("ko", "ko+f3", "ko+m1"), (165, 190)
    )
    report = evaluate_menu(folder, models_dir)
    print(f"out of menu: {report['accuracy']:.1%} rejected; {report['confusion']}")
    assert report["files"] == 36
    assert report["accuracy"] >= 0.35, report["confusion"]


def test_speech_eval_prints_the_table_and_takes_recordings(
    models_dir: Path, tmp_path: Path
) -> None:
    # A call recording is stereo, the caller on the left: replayed like any file.
    mono = testset.pad(testset.speak("상담원 연결"))
    stereo = bytearray()
    for index in range(0, len(mono), 2):
        stereo += mono[index : index + 2] + b"\x00\x00"
    import wave

    with wave.open(str(tmp_path / "agent__call-17.wav"), "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(bytes(stereo))
    result = run_ivr(
        "speech", "eval", str(KOREAN_PLAN), str(tmp_path), "--models-dir", str(models_dir)
    )
    assert result.returncode == 0, result.stderr
    assert "plan default, menu main_menu: 1 files" in result.stdout
    assert "agent           1/1" in result.stdout
    assert "confusion (rows: said, columns: understood)" in result.stdout
    assert "latency end of speech -> intent: p50" in result.stdout


def test_speech_eval_names_a_menu_that_does_not_listen(models_dir: Path, tmp_path: Path) -> None:
    result = run_ivr(
        "speech",
        "eval",
        str(KOREAN_PLAN),
        str(tmp_path),
        "--menu",
        "goodbye",
        "--models-dir",
        str(models_dir),
    )
    assert result.returncode == 1
    assert (
        "'goodbye' is not a menu with intents in 'default' (main_menu, password)" in result.stderr
    )
