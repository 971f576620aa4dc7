"""Choose the own-words weighing of the intent scorer (``ivr.speech.weighing.OWN_WORDS``) on the
TUNING sets (bench/paraphrase-tuning/*.yaml and bench/paraphrase-tuning/dev/*.yaml),
never on the frozen ones: a grid over the meaning weight, how many of an intent's
nearest texts make its meaning, the centroid's share of the meaning, the bonus for the
best intent's lead, the refusal point and how near the plan's out-of-scope sentences
must come to refuse. Prints the settings with the most main-menu sentences right
among those whose out-of-menu refusal is, in every set, at least ``--floor`` (or,
without it, the grammar weighing's, ``weighing.GRAMMAR``, less ``--tolerance``).
Yes/no menus are weighed as ``GRAMMAR`` whatever the grid says.

    .venv/bin/python bench/tune_intents.py [--floor 0.8 | --tolerance 0.0]
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ivr.dialplan.loader import check_plan  # noqa: E402
from ivr.speech import weighing  # noqa: E402
from ivr.speech.sentence_eval import (  # noqa: E402
    MenuFigures,
    evaluate_sentences,
    plan_path_of,
    read_set,
)

TUNING = REPO / "bench" / "paraphrase-tuning"
GRID = {
    "meaning_weight": (0.8, 0.9),
    "nearest": (1, 2),
    "centroid_weight": (0.0, 0.3),
    "margin_bonus": (1.0, 1.5, 2.0),
    "refusal_score": (0.46, 0.50, 0.54, 0.58),
    "out_of_scope_margin": (-0.04, -0.02, 0.0, 0.02),
}


def main_menus(sets: list[tuple[str, object, dict]]) -> list[MenuFigures]:
    figures = []
    for name, plan, data in sets:
        report = evaluate_sentences(plan, data, name)  # type: ignore[arg-type]
        figures.append(next(m for m in report.menus if m.menu == "main_menu"))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tolerance", type=float, default=0.0)
    parser.add_argument(
        "--floor",
        type=float,
        help="out-of-menu refusal every set must keep (default: GRAMMAR's less --tolerance)",
    )
    args = parser.parse_args()
    sets = []
    for path in sorted([*TUNING.glob("*.yaml"), *TUNING.glob("dev/*.yaml")]):
        data = read_set(path)
        plan, problems = check_plan(plan_path_of(path, data))
        assert plan is not None, problems
        sets.append((str(path.relative_to(TUNING)), plan, data))
    chosen = weighing.OWN_WORDS
    weighing.OWN_WORDS = weighing.GRAMMAR
    floors = [
        args.floor if args.floor is not None else m.refusal - args.tolerance
        for m in main_menus(sets)
    ]
    results = []
    for values in itertools.product(*GRID.values()):
        weighing.OWN_WORDS = weighing.Weighing(**dict(zip(GRID, values, strict=True)))  # type: ignore[arg-type]
        figures = main_menus(sets)
        if all(m.refusal >= floor - 1e-9 for m, floor in zip(figures, floors, strict=True)):
            accuracy = sum(m.accuracy for m in figures) / len(figures)
            results.append((accuracy, weighing.OWN_WORDS, figures))
    weighing.OWN_WORDS = chosen
    for accuracy, setting, figures in sorted(results, key=lambda r: -r[0])[:8]:
        per_set = ", ".join(
            f"{name} {m.accuracy:.1%}/{m.refusal:.1%}"
            for (name, _, _), m in zip(sets, figures, strict=True)
        )
        print(f"{accuracy:.1%} right: {dataclasses.astuple(setting)} ({per_set})")
    if not results:
        print("no setting refuses as much out of menu as the grammar weighing in every set")


if __name__ == "__main__":
    main()
