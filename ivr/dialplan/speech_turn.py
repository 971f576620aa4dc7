"""A menu turn that hears speech as well as keys: prompts, barge-in, the utterance.

The runner asks through :func:`ask_by_voice` when the menu has intents and
the call has speech; :func:`menu_request` turns the plan's settings into what
the recognizer needs, and :func:`understand` turns a transcript into an
intent the same way on calls, in the simulator and in ``ivr speech eval``.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Protocol

from ivr.dialplan.model import Plan, Prompt
from ivr.dialplan.prompt_player import PromptPlayer
from ivr.exceptions import SpeechError
from ivr.speech.intents import IntentMatch, IntentScorer, normalise, phrase_words
from ivr.speech.spec import HeardText, HeardWord, ListenRequest, SpeechSettings
from ivr.telephony.interface import CallEnded, CallEvent, DigitPressed
from ivr.tickets.model import CallJournal

# Past the utterance's own maximum length: time for decoding before giving up.
DECODE_GRACE_SECONDS = 5.0
UNSURE_WORD_CONFIDENCE = 0.6  # a filler word heard below this is taken for noise
# A second, wider decoding of weak results (see understand_heard). Off: on the spoken
# tuning set it turned about as many paraphrases into wrong intents as into right ones
# and cost out-of-menu refusals (bench/speech_two_stage.py); a plan that decodes real
# callers may measure otherwise.
WIDER_DECODING = False
WEAK_CONFIDENCE = 0.7  # a match below this is decoded again with the wider grammar
# The second decoding is given up past this (the caller is waiting), and skipped
# while no decoding thread is free (bench/speech_latency.py --tuning).
WIDER_BUDGET_SECONDS = 0.3


class Listening(Protocol):
    """One turn of listening; ``speech_started`` is set at the caller's speech onset."""

    @property
    def speech_started(self) -> asyncio.Event: ...

    async def heard(self) -> HeardText:
        """The utterance once it ends. Raises SpeechError when decoding failed."""

    async def heard_again(
        self, first: HeardText, grammar: tuple[str, ...], budget_seconds: float
    ) -> HeardText | None:
        """The same utterance decoded once more with ``grammar`` (``first`` is what
        :meth:`heard` returned); None when there is no time or thread for it.
        Raises SpeechError when decoding failed."""

    def close(self) -> None: ...


class SpeechInput(Protocol):
    """Speech on one call (absent: the call is keys only)."""

    def listen(self, request: ListenRequest) -> Listening: ...


class Caller(Protocol):
    @property
    def ended(self) -> bool: ...

    async def next_event(self, timeout: float | None = None) -> CallEvent | None: ...


class SpeechMenu(Protocol):
    """What a menu says about listening (a menu node has these)."""

    @property
    def intents(self) -> Mapping[str, str]: ...  # spoken intent -> node

    @property
    def barge_in(self) -> bool | None: ...  # None: the plan's setting

    @property
    def confidence(self) -> float | None: ...  # None: the plan's threshold


@dataclass(frozen=True)
class MenuSpeech:
    """What one menu listens for, in one language."""

    request: ListenRequest
    scorer: IntentScorer
    threshold: float
    barge_in: bool


@dataclass(frozen=True)
class Understood:
    """An utterance and the intent it was taken for (``match.intent`` None: no match);
    ``menu_share`` as :func:`menu_share` found it. ``heard.first_heard`` is set when
    the wider decoding's transcript was taken."""

    heard: HeardText
    match: IntentMatch
    menu_share: float = 1.0
    decoded_wider: bool = False  # decoded again with the wider grammar (see understand_heard)


def menu_request(plan: Plan, node: SpeechMenu, language: str) -> MenuSpeech | None:
    """The menu's listening settings; None when the plan or menu has no speech."""
    speech = plan.speech
    if speech is None or not node.intents:
        return None
    # Built once per plan version, menu and language, not on every visit: a scorer
    # normalises every text of the menu (~3 ms for the English example's main menu).
    # The plan holds its nodes, so a node's id names it while the cache lives.
    key = (id(node), language, WIDER_DECODING)
    cached = plan.speech_menus.get(key)
    if not isinstance(cached, MenuSpeech):
        cached = plan.speech_menus[key] = _menu_speech(plan, speech, node, language)
    return cached


