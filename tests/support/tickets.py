"""Tickets for the ticket API, stats, webhook and migration tests: a real service on
either database, tickets written straight into that database through the store, and a
database as an older release left it."""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ivr.tickets.migrations import MIGRATIONS, statements
from ivr.tickets.model import (
    Disposition,
    Handling,
    TicketEnd,
    TicketEvent,
    TicketStart,
)
from ivr.tickets.store import open_store
from support.databases import database_url_for
from support.service import RunningService, start_service

BASE = 1_700_000_000.0  # when the store tests' tickets start


def start(caller: str = "1001", at: float = BASE, call_id: str = "c") -> TicketStart:
    """A call's ticket as the service opens it (worker w1, number 4357, plan default)."""
    return TicketStart(call_id, "w1", caller, "4357", "default", "v1", at)


def end(
    *,
    disposition: Disposition = Disposition.COMPLETED,
    utterances: tuple[tuple[str, str | None], ...] = (),
    variables: dict[str, str] | None = None,
    handling: Handling | None = None,
    satisfaction: int | None = None,
    at: float = BASE + 60,
) -> TicketEnd:
    """How that call ended at ``at``: answered 59 s before, through welcome and main_menu."""
    events = [TicketEvent(at - 50, "node", {"node": "welcome"})]
    events += [
        TicketEvent(at - 40 + i, "utterance", {"text": text, "intent": intent, "confidence": 0.8})
        for i, (text, intent) in enumerate(utterances)
    ]
    return TicketEnd(
        answered_at=at - 59,
        ended_at=at,
        disposition=disposition,
        end_reason="hangup",
        nodes=("welcome", "main_menu"),
        keys="1",
        recording_path="recordings/x.wav",
        events=tuple(events),
        variables=variables or {},
        satisfaction=satisfaction,
        handling=handling or Handling(),
    )


@dataclass
class ServiceOnDatabase:
    service: RunningService
    database_url: str


def service_on(
    kind: str, workdir: Path, request: pytest.FixtureRequest, env: dict[str, str] | None = None
) -> ServiceOnDatabase:
    url = database_url_for(kind, workdir, request)
    service = start_service(workdir, env={"DATABASE_URL": url, **(env or {})})
    return ServiceOnDatabase(service, url)


@dataclass
class Seed:
    """One ticket to write: when it started, who called, how it went."""

    caller: str
    started_at: float
    disposition: Disposition = Disposition.COMPLETED
    variables: dict[str, str] = field(default_factory=dict)
    handling: Handling = field(default_factory=Handling)
    satisfaction: int | None = None
    utterances: tuple[tuple[str, str | None], ...] = ()  # (text, intent or None)
    event_kinds: tuple[str, ...] = ()  # extra events, e.g. callback_requested


def seed_tickets(database_url: str, seeds: list[Seed]) -> list[int]:
    """Write ``seeds`` through the store interface; their ids, in order."""

    async def write() -> list[int]:
        store = open_store(database_url)
        await store.open()
        try:
            ids = []
            for number, seed in enumerate(seeds):
                at = seed.started_at
                ticket_id = await store.create(
                    TicketStart(f"seed-{number}-{at}", "seeder", seed.caller, "4357", "p", "v", at)
                )
                events = [
                    TicketEvent(at + 1 + i, "utterance", {"text": t, "intent": i_, "confidence": 1})
                    for i, (t, i_) in enumerate(seed.utterances)
                ] + [TicketEvent(at + 20, kind, {}) for kind in seed.event_kinds]
                await store.finish(
                    ticket_id,
                    TicketEnd(
                        answered_at=at,
                        ended_at=at + 30,
                        disposition=seed.disposition,
                        end_reason="seeded",
                        nodes=("welcome",),
                        keys="",
                        recording_path=None,
                        events=tuple(events),
                        variables=seed.variables,
                        satisfaction=seed.satisfaction,
                        handling=seed.handling,
                    ),
                )
                ids.append(ticket_id)
            return ids
        finally:
            await store.close()

    return asyncio.run(write())


def database_at_version(database_url: str, version: int, rows: list[str]) -> None:
    """A database as release ``version`` left it (its first ``version`` migrations)
    holding ``rows`` (SQL inserts), for testing the migrations after it."""
    if database_url.startswith("sqlite"):
        db = sqlite3.connect(database_url.removeprefix("sqlite:///"))
        db.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        for number, migration in enumerate(MIGRATIONS[:version], start=1):
            for statement in statements(migration.sqlite):
                db.execute(statement)
            db.execute("INSERT INTO schema_version VALUES (?)", (number,))
        for row in rows:
            db.execute(row)
        db.commit()
        db.close()
        return
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as pg:
        pg.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        for number, migration in enumerate(MIGRATIONS[:version], start=1):
            for statement in statements(migration.postgres):
                pg.execute(statement)
            pg.execute("INSERT INTO schema_version VALUES (%s)", (number,))
        for row in rows:
            pg.execute(row)
