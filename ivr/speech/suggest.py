"""Tuning suggestions from real calls: what callers said that a menu did not take.

Every utterance is on its ticket (an ``utterance`` event: the menu ``node``,
``text``, ``intent``, ``confidence``). The ones a menu refused (``intent`` None,
nothing-heard aside) and the ones it took with a confidence below
``low_confidence`` are grouped by meaning, per plan and menu, with the same
sentence encoder the intents are scored with: a wording joins the group whose
centroid is nearest when their cosine is at least :data:`CLUSTER_COSINE`, else it
starts a group (wordings are taken most frequent first, so a group's first
wording is its most frequent one).

Each group is then scored as text against the menu's intents (the same
:class:`~ivr.speech.intents.IntentScorer` as calls, recognizer confidence aside):
when the nearest intent's calibrated score reaches ``near`` the suggestion is to
add the group's wordings as that intent's examples, else a new intent.

In grammar mode (no ``open_vocabulary``) the recognizer forces speech onto the
menu's own words, so a group's wordings are what the model heard, not always
what was said: listen to its sample tickets' recordings before accepting, and
give the words that were said (``ivr speech accept --phrases/--examples``).
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ivr.dialplan.model import Plan
from ivr.dialplan.nodes.menu import MenuNode
from ivr.dialplan.speech_turn import MenuSpeech, menu_request
from ivr.exceptions import SpeechError
from ivr.speech.intents import normalise
from ivr.speech.meaning import SentenceEncoder, shared_encoder
from ivr.speech.weighing import calibrated
from ivr.tickets.json_view import iso
from ivr.tickets.model import UTTERANCE, TicketQuery
from ivr.tickets.store import TicketStore

CLUSTER_COSINE = 0.8  # a wording this close to a group's centroid joins it
NEAR_INTENT = 0.4  # calibrated text score from which a group is "examples of" its nearest intent
LOW_CONFIDENCE = 0.65  # a match below this counts as uncertain
SAMPLE_TEXTS = 5
SAMPLE_TICKETS = 10
PAGE = 500
MAX_TICKETS = 5000
EXAMPLES, NEW_INTENT = "examples", "new_intent"


@dataclass(frozen=True)
class HeardUtterance:
    """One utterance off a ticket that a menu refused or took without confidence."""

    ticket_id: int
    plan: str
    menu: str
    text: str
    intent: str | None  # None: refused
    confidence: float
    at: float  # Unix seconds


@dataclass(frozen=True)
class Suggestion:
    """A group of similar utterances and what to do about it.

    ``intent`` is the nearest existing intent and ``score`` its calibrated text
    score (0-1, 0.5 is the refusal point); ``kind`` is :data:`EXAMPLES` (add the
    wordings to ``intent``) or :data:`NEW_INTENT`."""

    id: str
    plan: str
    menu: str
    kind: str
    intent: str | None
    score: float
    count: int
    refused: int  # how many the menu refused (the rest were taken without confidence)
    texts: tuple[str, ...]  # the wordings, most frequent first (at most SAMPLE_TEXTS)
    ticket_ids: tuple[int, ...]  # newest first (at most SAMPLE_TICKETS)
    last_at: float

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "plan": self.plan,
            "menu": self.menu,
            "kind": self.kind,
            "intent": self.intent,
            "score": self.score,
            "count": self.count,
            "refused": self.refused,
            "texts": list(self.texts),
            "ticket_ids": list(self.ticket_ids),
            "last_at": iso(self.last_at),
        }


def uncertain_utterances(
    ticket_id: int,
    plan: str,
    events: Iterable[tuple[float, str, Mapping[str, Any]]],
    low_confidence: float = LOW_CONFIDENCE,
) -> list[HeardUtterance]:
    """The refused and uncertain utterances among a ticket's events ``(at, kind, detail)``.

    Utterances without text (nothing heard, or the transcript removed by
    retention) are left out, and so are those refused as the plan's ``out_of_scope``:
    the plan already says no intent of it serves them."""
    found = []
    for at, kind, detail in events:
        if kind != UTTERANCE:
            continue
        text = str(detail.get("text") or "").strip()
        if not normalise(text) or detail.get("reason") in ("nothing_heard", "out_of_scope"):
            continue
        intent = detail.get("intent")
        confidence = float(detail.get("confidence") or 0.0)
        if intent is not None and confidence >= low_confidence:
            continue
        menu = str(detail.get("node") or "")
        found.append(HeardUtterance(ticket_id, plan, menu, text, intent, confidence, at))
    return found


async def read_utterances(
    store: TicketStore,
    since: float | None,
    until: float | None = None,
    plans: Sequence[str] = (),
    low_confidence: float = LOW_CONFIDENCE,
    max_tickets: int = MAX_TICKETS,
) -> list[HeardUtterance]:
    """The refused and uncertain utterances of the newest ``max_tickets`` tickets
    started in ``[since, until)`` (Unix seconds; None: open), of ``plans`` (empty:
    every plan). Raises TicketStoreError."""
    found: list[HeardUtterance] = []
    offset = 0
    while offset < max_tickets:
        page = await store.search(TicketQuery(since=since, until=until, limit=PAGE, offset=offset))
        for summary in page:
            if plans and summary.start.plan_name not in plans:
                continue
            ticket = await store.get(summary.id)
            if ticket is None:
                continue  # erased meanwhile
            events = ((e.at, e.kind, e.detail) for e in ticket.events)
            found += uncertain_utterances(ticket.id, ticket.start.plan_name, events, low_confidence)
        if len(page) < PAGE:
            break
        offset += PAGE
    return found


@dataclass
class _Group:
    wordings: list[str] = field(default_factory=list)  # normalised, most frequent first
    vectors: list[Any] = field(default_factory=list)

    def centroid(self) -> Any:
        mean = np.mean(np.stack(self.vectors), axis=0)
        norm = float(np.linalg.norm(mean))
        return mean / norm if norm else mean


def cluster(wordings: Sequence[str], encoder: SentenceEncoder) -> list[list[str]]:
    """``wordings`` (most frequent first) in groups by meaning, first-come order."""
    if not wordings:
        return []
    vectors = encoder.encode(list(wordings))
    groups: list[_Group] = []
    for wording, vector in zip(wordings, vectors, strict=True):
        best, best_cosine = None, CLUSTER_COSINE
        for group in groups:
            cosine = float(group.centroid() @ vector)
            if cosine >= best_cosine:
                best, best_cosine = group, cosine
        if best is None:
            best = _Group()
            groups.append(best)
        best.wordings.append(wording)
        best.vectors.append(vector)
    return [g.wordings for g in groups]


def _suggestion_id(plan: str, menu: str, leader: str) -> str:
    return hashlib.sha256(f"{plan}\n{menu}\n{leader}".encode()).hexdigest()[:8]


def suggest(
    heard: Sequence[HeardUtterance],
    plans: Mapping[str, Plan],
    min_count: int = 2,
    near: float = NEAR_INTENT,
    encoder: SentenceEncoder | None = None,
) -> list[Suggestion]:
    """Suggestions from ``heard``, largest group first; groups smaller than
    ``min_count`` are left out, and so are utterances of a plan not in ``plans``
    or of a node that is no longer a menu with intents there.

    CPU-bound (the encoder): run it in an executor from async code. Raises
    SpeechError when the encoder is not installed."""
    encoder = encoder if encoder is not None else shared_encoder()
    by_menu: dict[tuple[str, str], list[HeardUtterance]] = defaultdict(list)
    for utterance in heard:
        by_menu[(utterance.plan, utterance.menu)].append(utterance)
    found: list[Suggestion] = []
    for (plan_name, menu_name), said in sorted(by_menu.items()):
        plan = plans.get(plan_name)
        node = plan.nodes.get(menu_name) if plan is not None else None
        if plan is None or not isinstance(node, MenuNode):
            continue
        menu = menu_request(plan, node, "")
        if menu is None:
            continue
        counts = Counter(normalise(u.text) for u in said)
        wordings = [w for w, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
        for group in cluster(wordings, encoder):
            members = set(group)
            in_group = sorted(
                (u for u in said if normalise(u.text) in members), key=lambda u: -u.at
            )
            if len(in_group) < min_count:
                continue
            found.append(_describe(plan_name, menu_name, group, in_group, counts, menu, near))
    found.sort(key=lambda s: (-s.count, -s.last_at))
    return found


def _describe(
    plan: str,
    menu: str,
    group: list[str],
    said: list[HeardUtterance],
    counts: Counter[str],
    scorer_menu: MenuSpeech,
    near: float,
) -> Suggestion:
    # The group's score for each intent: its wordings' scores weighted by how often said.
    totals: dict[str, float] = defaultdict(float)
    for wording in group:
        for intent, value in scorer_menu.scorer.score(wording).items():
            totals[intent] += value * counts[wording]
    weight = sum(counts[w] for w in group)
    nearest, total = max(totals.items(), key=lambda kv: kv[1], default=(None, 0.0))
    score = round(calibrated(total / weight), 3) if weight else 0.0
    # Show each wording as it was spelled most often.
    spelled: dict[str, Counter[str]] = defaultdict(Counter)
    for utterance in said:
        spelled[normalise(utterance.text)][utterance.text.strip()] += 1
    texts = tuple(spelled[w].most_common(1)[0][0] for w in group[:SAMPLE_TEXTS])
    tickets = tuple(dict.fromkeys(u.ticket_id for u in said))[:SAMPLE_TICKETS]
    return Suggestion(
        id=_suggestion_id(plan, menu, group[0]),
        plan=plan,
        menu=menu,
        kind=EXAMPLES if nearest is not None and score >= near else NEW_INTENT,
        intent=nearest,
        score=score,
        count=len(said),
        refused=sum(u.intent is None for u in said),
        texts=texts,
        ticket_ids=tickets,
        last_at=said[0].at,
    )


def find(suggestions: Iterable[Suggestion], suggestion_id: str) -> Suggestion:
    """The suggestion with ``suggestion_id``. Raises SpeechError when there is none."""
    for suggestion in suggestions:
        if suggestion.id == suggestion_id:
            return suggestion
    raise SpeechError(f"no suggestion {suggestion_id!r} (run `ivr speech suggest` for the list)")
