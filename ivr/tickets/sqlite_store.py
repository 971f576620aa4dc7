"""Tickets in SQLite (WAL), on one dedicated thread so the event loop never blocks."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from dataclasses import astuple
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from ivr.exceptions import TicketStoreError
from ivr.tickets.model import (
    Disposition,
    Handling,
    Ticket,
    TicketEnd,
    TicketEvent,
    TicketQuery,
    TicketStart,
)

T = TypeVar("T")

# Each entry moves the schema one version up; never edit a released entry.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE tickets (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        call_id TEXT NOT NULL,
        worker_id TEXT NOT NULL,
        caller_number TEXT NOT NULL,
        called_number TEXT NOT NULL,
        plan_name TEXT NOT NULL,
        plan_version TEXT NOT NULL,
        started_at REAL NOT NULL,
        answered_at REAL,
        ended_at REAL,
        disposition TEXT NOT NULL,
        end_reason TEXT,
        nodes TEXT NOT NULL DEFAULT '[]',
        keys TEXT NOT NULL DEFAULT '',
        recording_path TEXT
    );
    CREATE INDEX tickets_by_caller ON tickets (caller_number, started_at);
    CREATE INDEX tickets_by_start ON tickets (started_at);
    CREATE INDEX tickets_by_call_id ON tickets (call_id);
    CREATE TABLE ticket_events (
        ticket_id INTEGER NOT NULL REFERENCES tickets (id),
        seq INTEGER NOT NULL,
        at REAL NOT NULL,
        kind TEXT NOT NULL,
        detail TEXT NOT NULL,
        PRIMARY KEY (ticket_id, seq)
    );
    """,
    """
    ALTER TABLE tickets ADD COLUMN variables TEXT NOT NULL DEFAULT '{}';
    ALTER TABLE tickets ADD COLUMN satisfaction INTEGER;
    """,
    """
    ALTER TABLE tickets ADD COLUMN intent TEXT;
    ALTER TABLE tickets ADD COLUMN queue TEXT;
    ALTER TABLE tickets ADD COLUMN wait_seconds REAL;
    ALTER TABLE tickets ADD COLUMN agent_id TEXT;
    ALTER TABLE tickets ADD COLUMN ring_attempts INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE tickets ADD COLUMN talk_seconds REAL;
    ALTER TABLE tickets ADD COLUMN transfer_method TEXT;
    """,
]

_COLUMNS = (
    "id, call_id, worker_id, caller_number, called_number, plan_name, plan_version, "
    "started_at, answered_at, ended_at, disposition, end_reason, nodes, keys, recording_path, "
    "variables, satisfaction, intent, queue, wait_seconds, agent_id, ring_attempts, "
    "talk_seconds, transfer_method"
)


