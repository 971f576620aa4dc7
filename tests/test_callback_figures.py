"""Callback figures on both ticket databases and through the spool: a callback attempt
that connects before its booking call's ticket is closed, or after, counts once.

Closing a ticket used to set ``callbacks_connected`` from the call's own events,
wiping the attempt appended before it (issue 16: ``callbacks_completed: 0`` while
the callback was done).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from support.tickets import database_at_version

from ivr.tickets.migrations import MIGRATIONS
from ivr.tickets.model import Disposition, TicketEnd, TicketEvent, TicketStart
from ivr.tickets.spool import SpooledTicketStore
from ivr.tickets.store import TicketStore, open_store

BASE = 1_700_000_000.0


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[TicketStore]:
    """The store without the webhook outbox (the plugin's ``store`` has it)."""
    opened = open_store(database_url)
    await opened.open()
    yield opened
    await opened.close()


def booking(call_id: str, at: float) -> TicketStart:
    return TicketStart(call_id, "w1", "8001", "200", "default", "v1", at)


def booked_end(at: float) -> TicketEnd:
    requested = TicketEvent(at - 20, "callback_requested", {"request": "r1", "number": "8009"})
    return TicketEnd(
        answered_at=at - 30,
        ended_at=at,
        disposition=Disposition.COMPLETED,
        end_reason="plan finished",
        nodes=("offer", "bye"),
        keys="11",
        recording_path=None,
        events=(requested, TicketEvent(at, "ended", {"disposition": "completed"})),
    )


def connected(at: float) -> list[TicketEvent]:
    return [
        TicketEvent(
            at, "callback_attempt", {"request": "r1", "attempt": 1, "outcome": "connected"}
        ),
        TicketEvent(at + 0.001, "callback_connected", {"request": "r1", "attempt": 1}),
    ]


async def test_a_callback_connected_before_or_after_its_booking_call_closes_counts_once(
    store: TicketStore,
) -> None:
    early = await store.create(booking("early", BASE))
    for event in connected(BASE + 40):  # another number, called while the booking call is up
        await store.append_event(early, event)
    await store.finish(early, booked_end(BASE + 60))
    late = await store.create(booking("late", BASE + 100))
    await store.finish(late, booked_end(BASE + 160))
    for event in connected(BASE + 200):
        await store.append_event(late, event)
    await store.finish(late, booked_end(BASE + 160))  # a closing written again changes nothing

    figures = await store.stats(BASE, BASE + 3600)
    assert (figures.callbacks_requested, figures.callbacks_completed) == (2, 2)
    ticket = await store.get(early)
    assert ticket is not None
    assert [e.kind for e in ticket.events] == [
        "callback_requested",
        "callback_attempt",
        "callback_connected",
        "ended",
    ], "events in time order, the appended ones among the call's own"


async def test_spooled_closing_and_attempt_replay_into_the_right_figures(tmp_path: Path) -> None:
    path = tmp_path / "tickets.db"
    spooled = SpooledTicketStore(open_store(f"sqlite:///{path}"), tmp_path / "spool", "w1")
    await spooled.open()
    ticket_id = await spooled.create(booking("spooled", BASE))
    blocker = sqlite3.connect(path, timeout=0)
    blocker.execute("BEGIN EXCLUSIVE")  # the database refuses writes: they are spooled
    try:
        for event in connected(BASE + 40):
            await spooled.append_event(ticket_id, event)
        await spooled.finish(ticket_id, booked_end(BASE + 60))
        assert spooled.spooled == 3
    finally:
        blocker.rollback()
        blocker.close()
    await spooled.close()
    replaying = SpooledTicketStore(open_store(f"sqlite:///{path}"), tmp_path / "spool", "w1")
    await replaying.open()  # a restart replays what the first run spooled
    replay = asyncio.create_task(replaying.run())
    try:
        async with asyncio.timeout(20):
            while replaying.spooled:
                await asyncio.sleep(0.05)
        figures = await replaying.stats(BASE, BASE + 3600)
        assert (figures.callbacks_requested, figures.callbacks_completed) == (1, 1)
    finally:
        replay.cancel()
        await asyncio.gather(replay, return_exceptions=True)
        await replaying.close()


async def test_migration_repairs_tickets_whose_closing_wiped_the_count(database_url: str) -> None:
    rows = [
        "INSERT INTO tickets (call_id, worker_id, caller_number, called_number, plan_name, "
        "plan_version, started_at, disposition, callbacks_requested) VALUES "
        "('old', 'w', '8001', '200', 'default', 'v0', 1600000000.5, 'completed', 1)",
        "INSERT INTO ticket_events VALUES (1, 0, 1600000001.0, 'callback_requested', '{}')",
        "INSERT INTO ticket_events VALUES (1, 1000000, 1600000009.0, 'callback_connected', '{}')",
    ]
    # the release before the repair
    version = next(i for i, m in enumerate(MIGRATIONS) if "appended_callbacks" in m.sqlite)
    database_at_version(database_url, version, rows)
    migrated = open_store(database_url)
    await migrated.open()
    try:
        figures = await migrated.stats(1600000000, 1600000001)
        assert (figures.callbacks_requested, figures.callbacks_completed) == (1, 1)
    finally:
        await migrated.close()
