"""``ivr speech eval``: labelled audio through the same listening and intent path as calls.

Files are ``<intent>__<anything>.wav`` (``none__...`` for audio that should
match nothing); any rate, mono or stereo (a call recording: the caller is the
left channel). Each file is fed in 40 ms chunks, as the media clock feeds a
call, into the listener built from the plan's menu (grammar, thresholds, end
of utterance); the decoder is kept caught up, as it is in real time, so the
latency is what a caller waits: end of speech to intent.
"""

from __future__ import annotations

import asyncio
import json
import warnings
import wave
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ivr.dialplan.model import Plan
from ivr.dialplan.nodes.menu import MenuNode
from ivr.dialplan.speech_turn import MenuSpeech, Understood, menu_request, understand_heard
from ivr.exceptions import SpeechError
from ivr.media.audio_format import BYTES_PER_SECOND, SAMPLE_RATE
from ivr.speech.listener import UtteranceListener
from ivr.speech.recognizer import SpeechEngine

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

CHUNK_BYTES = BYTES_PER_SECOND * 40 // 1000
TRAILING_SILENCE_SECONDS = 3.0  # fed after the file, so the utterance can end
NO_INTENT = "none"


def read_caller_audio(path: Path) -> bytes:
    """8 kHz mono 16-bit PCM of ``path`` (the left channel of a stereo file).

    Raises:
        SpeechError: not a readable PCM WAV file.
    """
    try:
        with wave.open(str(path), "rb") as wav:
            width, channels, rate = wav.getsampwidth(), wav.getnchannels(), wav.getframerate()
            data = wav.readframes(wav.getnframes())
    except (wave.Error, EOFError, OSError) as exc:
        raise SpeechError(f"{path}: not a readable WAV file ({exc})") from exc
    if channels == 2:
        data = audioop.tomono(data, width, 1.0, 0.0)
    elif channels != 1:
        raise SpeechError(f"{path}: {channels} channels; expected mono or stereo")
    if width != 2:
        data = audioop.lin2lin(data, width, 2)
    if rate != SAMPLE_RATE:
        data, _ = audioop.ratecv(data, 2, 1, rate, SAMPLE_RATE, None)
    return data


def choose_menu(plan: Plan, name: str | None) -> MenuNode:
    """Menu ``name``, or the plan's first menu with intents.

    Raises:
        SpeechError: no such menu, or it has no intents.
    """
    menus = [n for n in plan.nodes.values() if isinstance(n, MenuNode) and n.intents]
    if name is None:
        if not menus:
            raise SpeechError(f"plan {plan.name!r} has no menu with intents")
        return menus[0]
    node = plan.nodes.get(name)
    if not isinstance(node, MenuNode) or not node.intents:
        known = ", ".join(m.name for m in menus) or "none"
        raise SpeechError(f"{name!r} is not a menu with intents in {plan.name!r} ({known})")
    return node


async def recognise(
    engine: SpeechEngine, menu: MenuSpeech, pcm: bytes
) -> tuple[Understood | None, float]:
    """(what the menu understood, end-of-speech-to-intent ms); None when no speech."""
    listener = UtteranceListener(engine, menu.request)
    try:
        if not await feed_utterance(listener, pcm):
            return None, 0.0
        understood = await understand_heard(menu, listener)
    finally:
        listener.close()
    return understood, understood.heard.decode_ms


async def feed_utterance(listener: UtteranceListener, pcm: bytes) -> bool:
    """Feed a recorded utterance (and trailing silence) as a call would, no faster
    than it decodes; whether any speech was heard."""
    audio = pcm + bytes(int(TRAILING_SILENCE_SECONDS * BYTES_PER_SECOND))
    for offset in range(0, len(audio), CHUNK_BYTES):
        listener.on_caller_audio(audio[offset : offset + CHUNK_BYTES])
        if listener.done:
            break
        while listener.decoding_behind:
            await asyncio.sleep(0.001)
    listener.end_of_input()
    return listener.speech_started.is_set()


def percentile(values: list[float], share: float) -> float:
    if not values:
        return 0.0
    ranked = sorted(values)
    return ranked[min(len(ranked) - 1, int(round(share * (len(ranked) - 1))))]


@dataclass
class Row:
    file: str
    expected: str
    got: str
    text: str
    confidence: float
    latency_ms: float
    denoised: bool = False  # noise suppression was applied
    denoise_ms: float = 0.0  # its CPU time on this file
    filler_heard: str = ""  # decoded again: what the first decoding heard (filler only)


