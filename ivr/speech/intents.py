"""Intents and how an utterance is scored against them: by meaning and by spelling.

An intent is described by ``phrases`` (what the menu names it), ``examples`` (whole
sentences callers say) and ``keywords``, per language. An utterance scores, for
each intent, a share (:class:`Weighing`) of its meaning under the multilingual
sentence encoder (:mod:`ivr.speech.meaning`: the mean of its few best cosines with
them, so one stray example close by weighs less than two, mixed with some of the
cosine with their mean) plus the rest times its best character-bigram Dice overlap
(spaces and punctuation dropped, so Chinese without spaces and Korean spaced either
way compare alike), raised to at least ``KEYWORD_SCORE`` when one of the intent's
keywords appears. Synonyms are rewritten to their canonical word first.

The decision reads the best intent's score plus a bonus times its lead over the
second (speech about something else tends to resemble several intents alike). That
is calibrated so that the weighing's refusal score maps to a confidence of 0.5 in
every menu and language (the weights and that point were chosen on the tuning sets,
``bench/paraphrase-tuning/``, by ``bench/tune_intents.py``, never on the frozen
sets): a plan's ``threshold: 0.5`` means the same everywhere. The confidence is then
multiplied by the recognizer's own, so a garbled utterance forced onto the grammar's
words scores low.

A menu whose intents include ``yes`` and ``no`` reads the answer's words too
(:mod:`ivr.speech.answers`): taking a no for a yes is the worst error an IVR makes.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from ivr.exceptions import SpeechError
from ivr.speech import weighing as weighings
from ivr.speech.answers import (
    ANSWER_WORD_SCORE,
    NO,
    UNMARKED_ANSWER_MARGIN,
    YES,
    Polarity,
    answer_words,
)
from ivr.speech.meaning import SentenceEncoder, Vectors, shared_encoder
from ivr.speech.spec import ANY_LANGUAGE
from ivr.speech.weighing import Weighing, calibrated

log = logging.getLogger(__name__)

KEYWORD_SCORE = 0.7  # the spelling score of an utterance holding one of the intent's keywords
# Two intents this close are a coin toss: ask again rather than guess.
AMBIGUITY_MARGIN = 0.02
# The name the plan's out-of-scope sentences are scored under (no intent can have it).
OUT_OF_SCOPE = " out of scope"
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


def _bigrams(text: str) -> set[str]:
    squeezed = text.replace(" ", "")
    if len(squeezed) < 2:
        return {squeezed} if squeezed else set()
    return {squeezed[i : i + 2] for i in range(len(squeezed) - 1)}


def _dice(first: set[str], second: set[str]) -> float:
    total = len(first) + len(second)
    return 2 * len(first & second) / total if total else 0.0


def _unit(vector: Vectors) -> Vectors:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector


@dataclass(frozen=True)
class Intent:
    """One thing a caller can ask for, per language (``ANY_LANGUAGE`` for all).

    ``synonyms`` maps a language to {variant: canonical word}."""

    name: str
    phrases: Mapping[str, tuple[str, ...]]
    keywords: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    synonyms: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    examples: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def _for(self, table: Mapping[str, tuple[str, ...]], language: str) -> tuple[str, ...]:
        return table.get(language, ()) + table.get(ANY_LANGUAGE, ())

    def phrases_for(self, language: str) -> tuple[str, ...]:
        return self._for(self.phrases, language)

    def keywords_for(self, language: str) -> tuple[str, ...]:
        return self._for(self.keywords, language)

    def examples_for(self, language: str) -> tuple[str, ...]:
        return self._for(self.examples, language)

    def synonyms_for(self, language: str) -> dict[str, str]:
        return {**self.synonyms.get(ANY_LANGUAGE, {}), **self.synonyms.get(language, {})}

    def languages(self) -> set[str]:
        return set(self.phrases) | set(self.keywords) | set(self.synonyms) | set(self.examples)


@dataclass(frozen=True)
class IntentMatch:
    """The decision on one utterance: ``intent`` is None below the threshold, when two
    intents tie, when a yes/no answer contradicts itself, or when the utterance is
    nearer to what the plan says it does not serve; ``scores`` holds every
    intent's score (0-1, before calibration) for the ticket and tuning."""

    intent: str | None
    confidence: float
    best: str | None
    scores: Mapping[str, float]
    reason: str  # matched | below_threshold | out_of_scope | ambiguous | polarity | nothing_heard


