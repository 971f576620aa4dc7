"""Callers' own words, spoken: the frozen Korean paraphrase set (tests/data/paraphrase/
ko.yaml, written before any tuning, never tuned on) synthesised in three voice
settings (voice, speed, pitch), clean and with white noise at 10 dB SNR, through
``ivr speech eval`` on the Korean plan's main menu and its yes/no question.

The floors hold what was measured (bench/RESULTS.md); they are below the issue's
targets. The 20 dB condition runs in bench/speech_paraphrase.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from speech_support import (
    PARAPHRASE_SETTINGS,
    evaluate_menu,
    install_korean_model,
    spoken_paraphrases,
)

# condition: (main menu right, out of menu refused, yes/no right). Measured 2026-12-05
# with grammar decoding of the menu's phrases (bench/speech_paraphrase.py): clean
# 10.0%, 60.2%, 21.2% (4 swaps); 10 dB 11.4%, 62.0%, 18.2% (4 swaps). On 2026-12-06,
# with the answers' words read (ivr/speech/answers.py), yes/no 28.8% (4 swaps) clean
# and 21.2% (5 swaps) at 10 dB. Spoken paraphrases reach the intent layer only as the
# grammar's words; the issue aims at 80% clean and 70% at 10 dB.
FLOORS = {"clean": (0.08, 0.45, 0.25), "snr10": (0.1, 0.45, 0.18)}


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("asr_models")
    install_korean_model(directory)
    return directory


def _share(report: dict[str, Any], right: bool, none: bool) -> float:
    rows = [r for r in report["rows"] if (r["expected"] == "none") == none]
    hits = [r for r in rows if (r["got"] == r["expected"]) == right]
    return len(hits) / len(rows) if rows else 0.0


@pytest.mark.parametrize("condition", sorted(FLOORS))
def test_spoken_paraphrases_hold_their_floors(models_dir: Path, condition: str) -> None:
    menu_right, refused, yes_no_right = FLOORS[condition]
    main = evaluate_menu(spoken_paraphrases("main_menu", condition), models_dir)
    yes_no = evaluate_menu(spoken_paraphrases("password", condition), models_dir, menu="password")
    swaps = sum(n for k, n in yes_no["confusion"].items() if k in ("yes -> no", "no -> yes"))
    print(
        f"{condition}: main menu {_share(main, True, False):.1%} right, "
        f"out of menu {_share(main, True, True):.1%} refused, "
        f"yes/no {yes_no['accuracy']:.1%} right, {swaps} swaps; "
        f"latency p95 {main['latency_ms']['p95']} ms"
    )
    assert main["files"] == 106 * len(PARAPHRASE_SETTINGS)
    assert yes_no["files"] == 22 * len(PARAPHRASE_SETTINGS)
    assert _share(main, True, False) >= menu_right, main["confusion"]
    assert _share(main, True, True) >= refused, main["confusion"]
    assert yes_no["accuracy"] >= yes_no_right, yes_no["confusion"]