class SqliteTicketStore:
    def __init__(self, path: str) -> None:
        self._path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tickets")
        self._db: sqlite3.Connection | None = None

    async def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        def in_thread() -> T:
            if self._db is None:
                raise TicketStoreError("ticket store is not open")
            try:
                with self._db:  # one transaction per unit of work
                    return work(self._db)
            except sqlite3.Error as exc:
                raise TicketStoreError(f"ticket database {self._path}: {exc}") from exc

        return await asyncio.get_running_loop().run_in_executor(self._executor, in_thread)

    async def open(self) -> None:
        def connect() -> None:
            if self._path != ":memory:":
                Path(self._path).parent.mkdir(parents=True, exist_ok=True)
            try:
                db = sqlite3.connect(self._path, isolation_level=None)
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")
                db.execute("PRAGMA busy_timeout=5000")
                db.isolation_level = "DEFERRED"
                self._migrate(db)
            except sqlite3.Error as exc:
                raise TicketStoreError(f"cannot open ticket database {self._path}: {exc}") from exc
            self._db = db

        await asyncio.get_running_loop().run_in_executor(self._executor, connect)

    @staticmethod
    def _migrate(db: sqlite3.Connection) -> None:
        with db:
            db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = db.execute("SELECT MAX(version) FROM schema_version").fetchone()
            current = row[0] or 0
            for version, script in enumerate(MIGRATIONS[current:], start=current + 1):
                for statement in filter(str.strip, script.split(";")):
                    db.execute(statement)
                db.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))

    async def close(self) -> None:
        def disconnect() -> None:
            if self._db is not None:
                self._db.close()
                self._db = None

        await asyncio.get_running_loop().run_in_executor(self._executor, disconnect)
        self._executor.shutdown(wait=True)

    async def create(self, start: TicketStart) -> int:
        def insert(db: sqlite3.Connection) -> int:
            cursor = db.execute(
                "INSERT INTO tickets (call_id, worker_id, caller_number, called_number, "
                "plan_name, plan_version, started_at, disposition) VALUES (?,?,?,?,?,?,?,?)",
                (
                    start.call_id,
                    start.worker_id,
                    start.caller_number,
                    start.called_number,
                    start.plan_name,
                    start.plan_version,
                    start.started_at,
                    Disposition.LIVE.value,
                ),
            )
            return int(cursor.lastrowid or 0)

        return await self._run(insert)

    async def finish(self, ticket_id: int, end: TicketEnd) -> None:
        def update(db: sqlite3.Connection) -> None:
            db.execute(
                "UPDATE tickets SET answered_at=?, ended_at=?, disposition=?, end_reason=?, "
                "nodes=?, keys=?, recording_path=?, variables=?, satisfaction=?, intent=?, queue=?, "
                "wait_seconds=?, agent_id=?, ring_attempts=?, talk_seconds=?, transfer_method=? "
                "WHERE id=?",
                (
                    end.answered_at,
                    end.ended_at,
                    end.disposition.value,
                    end.end_reason,
                    json.dumps(list(end.nodes)),
                    end.keys,
                    end.recording_path,
                    json.dumps(end.variables),
                    end.satisfaction,
                    *astuple(end.handling),
                    ticket_id,
                ),
            )
            db.executemany(
                "INSERT OR REPLACE INTO ticket_events (ticket_id, seq, at, kind, detail) "
                "VALUES (?,?,?,?,?)",
                [
                    (ticket_id, seq, e.at, e.kind, json.dumps(e.detail))
                    for seq, e in enumerate(end.events)
                ],
            )

        await self._run(update)

    async def get(self, ticket_id: int) -> Ticket | None:
        def select(db: sqlite3.Connection) -> Ticket | None:
            row = db.execute(f"SELECT {_COLUMNS} FROM tickets WHERE id=?", (ticket_id,)).fetchone()
            if row is None:
                return None
            events = db.execute(
                "SELECT at, kind, detail FROM ticket_events WHERE ticket_id=? ORDER BY seq",
                (ticket_id,),
            ).fetchall()
            return _ticket(row, tuple(TicketEvent(a, k, json.loads(d)) for a, k, d in events))

        return await self._run(select)

    async def search(self, query: TicketQuery) -> list[Ticket]:
        clauses: list[str] = []
        params: list[Any] = []
        if query.caller is not None:
            clauses.append("caller_number = ?")
            params.append(query.caller)
        if query.disposition is not None:
            clauses.append("disposition = ?")
            params.append(query.disposition.value)
        if query.since is not None:
            clauses.append("started_at >= ?")
            params.append(query.since)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        sql = (
            f"SELECT {_COLUMNS} FROM tickets {where} "
            "ORDER BY started_at DESC, id DESC LIMIT ? OFFSET ?"
        )

        def select(db: sqlite3.Connection) -> list[Ticket]:
            rows = db.execute(sql, (*params, query.limit, query.offset)).fetchall()
            return [_ticket(row, ()) for row in rows]

        return await self._run(select)


def _ticket(row: tuple[Any, ...], events: tuple[TicketEvent, ...]) -> Ticket:
    (
        ticket_id,
        call_id,
        worker_id,
        caller,
        called,
        plan_name,
        plan_version,
        started_at,
        answered_at,
        ended_at,
        disposition,
        end_reason,
        nodes,
        keys,
        recording_path,
        variables,
        satisfaction,
        *handling,
    ) = row
    return Ticket(
        id=ticket_id,
        start=TicketStart(call_id, worker_id, caller, called, plan_name, plan_version, started_at),
        disposition=Disposition(disposition),
        answered_at=answered_at,
        ended_at=ended_at,
        end_reason=end_reason,
        nodes=tuple(json.loads(nodes)),
        keys=keys,
        recording_path=recording_path,
        events=events,
        variables=json.loads(variables),
        satisfaction=satisfaction,
        handling=Handling(*handling),
    )