def _menu_speech(
    plan: Plan, speech: SpeechSettings, node: SpeechMenu, language: str
) -> MenuSpeech:
    language = language if language else speech.language
    intents = [plan.intents[name] for name in node.intents if name in plan.intents]
    if not any(i.phrases_for(language) or i.keywords_for(language) for i in intents):
        language = speech.language
    scorer = IntentScorer(intents, language, out_of_scope=speech.out_of_scope_for(language))
    grammar = scorer.grammar()
    examples = scorer.example_words()
    return MenuSpeech(
        request=ListenRequest(
            model=speech.model,
            grammar=None if speech.open_vocabulary else grammar,
            end_silence_seconds=speech.end_silence_seconds,
            max_utterance_seconds=speech.max_utterance_seconds,
            filler=() if speech.open_vocabulary else speech.filler,
            # Not for a yes/no question: there the wider transcript swapped answers
            # (bench/speech_two_stage.py on the tuning set), and a swap is the worst error.
            wider=(
                tuple(dict.fromkeys((*grammar, *examples, *speech.filler)))
                if WIDER_DECODING and examples and not speech.open_vocabulary and not scorer.yes_no
                else ()
            ),
        ),
        scorer=scorer,
        threshold=node.confidence if node.confidence is not None else speech.threshold,
        barge_in=node.barge_in if node.barge_in is not None else speech.barge_in,
    )


def menu_share(heard: HeardText, filler: tuple[str, ...]) -> float:
    """How much of an utterance was the menu's words rather than filler words, 0-1.

    Speech outside the menu is forced onto the grammar's words: filler words and
    some menu word or other ("오늘 확인 정말 오늘" for "오늘 날씨가 정말 좋네요").
    Each word counts with the recognizer's confidence in it, so a filler word
    that noise slipped in (heard with low confidence) costs little; the square
    root keeps one confident filler word beside a menu phrase from sinking it."""
    fillers = phrase_words(filler)
    words = heard.words or tuple(HeardWord(w, 1.0) for w in heard.text.split())
    total = sum(w.confidence for w in words)
    if not fillers or total <= 0:
        return 1.0
    menu = sum(w.confidence for w in words if normalise(w.word) not in fillers)
    return math.sqrt(menu / total)


def without_unsure_filler(heard: HeardText, filler: tuple[str, ...]) -> str:
    """The transcript less filler words heard with little confidence (noise the
    grammar turned into a word; :func:`menu_share` already counts them). Confident
    filler words stay: they are what speech outside the menu sounds like."""
    if not heard.words:
        return heard.text
    fillers = phrase_words(filler)
    kept = [
        w.word
        for w in heard.words
        if normalise(w.word) not in fillers or w.confidence >= UNSURE_WORD_CONFIDENCE
    ]
    return " ".join(kept) if kept else heard.text


def understand(menu: MenuSpeech, heard: HeardText) -> Understood:
    share = menu_share(heard, menu.request.filler)
    said = without_unsure_filler(heard, menu.request.filler)
    match = menu.scorer.decide(said, heard.confidence, menu.threshold, share, heard.constrained)
    return Understood(heard, match, round(share, 3))


def weak(understood: Understood) -> bool:
    """A result worth a second, wider decoding: no intent, or one taken with a
    confidence below ``WEAK_CONFIDENCE`` (chosen on the Korean tuning set with
    ``bench/speech_two_stage.py``)."""
    match = understood.match
    return match.intent is None or match.confidence < WEAK_CONFIDENCE


async def understand_heard(menu: MenuSpeech, listening: Listening) -> Understood:
    """What the menu takes the caller's utterance for, the same on calls and in
    ``ivr speech eval``.

    The grammar's transcript first; when the intents find it :func:`weak` and the
    menu has a wider grammar (its phrases, its examples' words and the filler:
    a caller's own sentence gets through as more than the menu's words), the
    same audio is decoded again with that and its transcript is taken when it
    matches an intent. Only weak results pay for the second decoding, and only
    while a decoding thread is free and within ``WIDER_BUDGET_SECONDS``.

    Raises:
        SpeechError: decoding failed.
    """
    heard = await listening.heard()
    first = understand(menu, heard)
    if not menu.request.wider or not weak(first):
        return first
    again = await listening.heard_again(heard, menu.request.wider, WIDER_BUDGET_SECONDS)
    if again is None:  # the decoding pool was busy, or it took too long
        return first
    second = understand(menu, again)
    if second.match.intent is not None:
        return replace(second, decoded_wider=True)
    # The first result stands; its time includes the second decoding's, as the caller's wait.
    return replace(first, heard=replace(heard, decode_ms=again.decode_ms), decoded_wider=True)


