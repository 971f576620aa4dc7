"""Callback requests in Redis: one per number, in the queue's line, leased while dialled.

A request stands in its queue's line (``callback.line``) as ``cb:<id>`` at the
place its caller had, less the seconds of the value rule (``callback.value``: VIP,
intent, failed attempts) and an operator's priority. Its life: ``pending`` (due at
``next_at``) -> ``dialling`` (leased by one dispatcher) -> ``done`` | ``failed``
| ``cancelled``, or back to ``pending`` after a failed attempt. A lease that
expires (the dispatcher died) returns the request to ``pending`` without
counting an attempt. Every state change is one Lua script, so two dispatchers
never hold the same request and nothing is half-written.

Each lease has a generation; every write of its holder names it, so a dispatcher
whose lease ran out and was taken over (it stalled) can neither write the request
nor place another call for it (fencing). Before a call leaves, its holder writes it
ahead (``in_flight``: attempt, dispatcher, number, phase); the call's answer and its
connection are written as they happen. A lease that runs out with a call in flight is
settled from that record (``REAP``): connected is done, anything else an unknown
outcome, redialled (with an apology) at most ``redial_after_unknown`` times.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Collection
from typing import Any, cast

import redis.asyncio as aioredis

from callback import keys
from callback import request_scripts as scripts
from callback.journal_outbox import UnjournaledAttempts
from callback.request_model import (
    ACTIVE,
    ENTRY_PREFIX,
    STATES,
    CallbackRequest,
    Lease,
    Settled,
    parse_request,
)
from callback.value import BookedValue

NO_VALUE = BookedValue()  # the plain order of arrival

__all__ = [
    "ACTIVE",
    "ENTRY_PREFIX",
    "STATES",
    "CallbackRequest",
    "CallbackRequests",
    "Lease",
    "Settled",
]


class CallbackRequests:
    """The requests of every queue, shared by every node through Redis."""

    def __init__(self, client: aioredis.Redis, prefix: str) -> None:
        self._client = client
        self._prefix = prefix
        self._request = client.register_script(scripts.REQUEST)
        self._take = client.register_script(scripts.TAKE)
        self._renew = client.register_script(scripts.RENEW)
        self._mark = client.register_script(scripts.MARK)
        self._untake = client.register_script(scripts.UNTAKE)
        self._reap = client.register_script(scripts.REAP)
        self._finish = client.register_script(scripts.FINISH)
        self._cancel = client.register_script(scripts.CANCEL)
        self._reprioritise = client.register_script(scripts.REPRIORITISE)
        self.unjournaled = UnjournaledAttempts(client, prefix)

    @property
    def _hash_prefix(self) -> str:
        return keys.callback(self._prefix, "")

    @property
    def _due_prefix(self) -> str:
        return keys.callbacks_due(self._prefix, "")

    @property
    def _line_prefix(self) -> str:
        return keys.line(self._prefix, "").removesuffix(keys.LINE_SUFFIX)

    async def request(
        self,
        number: str,
        queue: str,
        place: float,
        *,
        not_before: float = 0.0,
        ticket_id: int = 0,
        caller_name: str = "",
        intent: str = "",
        value: BookedValue = NO_VALUE,
    ) -> str:
        """Ask for a callback; a number with one pending keeps it (and the earlier
        place) and has it updated (its ``value``: the rule's seconds for this booking,
        see :meth:`callback.value.ValueRule.for_booking`). Returns the request's id."""
        now = time.time()
        result = await self._request(
            keys=[keys.callbacks_by_number(self._prefix), keys.callback_queues(self._prefix)],
            args=[
                number,
                uuid.uuid4().hex[:16],
                queue,
                repr(place),
                repr(max(now, not_before)),
                str(ticket_id),
                caller_name,
                intent,
                self._hash_prefix,
                self._line_prefix,
                self._due_prefix,
                repr(now),
                repr(value.vip_seconds),
                repr(value.intent_seconds),
                repr(value.per_failed_attempt_seconds),
            ],
        )
        return str(result)

    async def queues(self) -> list[str]:
        return sorted(
            str(q) for q in await self._client.smembers(keys.callback_queues(self._prefix))
        )

    async def due(self, queue: str, limit: int) -> list[CallbackRequest]:
        """Pending requests of ``queue`` that may be dialled now, in line order (their
        scores in the line: the one order every dispatcher follows)."""
        ids = [
            str(i)
            for i in await self._client.zrangebyscore(
                keys.callbacks_due(self._prefix, queue), "-inf", repr(time.time())
            )
        ]
        if not ids:
            return []
        line = keys.line(self._prefix, queue)
        async with self._client.pipeline(transaction=False) as pipe:
            for request_id in ids:
                pipe.zscore(line, ENTRY_PREFIX + request_id)
            scores = await pipe.execute()
        in_line = sorted(
            (float(score), request_id)
            for score, request_id in zip(scores, ids, strict=True)
            if score is not None
        )
        found = [await self.get(request_id) for _, request_id in in_line[:limit]]
        return [request for request in found if request is not None]

    async def hold(self, queue: str, request_ids: Collection[str]) -> None:
        """Hold the turn of exactly these requests of ``queue`` (their number is on a
        call): they keep their place, and the line behind them does not wait for them."""
        held = keys.held(self._prefix, queue)
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.delete(held)
            if request_ids:
                pipe.sadd(held, *(ENTRY_PREFIX + request_id for request_id in request_ids))
            await pipe.execute()

    async def take(self, request_id: str, owner: str, lease_seconds: float) -> Lease | None:
        """Lease a pending, due request for dialling; None when another has it."""
        generation = await self._take(
            keys=[keys.callbacks_leased(self._prefix)],
            args=[
                request_id,
                owner,
                repr(time.time()),
                repr(lease_seconds),
                self._hash_prefix,
                self._due_prefix,
            ],
        )
        return Lease(request_id, owner, int(generation)) if generation else None

    def _holder(self, lease: Lease) -> list[str]:
        return [lease.request_id, lease.owner, self._hash_prefix, str(lease.generation)]

    async def renew(self, lease: Lease, lease_seconds: float) -> bool:
        """Keep the lease; False when it was lost (taken over, cancelled, finished)."""
        renewed = await self._renew(
            keys=[keys.callbacks_leased(self._prefix)],
            args=[*self._holder(lease), repr(time.time()), repr(lease_seconds)],
        )
        return bool(renewed)

    async def mark(self, lease: Lease, phase: str, record: dict[str, Any]) -> bool:
        """Write the call in flight (``phase``: dialling, answered, connected). For
        ``dialling`` this is the write ahead: False means do not dial (lease lost or
        run out)."""
        written = await self._mark(
            args=[
                *self._holder(lease),
                repr(time.time()),
                json.dumps({**record, "phase": phase}),
                phase,
            ],
        )
        return bool(written)

    async def untake(self, lease: Lease) -> bool:
        """Give a leased request back untried (no agent after all, nobody dialled)."""
        untaken = await self._untake(
            keys=[keys.callbacks_leased(self._prefix)],
            args=[*self._holder(lease), self._due_prefix, repr(time.time())],
        )
        return bool(untaken)

    async def reap_expired_leases(
        self,
        redial_allowance: int,
        max_attempts: int,
        per_failed_attempt_seconds: float = 0.0,
        *,
        journal: bool = False,
    ) -> list[Settled]:
        """Requests whose dispatcher stopped renewing (died, stalled) are settled: back
        to pending when nobody was dialled, else by what their call in flight reached
        (one pending again after an unknown outcome moves up by
        ``per_failed_attempt_seconds``, as after any failed attempt). With ``journal``,
        each settled call waits in the unjournaled hash until it is on its ticket."""
        expired = await self._client.zrangebyscore(
            keys.callbacks_leased(self._prefix), "-inf", repr(time.time())
        )
        settled = []
        for request_id in expired:
            result = await self._reap(
                keys=[
                    keys.callbacks_leased(self._prefix),
                    keys.callbacks_by_number(self._prefix),
                    keys.callbacks_closed(self._prefix),
                    keys.callbacks_unjournaled(self._prefix),
                ],
                args=[
                    str(request_id),
                    self._hash_prefix,
                    self._due_prefix,
                    self._line_prefix,
                    repr(time.time()),
                    str(redial_allowance),
                    str(max_attempts),
                    repr(per_failed_attempt_seconds),
                    "1" if journal else "",
                ],
            )
            if result:
                found = json.loads(result)
                attempt = found["record"] or None  # cjson writes an empty table as {}
                settled.append(Settled(str(request_id), found["state"], attempt))
        return settled

    async def finish_attempt(
        self,
        lease: Lease,
        state: str,
        attempt: dict[str, Any],
        next_at: float,
        per_failed_attempt_seconds: float = 0.0,
        *,
        journal: bool = False,
    ) -> bool:
        """Record one attempt and move on to ``state`` (done, failed, or pending again
        at ``next_at``, standing ``per_failed_attempt_seconds`` earlier in line for each
        attempt so far). False when the lease was lost (taken over, cancelled). With
        ``journal``, the attempt waits in the unjournaled hash until it is on its ticket
        (:class:`callback.journal_outbox.UnjournaledAttempts`)."""
        now = time.time()
        record = {"at": now, **attempt}
        finished = await self._finish(
            keys=[
                keys.callbacks_leased(self._prefix),
                keys.callbacks_by_number(self._prefix),
                keys.callbacks_closed(self._prefix),
                keys.callbacks_unjournaled(self._prefix),
            ],
            args=[
                *self._holder(lease),
                state,
                str(attempt.get("outcome", "")),
                repr(next_at),
                json.dumps(record),
                repr(now),
                self._due_prefix,
                self._line_prefix,
                repr(per_failed_attempt_seconds),
                json.dumps({**record, "state": state}) if journal else "",
            ],
        )
        return bool(finished)

    async def cancel(self, request_id: str, reason: str) -> bool:
        cancelled = await self._cancel(
            keys=[
                keys.callbacks_leased(self._prefix),
                keys.callbacks_by_number(self._prefix),
                keys.callbacks_closed(self._prefix),
            ],
            args=[
                request_id,
                reason,
                repr(time.time()),
                self._hash_prefix,
                self._due_prefix,
                self._line_prefix,
            ],
        )
        return bool(cancelled)

    async def reprioritise(self, request_id: str, priority_seconds: float) -> bool:
        """An operator's seconds earlier in line (replacing theirs before; the value
        rule's seconds stay). False when the request is no longer pending or dialling."""
        done = await self._reprioritise(
            args=[request_id, self._hash_prefix, self._line_prefix, repr(priority_seconds)]
        )
        return bool(done)

    async def forget_closed(self, before: float, limit: int = 500) -> int:
        """Delete up to ``limit`` closed requests (with their history) closed before
        ``before`` (Unix seconds); returns how many. Active requests are never touched."""
        closed = keys.callbacks_closed(self._prefix)
        ids = await self._client.zrangebyscore(closed, "-inf", f"({before!r}", start=0, num=limit)
        await self._delete_closed([str(i) for i in ids])
        return len(ids)

    async def forget_number(self, number: str, reason: str) -> int:
        """Cancel the number's active request, then delete every closed request of it;
        returns how many requests were deleted."""
        pending = await self.pending_for(number)
        if pending is not None:
            await self.cancel(pending.id, reason)
        ids = [
            str(i) for i in await self._client.zrange(keys.callbacks_closed(self._prefix), 0, -1)
        ]
        mine = []
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            pipe = self._client.pipeline(transaction=False)
            for request_id in chunk:
                pipe.hget(keys.callback(self._prefix, request_id), "number")
            numbers = await pipe.execute()
            mine += [i for i, n in zip(chunk, numbers, strict=True) if n == number]
        await self._delete_closed(mine)
        return len(mine)

    async def _delete_closed(self, ids: list[str]) -> None:
        if not ids:
            return
        pipe = self._client.pipeline(transaction=True)
        for request_id in ids:
            key = keys.callback(self._prefix, request_id)
            pipe.delete(key, key + ":history")
        pipe.zrem(keys.callbacks_closed(self._prefix), *ids)
        await pipe.execute()

    async def pending_for(self, number: str) -> CallbackRequest | None:
        request_id = await self._client.hget(keys.callbacks_by_number(self._prefix), number)
        return None if request_id is None else await self.get(str(request_id))

    async def get(self, request_id: str) -> CallbackRequest | None:
        key = keys.callback(self._prefix, request_id)
        row = await self._client.hgetall(key)
        if not row:
            return None
        history = [json.loads(h) for h in await self._client.lrange(key + ":history", 0, -1)]
        return parse_request(cast(dict[str, str], row), history)

    async def listing(self, limit: int = 200) -> list[CallbackRequest]:
        """Active requests first (line order), then the most recently closed."""
        active: list[CallbackRequest] = []
        for queue in await self.queues():
            ids = await self._client.zrange(keys.line(self._prefix, queue), 0, -1)
            for entry in ids:
                if str(entry).startswith(ENTRY_PREFIX):
                    found = await self.get(str(entry)[len(ENTRY_PREFIX) :])
                    if found is not None:
                        active.append(found)
        closed_ids = await self._client.zrevrange(
            keys.callbacks_closed(self._prefix), 0, max(0, limit - len(active) - 1)
        )
        closed = [r for r in [await self.get(str(i)) for i in closed_ids] if r is not None]
        return (active + closed)[:limit]

    async def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(("pending", "dialling", "done", "failed", "cancelled"), 0)
        for request in await self.listing(limit=10_000):
            counts[request.state] = counts.get(request.state, 0) + 1
        return counts
