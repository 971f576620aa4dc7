"""Operations figures over the tickets started in a time range.

Every figure counts the tickets with ``since <= started_at < until`` (events
count when their ticket does: callbacks by event kind ``callback_requested`` and
``callback_connected``, unrecognised utterances by kind ``utterance`` with no
intent), so the figures agree with a ticket search over the same range.
Counting and averaging happen in SQL; the wait percentiles use the
nearest-rank definition (integer arithmetic, exact on both databases);
unrecognised utterances are grouped in Python over at most
:data:`MAX_UTTERANCES` of the newest ones.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from ivr.tickets.sql import Dialect

TOP_INTENTS = 10
TOP_UTTERANCE_GROUPS = 10
MAX_UTTERANCES = 5000
SLOT_SECONDS = 900
SIMILARITY = 0.5  # character-bigram Jaccard at which two utterances are "the same thing"


@dataclass(frozen=True)
class UtteranceGroup:
    text: str  # the most frequent wording in the group
    count: int
    variants: tuple[str, ...]  # other wordings, most frequent first (at most 5)


@dataclass(frozen=True)
class TicketStats:
    since: float
    until: float
    calls: int = 0
    live: int = 0
    completed: int = 0
    abandoned: int = 0
    failed: int = 0
    media_timeouts: int = 0  # the caller's media stopped without a BYE (not abandoned)
    self_service: int = 0  # completed, no agent, no transfer, no callback asked for
    transferred: int = 0  # a transfer method is recorded
    reached_agent: int = 0
    callbacks_requested: int = 0
    callbacks_completed: int = 0
    average_speed_of_answer: float | None = None  # mean wait of calls that reached an agent
    waits: int = 0  # calls with a queue wait (answered or not)
    wait_p50: float | None = None
    wait_p90: float | None = None
    satisfaction_average: float | None = None
    satisfaction_responses: int = 0
    top_intents: tuple[tuple[str, int], ...] = ()
    calls_per_slot: tuple[tuple[float, int], ...] = ()  # (slot start, calls); non-empty slots
    unrecognised_utterances: int = 0
    unrecognised_groups: tuple[UtteranceGroup, ...] = field(default=())

    def rate(self, count: int) -> float | None:
        """``count`` as a share of all calls in the range (None when there were none)."""
        return count / self.calls if self.calls else None


_RANGE = "started_at >= ? AND started_at < ?"


def _percentile_sql(percent: int) -> str:
    # Nearest rank ceil(p*n/100) in integer arithmetic, the same on both databases.
    return (
        "SELECT w FROM (SELECT wait_seconds AS w, "
        "ROW_NUMBER() OVER (ORDER BY wait_seconds) AS rn, COUNT(*) OVER () AS n "
        f"FROM tickets WHERE {_RANGE} AND wait_seconds IS NOT NULL) ranked "
        f"WHERE rn = (n * {percent} + 99) / 100"
    )


def stats_queries(dialect: Dialect, since: float, until: float) -> list[tuple[str, list[Any]]]:
    """The read queries behind :class:`TicketStats`, to run in one transaction, in order.

    All read ``tickets`` alone: what stats count from events (callbacks,
    unrecognised utterances) the store keeps on the ticket when it is written.
    """
    span = [since, until]
    totals = (
        "SELECT COUNT(*), "
        "SUM(CASE WHEN disposition = 'live' THEN 1 ELSE 0 END), "
        "SUM(CASE WHEN disposition = 'completed' THEN 1 ELSE 0 END), "
        "SUM(CASE WHEN disposition = 'abandoned' THEN 1 ELSE 0 END), "
        "SUM(CASE WHEN disposition = 'failed' THEN 1 ELSE 0 END), "
        "SUM(CASE WHEN disposition = 'media_timeout' THEN 1 ELSE 0 END), "
        "SUM(CASE WHEN disposition = 'completed' AND agent_id IS NULL "
        "AND transfer_method IS NULL AND callbacks_requested = 0 THEN 1 ELSE 0 END), "
        "SUM(CASE WHEN transfer_method IS NOT NULL THEN 1 ELSE 0 END), "
        "SUM(CASE WHEN agent_id IS NOT NULL THEN 1 ELSE 0 END), "
        "AVG(CASE WHEN agent_id IS NOT NULL THEN wait_seconds END), "
        "COUNT(wait_seconds), "
        "AVG(CAST(satisfaction AS DOUBLE PRECISION)), COUNT(satisfaction), "
        "SUM(callbacks_requested), SUM(callbacks_connected + appended_callbacks_connected), "
        "SUM(unrecognised_count) "
        f"FROM tickets WHERE {_RANGE}"
    )
    intents = (
        f"SELECT intent, COUNT(*) AS c FROM tickets WHERE {_RANGE} AND intent IS NOT NULL "
        f"GROUP BY intent ORDER BY c DESC, intent LIMIT {TOP_INTENTS}"
    )
    slots = (
        f"SELECT {dialect.bucket_15min} AS slot, COUNT(*) FROM tickets WHERE {_RANGE} "
        "GROUP BY slot ORDER BY slot"
    )
    # Each such ticket has at least one: this many tickets hold enough texts.
    texts = (
        f"SELECT unrecognised FROM tickets WHERE {_RANGE} AND unrecognised_count > 0 "
        f"ORDER BY started_at DESC, id DESC LIMIT {MAX_UTTERANCES}"
    )
    return [
        (totals, span),
        (_percentile_sql(50), span),
        (_percentile_sql(90), span),
        (intents, span),
        (slots, span),
        (texts, span),
    ]


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def assemble(since: float, until: float, results: list[list[tuple[Any, ...]]]) -> TicketStats:
    """:class:`TicketStats` from the rows of :func:`stats_queries`, in the same order."""
    totals, p50, p90, intents, slots, texts = results
    (
        calls,
        live,
        completed,
        abandoned,
        failed,
        media_timeouts,
        self_service,
        transferred,
        reached_agent,
        speed_of_answer,
        waits,
        satisfaction,
        responses,
        callbacks_requested,
        callbacks_connected,
        unrecognised,
    ) = totals[0]
    said = [line for (lines,) in texts for line in str(lines).split("\n") if line]
    return TicketStats(
        since=since,
        until=until,
        calls=int(calls),
        live=int(live or 0),
        completed=int(completed or 0),
        abandoned=int(abandoned or 0),
        failed=int(failed or 0),
        media_timeouts=int(media_timeouts or 0),
        self_service=int(self_service or 0),
        transferred=int(transferred or 0),
        reached_agent=int(reached_agent or 0),
        callbacks_requested=int(callbacks_requested or 0),
        callbacks_completed=int(callbacks_connected or 0),
        average_speed_of_answer=_float(speed_of_answer),
        waits=int(waits),
        wait_p50=_float(p50[0][0]) if p50 else None,
        wait_p90=_float(p90[0][0]) if p90 else None,
        satisfaction_average=_float(satisfaction),
        satisfaction_responses=int(responses),
        top_intents=tuple((str(intent), int(count)) for intent, count in intents),
        calls_per_slot=tuple((float(slot) * SLOT_SECONDS, int(count)) for slot, count in slots),
        unrecognised_utterances=int(unrecognised or 0),
        unrecognised_groups=group_utterances(said[:MAX_UTTERANCES]),
    )


_NOT_WORD = re.compile(r"[\W_]+", re.UNICODE)


def normalise(text: str) -> str:
    """Lower case, full-width folded, punctuation gone, spaces collapsed."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(_NOT_WORD.sub(" ", folded).split())


