"""How an utterance's meaning and spelling make an intent's score, and how that score
becomes a confidence: the weighings the intent scorer (:mod:`ivr.speech.intents`)
reads, and their calibration. ``bench/tune_intents.py`` chooses ``OWN_WORDS`` by
replacing it here for a run.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Weighing:
    """How an utterance's meaning and spelling make its score and its confidence."""

    meaning_weight: float  # the rest is the spelling
    nearest: int  # the meaning is the mean of this many of the intent's best cosines
    centroid_weight: float  # of the meaning: the cosine with the mean of the intent's texts
    margin_bonus: float  # times the best intent's lead over the second, added before calibrating
    refusal_score: float  # the score (lead included) that calibrates to a confidence of 0.5
    # Own words whose nearest out-of-scope sentence scores at least the best intent's
    # score less this are refused (a grammar's transcripts are never compared with them).
    out_of_scope_margin: float = 0.0


# A menu hearing a caller's own words (typed, or decoded without a grammar). Chosen
# with `bench/tune_intents.py --floor 0.8` on both tuning sets (bench/paraphrase-tuning/
# and its dev/) among the settings refusing 80% of out-of-menu speech in every set: 0.1
# point of right below the first, which took a margin of -0.04 and refused less.
OWN_WORDS = Weighing(
    meaning_weight=0.8,
    nearest=2,
    centroid_weight=0.3,
    margin_bonus=1.0,
    refusal_score=0.50,
    out_of_scope_margin=-0.02,
)
# A transcript decoded with a grammar (forced onto the menu's words, it leads wherever
# it lands: bench/speech_two_stage.py on the spoken tuning set), and every yes/no
# answer (the own-words weighing made a yes a no on the Chinese tuning set): the
# weighing the spoken and yes/no figures of bench/RESULTS.md were measured with.
GRAMMAR = Weighing(
    meaning_weight=0.8, nearest=1, centroid_weight=0.0, margin_bonus=0.0, refusal_score=0.42
)


def calibrated(score: float, refusal_score: float | None = None) -> float:
    """A score as a confidence: ``refusal_score`` (the own-words one unless given)
    is 0.5, linear on either side."""
    point = OWN_WORDS.refusal_score if refusal_score is None else refusal_score
    if score < point:
        return 0.5 * max(0.0, score) / point
    return min(1.0, 0.5 + 0.5 * (score - point) / (1 - point))
