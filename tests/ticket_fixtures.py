"""Helpers for the ticket API, stats and webhook tests: a real service on either
database, and tickets written straight into that database through the store."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import RunningService, start_service

from ivr.tickets.migrations import MIGRATIONS, statements
from ivr.tickets.model import (
    Disposition,
    Handling,
    TicketEnd,
    TicketEvent,
    TicketStart,
)
from ivr.tickets.store import open_store

DATABASES = ["sqlite", "postgresql"]


@dataclass
class ServiceOnDatabase:
    service: RunningService
    database_url: str


def database_url_for(kind: str, workdir: Path, request: pytest.FixtureRequest) -> str:
    if kind == "sqlite":
        return f"sqlite:///{workdir / 'tickets.db'}"
    make: Callable[[], str] = request.getfixturevalue("postgres_database")
    return make()


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