def _bigrams(text: str) -> frozenset[str]:
    # Spaces are dropped so "reset password" and Chinese without spaces compare alike.
    compact = text.replace(" ", "")
    if len(compact) < 2:
        return frozenset({compact})
    return frozenset(compact[i : i + 2] for i in range(len(compact) - 1))


def group_utterances(
    texts: list[str], limit: int = TOP_UTTERANCE_GROUPS
) -> tuple[UtteranceGroup, ...]:
    """The ``limit`` largest groups of similar utterances, largest first.

    Utterances equal after :func:`normalise` count as one wording; a wording
    joins the first (most frequent) group whose leading wording shares at least
    :data:`SIMILARITY` of their character bigrams (Jaccard), else starts a group.
    A group shows its most frequent wording as spelled most often (ties: the
    spelling first in ``texts``, which the store passes newest first).
    """
    wordings: Counter[str] = Counter()
    spelled: dict[str, Counter[str]] = defaultdict(Counter)
    for text in texts:
        key = normalise(text)
        if key:
            wordings[key] += 1
            spelled[key][text.strip()] += 1
    leaders: list[tuple[frozenset[str], list[str]]] = []  # (leader bigrams, member keys)
    by_bigram: dict[str, list[int]] = defaultdict(list)
    for key, _ in sorted(wordings.items(), key=lambda kv: (-kv[1], kv[0])):
        grams = _bigrams(key)
        candidates = sorted({index for gram in grams for index in by_bigram.get(gram, ())})
        for index in candidates:
            leader = leaders[index][0]
            if len(grams & leader) / len(grams | leader) >= SIMILARITY:
                leaders[index][1].append(key)
                break
        else:
            for gram in grams:
                by_bigram[gram].append(len(leaders))
            leaders.append((grams, [key]))
    groups = []
    for _, members in leaders:
        shown = [spelled[key].most_common(1)[0][0] for key in members]
        groups.append(
            UtteranceGroup(
                text=shown[0],
                count=sum(wordings[key] for key in members),
                variants=tuple(shown[1:6]),
            )
        )
    groups.sort(key=lambda g: -g.count)  # stable: ties keep the leader's frequency order
    return tuple(groups[:limit])
