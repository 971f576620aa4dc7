"""Spoken paraphrases: the frozen Korean set (tests/data/paraphrase/ko.yaml) in three
voice settings, clean and with white noise at 20 and 10 dB SNR, through ``ivr speech
eval`` on the Korean plan's main menu and yes/no question. Prints one line a condition.

    .venv/bin/python bench/speech_paraphrase.py [--conditions clean,snr20,snr10]

It reads the frozen set: run it to report a figure, never while tuning (the tuning
runs are bench/speech_two_stage.py and bench/speech_nbest.py on bench/paraphrase-tuning/).

The files are cached in var/test-cache/speech/paraphrase (the same on every clone).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from speech_support import (  # noqa: E402
    evaluate_menu,
    install_korean_model,
    spoken_paraphrases,
)

CONDITIONS = ("clean", "snr20", "snr10")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--conditions",
        default=",".join(CONDITIONS),
        help=f"comma-separated, of {', '.join(CONDITIONS)} (default: all)",
    )
    conditions = parser.parse_args().conditions.split(",")
    unknown = set(conditions) - set(CONDITIONS)
    if unknown:
        parser.error(f"unknown condition(s): {', '.join(sorted(unknown))}")
    with tempfile.TemporaryDirectory() as models:
        install_korean_model(Path(models))
        for condition in conditions:
            main_menu = evaluate_menu(spoken_paraphrases("main_menu", condition), Path(models))
            yes_no = evaluate_menu(
                spoken_paraphrases("password", condition), Path(models), menu="password"
            )
            rows = main_menu["rows"]
            in_menu = [r for r in rows if r["expected"] != "none"]
            outside = [r for r in rows if r["expected"] == "none"]
            right = sum(r["got"] == r["expected"] for r in in_menu) / len(in_menu)
            refused = sum(r["got"] == "none" for r in outside) / len(outside)
            swaps = sum(
                n for k, n in yes_no["confusion"].items() if k in ("yes -> no", "no -> yes")
            )
            print(
                f"{condition:>6}: main menu {right:.1%} right of {len(in_menu)}, out of menu "
                f"{refused:.1%} refused of {len(outside)}, yes/no {yes_no['accuracy']:.1%} "
                f"right of {yes_no['files']} ({swaps} swaps), intent latency p95 "
                f"{main_menu['latency_ms']['p95']} ms"
            )


if __name__ == "__main__":
    main()
