"""Choose the intent scorer's constants on the TUNING sets (bench/paraphrase-tuning/),
never on the frozen ones: a grid over the meaning weight, the centroid's share of the
meaning, the bonus for the best intent's lead, the refusal point and the two margins;
prints the best settings whose out-of-menu refusal is at least ``--refusal`` in every
language with no yes/no swap.

    .venv/bin/python bench/tune_intents.py [--refusal 0.85]
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ivr.dialplan.loader import check_plan  # noqa: E402
from ivr.speech import answers, intents  # noqa: E402
from ivr.speech.sentence_eval import evaluate_sentences, plan_path_of, read_set  # noqa: E402

TUNING = REPO / "bench" / "paraphrase-tuning"
GRID = {
    "MEANING_WEIGHT": (0.8, 0.9),
    "CENTROID_WEIGHT": (0.0, 0.3),
    "MARGIN_BONUS": (0.0, 0.5, 1.0),
    "REFUSAL_SCORE": (0.42, 0.44, 0.46, 0.47, 0.48, 0.50),
    "AMBIGUITY_MARGIN": (0.02, 0.04),
    "UNMARKED_ANSWER_MARGIN": (0.05, 0.1),
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--refusal", type=float, default=0.85)
    args = parser.parse_args()
    sets = []
    for path in sorted(TUNING.glob("*.yaml")):
        data = read_set(path)
        plan, problems = check_plan(plan_path_of(path, data))
        assert plan is not None, problems
        sets.append((path.stem, plan, data))
    results = []
    for values in itertools.product(*GRID.values()):
        for name, value in zip(GRID, values, strict=True):
            setattr(answers if hasattr(answers, name) else intents, name, value)
        totals = [evaluate_sentences(plan, data, name).total() for name, plan, data in sets]
        accuracy = sum(t.accuracy for t in totals) / len(totals)
        refusal = min(t.refusal for t in totals)
        swaps = sum(t.swaps for t in totals)
        results.append((accuracy, refusal, swaps, dict(zip(GRID, values, strict=True)), totals))
    fitting = [r for r in results if r[1] >= args.refusal and r[2] == 0]
    for accuracy, refusal, _, setting, totals in sorted(fitting, key=lambda r: -r[0])[:5]:
        per_language = ", ".join(
            f"{name} {t.accuracy:.1%}/{t.refusal:.1%}"
            for (name, _, _), t in zip(sets, totals, strict=True)
        )
        print(f"{accuracy:.1%} right, >= {refusal:.1%} refused: {setting} ({per_language})")
    if not fitting:
        print(f"no setting refuses {args.refusal:.0%} out of menu in every language")


if __name__ == "__main__":
    main()
