"""Intents and how an utterance is scored against them.

Scoring compares character n-grams (1 to 3 characters), so it needs no word
splitting: it works the same for Chinese written without spaces as for
English or Korean. An intent scores the best of:

- its closest phrase (Dice overlap of n-grams: 1.0 for the phrase itself),
- when one of its keywords appears anywhere in the utterance, ``KEYWORD_SCORE``
  plus a share of the phrase overlap (so of two intents whose keywords both
  appear, the one whose phrase fits better wins).

Synonyms are rewritten to their canonical word before scoring. The result is
multiplied by the recognizer's confidence, so a garbled utterance forced onto
the grammar's words scores low even when the words themselves look right.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

ANY_LANGUAGE = "*"
KEYWORD_SCORE = 0.7
# Two intents this close are a coin toss: ask again rather than guess.
AMBIGUITY_MARGIN = 0.05
_NOT_WORD = re.compile(r"[^\w\s]+", re.UNICODE)
_SPACES = re.compile(r"\s+")


def normalise(text: str) -> str:
    """Lower case, NFKC, punctuation dropped, spaces collapsed."""
    text = unicodedata.normalize("NFKC", text).lower()
    return _SPACES.sub(" ", _NOT_WORD.sub(" ", text)).strip()


def phrase_words(phrases: Iterable[str]) -> set[str]:
    """Every word of ``phrases``, normalised (a filler list as a set of words)."""
    return {word for phrase in phrases for word in normalise(phrase).split()}


def _grams(text: str) -> Counter[str]:
    squeezed = text.replace(" ", "")
    grams: Counter[str] = Counter(squeezed)
    padded = f"_{text.replace(' ', '_')}_"
    for size in (2, 3):
        grams.update(padded[i : i + size] for i in range(len(padded) - size + 1))
    return grams


def similarity(first: str, second: str) -> float:
    """Dice overlap of the two texts' character n-grams, 0 to 1."""
    a, b = _grams(first), _grams(second)
    total = sum(a.values()) + sum(b.values())
    return 2 * sum((a & b).values()) / total if total else 0.0


@dataclass(frozen=True)
class Intent:
    """One thing a caller can ask for, per language (``ANY_LANGUAGE`` for all).

    ``synonyms`` maps a language to {variant: canonical word}."""

    name: str
    phrases: Mapping[str, tuple[str, ...]]
    keywords: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    synonyms: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def _for(self, table: Mapping[str, tuple[str, ...]], language: str) -> tuple[str, ...]:
        return table.get(language, ()) + table.get(ANY_LANGUAGE, ())

    def phrases_for(self, language: str) -> tuple[str, ...]:
        return self._for(self.phrases, language)

    def keywords_for(self, language: str) -> tuple[str, ...]:
        return self._for(self.keywords, language)

    def synonyms_for(self, language: str) -> dict[str, str]:
        return {**self.synonyms.get(ANY_LANGUAGE, {}), **self.synonyms.get(language, {})}

    def languages(self) -> set[str]:
        return set(self.phrases) | set(self.keywords) | set(self.synonyms)


@dataclass(frozen=True)
class IntentMatch:
    """The decision on one utterance: ``intent`` is None below the threshold or when
    two intents tie; ``scores`` holds every intent's score for the ticket and tuning."""

    intent: str | None
    confidence: float
    best: str | None
    scores: Mapping[str, float]
    reason: str  # matched | below_threshold | ambiguous | nothing_heard


class IntentScorer:
    """Scores utterances against some intents in one language. Cheap to build."""

    def __init__(self, intents: Iterable[Intent], language: str) -> None:
        self.language = language
        self._intents = list(intents)
        self._phrases = {
            i.name: [normalise(p) for p in i.phrases_for(language)] for i in self._intents
        }
        self._keywords = {
            i.name: [normalise(k).replace(" ", "") for k in i.keywords_for(language)]
            for i in self._intents
        }
        self._synonyms = {
            i.name: {normalise(v): normalise(c) for v, c in i.synonyms_for(language).items()}
            for i in self._intents
        }

    def grammar(self) -> tuple[str, ...]:
        """Every phrase, keyword and synonym of these intents: what the recognizer
        may hear in grammar mode."""
        words: dict[str, None] = {}
        for intent in self._intents:
            for text in (
                *intent.phrases_for(self.language),
                *intent.keywords_for(self.language),
                *intent.synonyms_for(self.language),
            ):
                words.setdefault(normalise(text), None)
        return tuple(w for w in words if w)

    def score(self, text: str) -> dict[str, float]:
        """Each intent's score for ``text``, 0 to 1 (the recognizer's confidence aside)."""
        heard = normalise(text)
        scores = {}
        for intent in self._intents:
            rewritten = heard
            for variant, canonical in self._synonyms[intent.name].items():
                rewritten = rewritten.replace(variant, canonical)
            best = max((similarity(rewritten, p) for p in self._phrases[intent.name]), default=0)
            squeezed = rewritten.replace(" ", "")
            if any(k and k in squeezed for k in self._keywords[intent.name]):
                best = max(best, KEYWORD_SCORE + (1 - KEYWORD_SCORE) * best)
            scores[intent.name] = round(best, 3)
        return scores

    def decide(
        self, text: str, asr_confidence: float, threshold: float, menu_share: float = 1.0
    ) -> IntentMatch:
        """The intent for ``text`` (None when nothing clears ``threshold``, 0-1).

        The confidence is the best intent's score times ``asr_confidence`` times
        ``menu_share`` (0-1: how much of the utterance was the menu's words rather
        than filler words, see ``ivr.dialplan.speech_turn.menu_share``)."""
        if not normalise(text):
            return IntentMatch(None, 0.0, None, {}, "nothing_heard")
        scores = self.score(text)
        ranked = sorted(scores.items(), key=lambda item: item[1], reverse=True)
        best, top = ranked[0] if ranked else (None, 0.0)
        heard = max(0.0, min(1.0, asr_confidence)) * max(0.0, min(1.0, menu_share))
        confidence = round(top * heard, 3)
        if confidence < threshold:
            return IntentMatch(None, confidence, best, scores, "below_threshold")
        if len(ranked) > 1 and top - ranked[1][1] < AMBIGUITY_MARGIN:
            return IntentMatch(None, confidence, best, scores, "ambiguous")
        return IntentMatch(best, confidence, best, scores, "matched")