class IntentScorer:
    """Scores utterances against some intents in one language. Built once per menu and
    language of a plan version (``ivr.dialplan.speech_turn.menu_request``) and shared by
    its calls; the encoder caches the vectors of phrases and examples it has seen."""

    def __init__(
        self,
        intents: Iterable[Intent],
        language: str,
        encoder: SentenceEncoder | None = None,
        out_of_scope: Iterable[str] = (),
    ) -> None:
        self.language = language
        self._intents = list(intents)
        self._encoder = encoder if encoder is not None else shared_encoder()
        self._texts = {
            i.name: list(
                dict.fromkeys(
                    normalise(t)
                    for t in (
                        *i.phrases_for(language),
                        *i.examples_for(language),
                        *i.keywords_for(language),
                    )
                    if normalise(t)
                )
            )
            for i in self._intents
        }
        # What no intent serves: scored as one more intent, and never taken.
        outside = list(dict.fromkeys(t for t in map(normalise, out_of_scope) if t))
        if outside:
            self._texts[OUT_OF_SCOPE] = outside
        self._grams = {name: [_bigrams(t) for t in texts] for name, texts in self._texts.items()}
        self._known: tuple[dict[str, Vectors], dict[str, Vectors]] | None = None  # vectors, centres
        self._keywords = {
            i.name: [
                k for k in (normalise(w).replace(" ", "") for w in i.keywords_for(language)) if k
            ]
            for i in self._intents
        }
        self._keywords[OUT_OF_SCOPE] = []
        self._synonyms = {
            i.name: {normalise(v): normalise(c) for v, c in i.synonyms_for(language).items()}
            for i in self._intents
        }
        self._synonyms[OUT_OF_SCOPE] = {}
        names = {i.name for i in self._intents}
        self.yes_no = {YES, NO} <= names  # a question: see ivr.speech.answers
        self._polarity = Polarity.of(language) if self.yes_no else None

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
        if self._polarity is not None:  # "좋아요" is a yes, not the nearest phrase
            words.update(dict.fromkeys(normalise(t) for t in answer_words(self.language)))
        return tuple(w for w in words if w)

    def example_words(self) -> tuple[str, ...]:
        """Every word of these intents' examples that the grammar does not hold: what
        a wider second decoding may hear besides it."""
        grammar = self.grammar()
        words = {
            word: None
            for intent in self._intents
            for example in intent.examples_for(self.language)
            for word in normalise(example).split()
        }
        return tuple(w for w in words if w not in grammar)

    @property
    def prepared(self) -> bool:
        """Whether the intents' texts are encoded (see :meth:`prepare`)."""
        return self._known is not None

    def prepare(self) -> None:
        """Encode the intents' texts now rather than on the first utterance: a menu with
        hundreds of examples takes about a second. Blocking; without the encoder the
        scorer goes by spelling alone (logged)."""
        try:
            self._known_vectors()
        except SpeechError as exc:
            log.warning("intents by spelling alone: %s", exc)

    def _known_vectors(self) -> tuple[dict[str, Vectors], dict[str, Vectors]]:
        """The texts' vectors and each intent's centre, encoded once per scorer.

        Raises:
            SpeechError: the encoder cannot be loaded.
        """
        if self._known is None:
            vectors = {n: self._encoder.encode(t) for n, t in self._texts.items()}
            centroids = {n: _unit(v.mean(axis=0)) for n, v in vectors.items() if len(v)}
            # One assignment: calls share a menu's scorer, from several threads.
            self._known = (vectors, centroids)
        return self._known

    def _meanings(self, heard: list[str], weighing: Weighing) -> dict[str, float]:
        """Each intent's meaning: the mean of the ``nearest`` best cosines between its
        form of what was heard (synonyms rewritten; ``heard`` is in intent order) and its
        phrases, examples, keywords, mixed with the cosine with their centroid."""
        try:
            vectors, centroids = self._known_vectors()
            said = self._encoder.encode(heard)
        except SpeechError as exc:
            log.warning("intents by spelling alone: %s", exc)
            return {}
        meanings = {}
        for (name, known), vector in zip(vectors.items(), said, strict=True):
            if not len(known):
                meanings[name] = 0.0
                continue
            cosines = known @ vector
            if name == OUT_OF_SCOPE:  # unrelated sentences: no centre, the nearest one counts
                meanings[name] = float(cosines.max())
                continue
            nearest = min(weighing.nearest, len(cosines))
            best = float(np.partition(cosines, len(cosines) - nearest)[-nearest:].mean())
            centre = float(centroids[name] @ vector)
            share = weighing.centroid_weight
            meanings[name] = (1 - share) * best + share * centre
        return meanings

    def weighing(self, constrained: bool = False) -> Weighing:
        """How this menu weighs an utterance: a question's answers and a grammar's
        transcripts as ``GRAMMAR``, a caller's own words as ``OWN_WORDS``."""
        return weighings.GRAMMAR if constrained or self.yes_no else weighings.OWN_WORDS

    def score(self, text: str, weighing: Weighing | None = None) -> dict[str, float]:
        """Each intent's score for ``text``, 0 to 1 (the recognizer's confidence aside;
        weighed as own words unless ``weighing`` says otherwise)."""
        scores = self._scores(text, weighing)
        scores.pop(OUT_OF_SCOPE, None)
        return scores

    def _scores(self, text: str, weighing: Weighing | None) -> dict[str, float]:
        """:meth:`score`, with the plan's out-of-scope sentences as ``OUT_OF_SCOPE``."""
        weighing = weighing if weighing is not None else self.weighing()
        heard = normalise(text)
        rewritten = []
        for name in self._texts:
            form = heard
            for variant, canonical in self._synonyms[name].items():
                form = form.replace(variant, canonical)
            rewritten.append(form)
        meanings = self._meanings(rewritten, weighing)
        scores = {}
        for form, name in zip(rewritten, self._texts, strict=True):
            grams = _bigrams(form)
            spelling = max((_dice(grams, g) for g in self._grams[name]), default=0.0)
            squeezed = form.replace(" ", "")
            if any(k in squeezed for k in self._keywords[name]):
                spelling = KEYWORD_SCORE + (1 - KEYWORD_SCORE) * spelling
            if not meanings:
                if name != OUT_OF_SCOPE:  # chosen on meanings: not weighed by spelling alone
                    scores[name] = round(spelling, 3)
                continue
            meaning = max(0.0, meanings[name])
            weight = weighing.meaning_weight
            scores[name] = round(weight * meaning + (1 - weight) * spelling, 3)
        return scores

    def decide(
        self,
        text: str,
        asr_confidence: float,
        threshold: float,
        menu_share: float = 1.0,
        constrained: bool = False,
    ) -> IntentMatch:
        """The intent for ``text`` (None when nothing clears ``threshold``, 0-1).

        The confidence is the best intent's calibrated score (its lead over the
        second included) times ``asr_confidence`` times ``menu_share`` (0-1: how much
        of the utterance was the menu's words rather than filler words, see
        ``ivr.dialplan.speech_turn.menu_share``). ``constrained``: ``text`` was
        decoded with a grammar, whose words lean on one intent or another whatever
        was said, so it is weighed as ``GRAMMAR`` (as a question's answers are)."""
        if not normalise(text):
            return IntentMatch(None, 0.0, None, {}, "nothing_heard")
        weighing = self.weighing(constrained)
        scores = self._scores(text, weighing)
        outside = scores.pop(OUT_OF_SCOPE, None)
        ranked = sorted(scores.items(), key=lambda item: item[1], reverse=True)
        best, top = ranked[0] if ranked else (None, 0.0)
        lead = top - ranked[1][1] if len(ranked) > 1 else top
        heard = max(0.0, min(1.0, asr_confidence)) * max(0.0, min(1.0, menu_share))
        if self._polarity is not None:
            return self._answer(text, scores, heard, threshold, weighing)
        confidence = round(
            calibrated(top + weighing.margin_bonus * lead, weighing.refusal_score) * heard, 3
        )
        # A grammar's transcript is the menu's words whatever was said: only a caller's
        # own words can be told to be nearer to what the plan does not serve.
        margin = weighing.out_of_scope_margin
        if not constrained and outside is not None and outside >= top - margin:
            return IntentMatch(None, confidence, best, scores, "out_of_scope")
        if confidence < threshold:
            return IntentMatch(None, confidence, best, scores, "below_threshold")
        if len(ranked) > 1 and lead < AMBIGUITY_MARGIN:
            return IntentMatch(None, confidence, best, scores, "ambiguous")
        return IntentMatch(best, confidence, best, scores, "matched")

    def _answer(
        self,
        text: str,
        scores: dict[str, float],
        heard: float,
        threshold: float,
        weighing: Weighing,
    ) -> IntentMatch:
        """A yes/no menu's decision (see :mod:`ivr.speech.answers`): the answer's words
        must not contradict its meaning; when they agree they vouch for it."""
        assert self._polarity is not None
        said = self._polarity.side(text)
        best = max(scores, key=lambda name: scores[name])
        top = scores[best]
        if said == best:
            top = max(top, ANSWER_WORD_SCORE)
        lead = top - max((v for k, v in scores.items() if k != best), default=0.0)
        bonus = weighing.margin_bonus
        confidence = round(calibrated(top + bonus * lead, weighing.refusal_score) * heard, 3)
        if confidence < threshold:
            return IntentMatch(None, confidence, best, scores, "below_threshold")
        if best in (YES, NO):
            contradicted = said is not None and said != best  # the other side's or both
            if contradicted or (said is None and lead < UNMARKED_ANSWER_MARGIN):
                return IntentMatch(None, confidence, best, scores, "polarity")
        return IntentMatch(best, confidence, best, scores, "matched")
