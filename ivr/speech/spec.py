"""What a plan asks of speech recognition, and what comes back: plain dataclasses, no vosk.

The dial plan builds these from YAML; the recognizer, the listener, the
simulator and the replay tool all read them, so one menu behaves the same
on a call, in ``ivr dialplan simulate`` and in ``ivr speech eval``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

ANY_LANGUAGE = "*"  # the key of texts that hold for every language of a plan
DEFAULT_THRESHOLD = 0.55
DEFAULT_END_SILENCE_SECONDS = 0.6
DEFAULT_MAX_UTTERANCE_SECONDS = 8.0


@dataclass(frozen=True)
class SpeechSettings:
    """A plan's ``speech:`` section.

    ``threshold`` is the confidence (0-1) below which an utterance is a no-match;
    ``open_vocabulary`` lets the recognizer hear any word instead of only the
    phrases of the menu's intents (slower, and far less accurate on small models).
    """

    model: str
    language: str  # the intents' language when the call has no ``language`` variable
    threshold: float = DEFAULT_THRESHOLD
    open_vocabulary: bool = False
    barge_in: bool = True
    end_silence_seconds: float = DEFAULT_END_SILENCE_SECONDS
    max_utterance_seconds: float = DEFAULT_MAX_UTTERANCE_SECONDS
    # Everyday words added to a menu's grammar that belong to no intent: speech
    # outside the menu lands on them instead of being forced onto an intent's words.
    filler: tuple[str, ...] = ()
    # What callers say that no intent of the plan serves (a locker's code, a parcel's
    # status), per language (ANY_LANGUAGE for all): a caller's own words nearer to these than
    # to the menu's best intent are refused, not forced onto that intent.
    out_of_scope: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def out_of_scope_for(self, language: str) -> tuple[str, ...]:
        return (*self.out_of_scope.get(language, ()), *self.out_of_scope.get(ANY_LANGUAGE, ()))


@dataclass(frozen=True)
class ListenRequest:
    """One turn of listening: which model, which phrases (None: open vocabulary),
    and when an utterance is over (trailing silence or maximum length, seconds).

    ``filler`` words are heard alongside ``grammar`` but belong to no intent
    (see :attr:`SpeechSettings.filler`); the recognizer treats them as a weaker
    answer than the menu's phrases (see ``ivr.speech.recognizer``)."""

    model: str
    grammar: tuple[str, ...] | None
    end_silence_seconds: float = DEFAULT_END_SILENCE_SECONDS
    max_utterance_seconds: float = DEFAULT_MAX_UTTERANCE_SECONDS
    filler: tuple[str, ...] = ()
    # Single words heard alongside ``grammar``, chained as the caller says them (the
    # examples' words, say). Menus do not set them: on the Korean model they cost the
    # plan's own phrases more than they gave callers' sentences (bench/decoding_variants.py).
    words: tuple[str, ...] = ()
    # The grammar of a second decoding of the same audio, for a first result the
    # intents found weak (see ``ivr.dialplan.speech_turn.understand_heard``); empty:
    # none. Menus set the phrases plus their examples' words plus the filler.
    wider: tuple[str, ...] = ()


@dataclass(frozen=True)
class HeardWord:
    """One word of a transcript and the recognizer's confidence in it (0-1)."""

    word: str
    confidence: float


@dataclass(frozen=True)
class HeardText:
    """What the recognizer made of one utterance.

    ``confidence`` is the recognizer's own (mean word confidence, 0-1);
    ``started_at``/``ended_at`` are Unix times of the speech as the voice
    activity detector saw it; ``decode_ms`` is the time from the end of speech
    to the transcript (the part of the latency recognition adds); ``denoised``
    whether noise suppression was applied, ``denoise_ms`` the CPU time it took.
    ``constrained``: the recognizer could only hear a grammar's words, so an
    utterance that leans on one intent says less than typed text would.
    ``first_heard`` is what the grammar's decoding heard when the wider second
    decoding's transcript replaced it ('' when it did not).
    ``filler_heard`` is what the first decoding made of it when that was only
    filler words too short for the speech, and the utterance was decoded again
    with the menu's phrases alone ('' when it was not). ``words`` are the
    transcript's words with their confidences (empty when the source has none,
    as typed text in the simulator)."""

    text: str
    confidence: float
    started_at: float
    ended_at: float
    decode_ms: float
    ended_by: str = "silence"  # silence | max_length | end_of_audio
    denoised: bool = False
    denoise_ms: float = 0.0
    filler_heard: str = ""
    words: tuple[HeardWord, ...] = ()
    first_heard: str = ""
    # Decoded with a grammar: the words are the grammar's, whatever was said.
    constrained: bool = False
