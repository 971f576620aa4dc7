"""Leases on callback bookings, against a real Redis: a dispatcher whose lease ran out or
was taken over is fenced off, and a call left in flight by a dead dispatcher is
settled from what it wrote ahead (connected: done; unknown: redialled within the
allowance, with an apology; nobody dialled: back in line, uncounted)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from callback.ledger import AttemptLedger
from callback.requests import CallbackRequests, Lease

SHORT = 0.2  # seconds of lease; the tests wait past it with asyncio.sleep(0.3)


@pytest.fixture
async def requests(shared_redis_url: str) -> AsyncIterator[CallbackRequests]:
    client = aioredis.from_url(shared_redis_url, decode_responses=True)
    yield CallbackRequests(client, f"ivrtest:leases:{uuid.uuid4().hex[:8]}:")
    await client.aclose()


async def leased(requests: CallbackRequests, owner: str, seconds: float = 60) -> Lease:
    request_id = await requests.request("8001", "q", time.time() - 10)
    lease = await requests.take(request_id, owner, seconds)
    assert lease is not None
    return lease


async def expire(lease: Lease) -> None:
    await asyncio.sleep(SHORT + 0.1)


async def test_a_dispatcher_taken_over_can_neither_dial_nor_write(
    requests: CallbackRequests,
) -> None:
    stalled = await leased(requests, "d1", SHORT)
    await expire(stalled)
    [settled] = await requests.reap_expired_leases(1, 3)
    assert (settled.state, settled.attempt) == ("pending", None), "nobody was dialled"
    successor = await requests.take(stalled.request_id, "d2", 60)
    assert successor is not None and successor.generation == stalled.generation + 1

    request = await requests.get(stalled.request_id)
    assert request is not None
    late = AttemptLedger(requests, stalled, request)
    assert not await late.dialling(), "the stalled dispatcher placed a call after its successor"
    assert not await requests.renew(stalled, 60)
    assert not await requests.untake(stalled)
    assert not await requests.finish_attempt(stalled, "done", {"outcome": "connected"}, 0)
    # The same name does not help: a restarted dispatcher gets a new generation.
    assert not await requests.finish_attempt(
        Lease(stalled.request_id, "d2", stalled.generation), "done", {"outcome": "connected"}, 0
    )
    assert await AttemptLedger(requests, successor, request).dialling()
    assert await requests.finish_attempt(successor, "done", {"outcome": "connected"}, 0)
    done = await requests.get(stalled.request_id)
    assert done is not None and (done.state, done.attempts) == ("done", 1)


async def test_no_call_is_written_ahead_once_the_lease_has_run_out(
    requests: CallbackRequests,
) -> None:
    lease = await leased(requests, "d1", SHORT)
    request = await requests.get(lease.request_id)
    assert request is not None
    await expire(lease)  # not reaped yet: nobody else has it, but the time is up
    assert not await AttemptLedger(requests, lease, request).dialling()


async def test_a_call_that_connected_before_its_dispatcher_died_is_done(
    requests: CallbackRequests,
) -> None:
    lease = await leased(requests, "d1", SHORT)
    request = await requests.get(lease.request_id)
    assert request is not None
    ledger = AttemptLedger(requests, lease, request)
    assert await ledger.dialling()
    ledger.connected("call-1@host")
    await ledger.written()
    await expire(lease)
    [settled] = await requests.reap_expired_leases(1, 3)
    assert settled.state == "done"
    assert settled.attempt is not None
    assert settled.attempt["outcome"] == "connected"
    assert (settled.attempt["call_id"], settled.attempt["lost_dispatcher"]) == ("call-1@host", "d1")
    done = await requests.get(lease.request_id)
    assert done is not None and (done.state, done.attempts, done.in_flight) == ("done", 1, None)
    assert await requests.pending_for("8001") is None
    assert await requests.take(lease.request_id, "d2", 60) is None, "dialled again"


async def test_an_unknown_outcome_is_redialled_within_the_allowance_with_an_apology(
    requests: CallbackRequests,
) -> None:
    lease = await leased(requests, "d1", SHORT)
    for expected, apologise in (("pending", True), ("failed", False)):
        request = await requests.get(lease.request_id)
        assert request is not None
        ledger = AttemptLedger(requests, lease, request)
        assert await ledger.dialling()
        ledger.answered("call@host")
        await ledger.written()
        await expire(lease)
        [settled] = await requests.reap_expired_leases(1, 3)
        assert settled.attempt is not None and settled.attempt["outcome"] == "unknown"
        assert settled.state == expected, settled
        after = await requests.get(lease.request_id)
        assert after is not None and after.apologise is apologise
        if expected == "pending":
            taken = await requests.take(lease.request_id, "d2", SHORT)
            assert taken is not None
            lease = taken
    final = await requests.get(lease.request_id)
    assert final is not None
    assert (final.attempts, final.cut_offs) == (2, 2)
    assert [h["outcome"] for h in final.history] == ["unknown", "unknown"]


async def test_redials_never_pass_max_attempts(requests: CallbackRequests) -> None:
    lease = await leased(requests, "d1", SHORT)
    request = await requests.get(lease.request_id)
    assert request is not None
    ledger = AttemptLedger(requests, lease, request)
    assert await ledger.dialling()
    await expire(lease)
    [settled] = await requests.reap_expired_leases(5, 1)
    assert settled.state == "failed", "its one attempt was used by the lost call"