def journal_utterance(journal: CallJournal, node: str, understood: Understood) -> None:
    """Every utterance on the ticket; a matched one also as the call's intent.

    What the caller said is in ``text`` alone (transcript retention removes that
    key); the other keys hold numbers and flags only."""
    heard, match = understood.heard, understood.match
    journal.event(
        "utterance",
        node=node,
        text=heard.text,
        intent=match.intent,
        confidence=match.confidence,
        best=match.best,
        reason=match.reason,
        asr_confidence=round(heard.confidence, 3),
        started_at=heard.started_at,
        ended_at=heard.ended_at,
        decode_ms=heard.decode_ms,
        ended_by=heard.ended_by,
        word_confidences=[round(w.confidence, 3) for w in heard.words],
        menu_share=understood.menu_share,
        decoded_again=bool(heard.filler_heard),
        decoded_wider=understood.decoded_wider,
        wider_taken=bool(heard.first_heard),
    )
    if match.intent is not None:
        journal.handling.intent = match.intent


async def _first(*waits: asyncio.Future[Any], timeout: float | None = None) -> None:
    await asyncio.wait(set(waits), timeout=timeout, return_when=asyncio.FIRST_COMPLETED)


async def _cancel(*tasks: asyncio.Future[Any]) -> None:
    for task in tasks:
        if not task.done():
            task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def ask_by_voice(
    caller: Caller,
    player: PromptPlayer,
    speech: SpeechInput,
    menu: MenuSpeech,
    prompts: tuple[Prompt, ...],
    values: Mapping[str, str],
    timeout: float,
    journal: CallJournal,
    node: str,
) -> DigitPressed | CallEnded | Understood | None:
    """Play ``prompts`` and wait ``timeout`` seconds after them for a key or speech.

    Speech onset stops the prompt when ``menu.barge_in``; a key always does.
    Returns the key, the end of the call, what was understood, or None when the
    caller did nothing (and SpeechError from the recognizer counts as nothing)."""
    listening = speech.listen(menu.request)
    loop = asyncio.get_running_loop()
    onset: asyncio.Future[Any] = loop.create_task(listening.speech_started.wait())
    try:
        for prompt in prompts:
            playing: asyncio.Future[Any] = loop.create_task(player.play(prompt, values))
            key: asyncio.Future[Any] = loop.create_task(caller.next_event())
            await _first(playing, key, *([onset] if menu.barge_in else []))
            interrupted = key.done() or (menu.barge_in and onset.done())
            if interrupted:
                player.stop()
            await asyncio.gather(playing, return_exceptions=True)
            if key.done():
                return _event(key)
            await _cancel(key)
            if onset.done():
                if interrupted:
                    journal.event("barge_in", node=node, at=time.time())
                break
            if caller.ended:
                return CallEnded("caller hung up", by_caller=True)
        if not onset.done():
            key = loop.create_task(caller.next_event(timeout))
            await _first(key, onset, timeout=timeout)
            if key.done() and not onset.done():
                return _event(key)
            await _cancel(key)
            if not onset.done():
                return None
        return await _utterance(caller, listening, menu, loop)
    finally:
        await _cancel(onset)
        listening.close()


def _event(key: asyncio.Future[Any]) -> DigitPressed | CallEnded | None:
    event = key.result()
    assert event is None or isinstance(event, DigitPressed | CallEnded)
    return event


async def _utterance(
    caller: Caller, listening: Listening, menu: MenuSpeech, loop: asyncio.AbstractEventLoop
) -> CallEnded | Understood | None:
    """The utterance under way; a hang-up meanwhile ends the call."""
    hearing: asyncio.Future[Understood] = loop.create_task(understand_heard(menu, listening))
    hangup: asyncio.Future[Any] = loop.create_task(_hang_up(caller))
    limit = menu.request.max_utterance_seconds + DECODE_GRACE_SECONDS
    await _first(hearing, hangup, timeout=limit)
    if hangup.done() and not hearing.done():
        await _cancel(hearing)
        return CallEnded("caller hung up", by_caller=True)
    await _cancel(hangup)
    if not hearing.done():
        await _cancel(hearing)
        return None
    try:
        return hearing.result()
    except SpeechError:
        return None


async def _hang_up(caller: Caller) -> None:
    """Waits for the end of the call; keys pressed while speaking are dropped."""
    while True:
        event = await caller.next_event()
        if isinstance(event, CallEnded):
            return
