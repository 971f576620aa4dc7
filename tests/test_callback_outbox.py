"""The journal's outbox, against a real Redis and a real ticket store (SQLite): an attempt
settled in Redis by a dispatcher that died before writing its ticket is written there
by another dispatcher after the grace period, once, even when the first writer comes
back late; a record the ticket store refuses waits for the next round."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from callback.ledger import AttemptLedger
from callback.requests import CallbackRequest, CallbackRequests, Lease
from ivr.agents.callback_booking import TicketAttempts
from ivr.tickets.model import TicketStart
from ivr.tickets.store import TicketStore, open_store

GRACE = 0.2  # seconds a record waits for its own dispatcher before another writes it


@pytest.fixture
async def requests(shared_redis_url: str) -> AsyncIterator[CallbackRequests]:
    client = aioredis.from_url(shared_redis_url, decode_responses=True)
    yield CallbackRequests(client, f"ivrtest:outbox:{uuid.uuid4().hex[:8]}:")
    await client.aclose()


@pytest.fixture
async def tickets(tmp_path: Path) -> AsyncIterator[TicketStore]:
    store = open_store(f"sqlite:///{tmp_path / 'tickets.db'}")
    await store.open()
    yield store
    await store.close()


async def booked(
    requests: CallbackRequests, tickets: TicketStore, lease_seconds: float = 60
) -> tuple[CallbackRequest, Lease]:
    ticket_id = await tickets.create(TicketStart("booking", "w1", "8001", "4357", "p", "v1", 0))
    request_id = await requests.request("8001", "q", time.time() - 10, ticket_id=ticket_id)
    lease = await requests.take(request_id, "d1", lease_seconds)
    request = await requests.get(request_id)
    assert lease is not None and request is not None
    return request, lease


async def attempts_on(tickets: TicketStore, ticket_id: int) -> list[dict[str, object]]:
    ticket = await tickets.get(ticket_id)
    assert ticket is not None
    return [e.detail for e in ticket.events if e.kind == "callback_attempt"]


async def test_an_outcome_settled_by_a_dispatcher_that_died_reaches_its_ticket_once(
    requests: CallbackRequests, tickets: TicketStore
) -> None:
    request, lease = await booked(requests, tickets)
    record = {"attempt": 1, "outcome": "connected", "call_id": "c-1", "dispatcher": "d1"}
    # The dispatcher settles the attempt in Redis, then dies before the ticket write.
    assert await requests.finish_attempt(lease, "done", record, 0, journal=True)
    journal = TicketAttempts(tickets)
    assert await requests.unjournaled.drain("d2", GRACE, requests.get, journal.attempt) == 0, (
        "written by another before its own dispatcher had its grace"
    )
    await asyncio.sleep(GRACE + 0.1)
    assert await requests.unjournaled.drain("d2", GRACE, requests.get, journal.attempt) == 1
    [written] = await attempts_on(tickets, request.ticket_id)
    assert (written["outcome"], written["state"], written["call_id"]) == (
        "connected",
        "done",
        "c-1",
    )
    assert written["journaled_by"] == "d2"
    assert await requests.unjournaled.pending() == {}
    # The first dispatcher was only slow: its own write finds the record there.
    assert await journal.attempt(request, {**record, "state": "done"})
    assert len(await attempts_on(tickets, request.ticket_id)) == 1


async def test_a_call_settled_after_its_dispatcher_was_lost_reaches_its_ticket(
    requests: CallbackRequests, tickets: TicketStore
) -> None:
    request, lease = await booked(requests, tickets, lease_seconds=0.2)
    ledger = AttemptLedger(requests, lease, request)
    assert await ledger.dialling()
    await asyncio.sleep(0.3)  # its dispatcher died: the lease runs out
    # Whoever reaps it dies before writing the ticket; the outbox still has the call.
    [settled] = await requests.reap_expired_leases(1, 3, journal=True)
    assert settled.state == "pending"
    await asyncio.sleep(GRACE + 0.1)
    journal = TicketAttempts(tickets)
    assert await requests.unjournaled.drain("d3", GRACE, requests.get, journal.attempt) == 1
    [written] = await attempts_on(tickets, request.ticket_id)
    assert (written["outcome"], written["lost_dispatcher"], written["attempt"]) == (
        "unknown",
        "d1",
        1,
    )


async def test_a_record_the_ticket_store_refused_waits_for_the_next_round(
    requests: CallbackRequests, tickets: TicketStore, tmp_path: Path
) -> None:
    request, lease = await booked(requests, tickets)
    record = {"attempt": 1, "outcome": "no_answer", "dispatcher": "d1"}
    assert await requests.finish_attempt(lease, "pending", record, time.time() + 60, journal=True)
    await asyncio.sleep(GRACE + 0.1)
    away = open_store(f"sqlite:///{tmp_path / 'tickets.db'}")  # a store that is not open
    refused = TicketAttempts(away).attempt
    assert await requests.unjournaled.drain("d2", GRACE, requests.get, refused) == 0
    assert list(await requests.unjournaled.pending()) == [f"{request.id}:1"]
    journal = TicketAttempts(tickets)
    assert await requests.unjournaled.drain("d2", GRACE, requests.get, journal.attempt) == 1
    assert len(await attempts_on(tickets, request.ticket_id)) == 1


async def test_without_a_journal_nothing_waits(
    requests: CallbackRequests, tickets: TicketStore
) -> None:
    _, lease = await booked(requests, tickets)
    assert await requests.finish_attempt(lease, "done", {"attempt": 1, "outcome": "connected"}, 0)
    assert await requests.unjournaled.pending() == {}