@dataclass
class EvalReport:
    plan: str
    menu: str
    rows: list[Row] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        return sum(r.expected == r.got for r in self.rows) / len(self.rows) if self.rows else 0.0

    def per_intent(self) -> dict[str, tuple[int, int]]:
        """expected intent -> (correct, total)."""
        table: dict[str, tuple[int, int]] = {}
        for row in self.rows:
            correct, total = table.get(row.expected, (0, 0))
            table[row.expected] = (correct + (row.expected == row.got), total + 1)
        return dict(sorted(table.items()))

    @property
    def no_match_rate(self) -> float:
        spoken = [r for r in self.rows if r.expected != NO_INTENT]
        return sum(r.got == NO_INTENT for r in spoken) / len(spoken) if spoken else 0.0

    def latency(self, share: float) -> float:
        return percentile([r.latency_ms for r in self.rows if r.latency_ms > 0], share)

    def denoise(self, share: float) -> float:
        """CPU ms of noise suppression per file where it was applied."""
        return percentile([r.denoise_ms for r in self.rows if r.denoised], share)

    def as_dict(self) -> dict[str, object]:
        return {
            "plan": self.plan,
            "menu": self.menu,
            "files": len(self.rows),
            "accuracy": round(self.accuracy, 4),
            "per_intent": {
                k: {"correct": c, "total": t} for k, (c, t) in self.per_intent().items()
            },
            "confusion": {
                f"{e} -> {g}": n
                for (e, g), n in sorted(Counter((r.expected, r.got) for r in self.rows).items())
            },
            "no_match_rate": round(self.no_match_rate, 4),
            "latency_ms": {"p50": self.latency(0.5), "p95": self.latency(0.95)},
            "denoised": sum(r.denoised for r in self.rows),
            "denoise_ms": {"p50": self.denoise(0.5), "p95": self.denoise(0.95)},
            "decoded_again": sum(bool(r.filler_heard) for r in self.rows),
            "rows": [asdict(r) for r in self.rows],
        }

    def render(self) -> str:
        lines = [f"plan {self.plan}, menu {self.menu}: {len(self.rows)} files"]
        for intent, (correct, total) in self.per_intent().items():
            lines.append(f"  {intent:<12} {correct:>4}/{total:<4} {correct / total:6.1%}")
        lines.append(f"accuracy {self.accuracy:.1%}; no-match rate {self.no_match_rate:.1%}")
        labels = sorted({r.expected for r in self.rows} | {r.got for r in self.rows})
        counts = Counter((r.expected, r.got) for r in self.rows)
        width = max([len(label) for label in labels] + [8])
        lines.append("confusion (rows: said, columns: understood)")
        lines.append(" " * (width + 1) + " ".join(f"{label:>{width}}" for label in labels))
        for said in labels:
            cells = " ".join(f"{counts.get((said, got), 0):>{width}}" for got in labels)
            lines.append(f"{said:>{width}} {cells}")
        lines.append(
            f"latency end of speech -> intent: p50 {self.latency(0.5):.0f} ms, "
            f"p95 {self.latency(0.95):.0f} ms"
        )
        denoised = sum(r.denoised for r in self.rows)
        if denoised:
            lines.append(
                f"noise suppressed in {denoised} of {len(self.rows)} files, its CPU per file: "
                f"p50 {self.denoise(0.5):.1f} ms, p95 {self.denoise(0.95):.1f} ms"
            )
        return "\n".join(lines)


def labelled_files(folder: Path) -> list[tuple[str, Path]]:
    """(expected intent, file) for every ``<intent>__*.wav`` in ``folder``."""
    found = []
    for path in sorted(folder.glob("*.wav")):
        intent, sep, _ = path.name.partition("__")
        if sep and intent:
            found.append((intent, path))
    return found


async def evaluate(
    plan: Plan, folder: Path, engine: SpeechEngine, menu_name: str | None = None
) -> EvalReport:
    """Run every labelled file in ``folder`` through ``plan``'s menu.

    Raises:
        SpeechError: no menu with intents, no labelled files, or the model is missing.
    """
    node = choose_menu(plan, menu_name)
    menu = menu_request(plan, node, "")
    if menu is None:  # pragma: no cover - choose_menu picked a menu with intents
        raise SpeechError(f"menu {node.name!r} does not listen")
    files = labelled_files(folder)
    if not files:
        raise SpeechError(f"{folder}: no files named <intent>__<anything>.wav")
    engine.load(menu.request.model)
    report = EvalReport(plan.name, node.name)
    for expected, path in files:
        understood, latency = await recognise(engine, menu, read_caller_audio(path))
        got = understood.match.intent if understood and understood.match.intent else NO_INTENT
        report.rows.append(
            Row(
                file=path.name,
                expected=expected,
                got=got,
                text=understood.heard.text if understood else "",
                confidence=understood.match.confidence if understood else 0.0,
                latency_ms=round(latency, 1),
                denoised=understood.heard.denoised if understood else False,
                denoise_ms=understood.heard.denoise_ms if understood else 0.0,
                filler_heard=understood.heard.filler_heard if understood else "",
            )
        )
    return report


def to_json(report: EvalReport) -> str:
    return json.dumps(report.as_dict(), ensure_ascii=False, indent=2)
