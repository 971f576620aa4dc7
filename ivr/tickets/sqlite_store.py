"""Tickets in SQLite (WAL), on one dedicated thread so the event loop never blocks."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from ivr.exceptions import TicketStoreError
from ivr.tickets import audit, forgetting, outbox, sql
from ivr.tickets.audit import AuditEntry, AuditQuery
from ivr.tickets.forgetting import Forget, Forgotten
from ivr.tickets.history import IntervalCalls, history_query, history_rows
from ivr.tickets.migrations import MIGRATIONS, statements
from ivr.tickets.model import (
    Ticket,
    TicketEnd,
    TicketEvent,
    TicketQuery,
    TicketStart,
    TicketUpdate,
    WorkStatus,
)
from ivr.tickets.outbox import OutboxMessage
from ivr.tickets.stats import TicketStats, assemble, stats_queries

T = TypeVar("T")

DIALECT = sql.Dialect(
    name="sqlite",
    bucket_15min="CAST(started_at / 900 AS INTEGER)",  # Unix times are positive: truncation
)


OPEN_LOCKED_SECONDS = 15.0  # how long an open waits out other processes opening the file


class SqliteTicketStore:
    def __init__(
        self, path: str, webhook_outbox: bool = False, helpdesk_outbox: bool = False
    ) -> None:
        self._path = path
        self._consumers = outbox.consumers(webhook_outbox, helpdesk_outbox)
        self._outbox = bool(self._consumers)
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
            deadline = time.monotonic() + OPEN_LOCKED_SECONDS
            while True:
                try:
                    self._db = self._connect()
                    return
                except sqlite3.OperationalError as exc:
                    # Processes opening a new file together: switching it to WAL is
                    # refused at once (no busy wait) while another holds it.
                    if "locked" not in str(exc) or time.monotonic() > deadline:
                        raise TicketStoreError(
                            f"cannot open ticket database {self._path}: {exc}"
                        ) from exc
                    time.sleep(0.2)
                except sqlite3.Error as exc:
                    raise TicketStoreError(
                        f"cannot open ticket database {self._path}: {exc}"
                    ) from exc

        await asyncio.get_running_loop().run_in_executor(self._executor, connect)

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self._path, isolation_level=None)
        try:
            db.execute("PRAGMA busy_timeout=5000")
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            self._migrate(db)
        except BaseException:
            db.close()
            raise
        db.isolation_level = "DEFERRED"
        return db

    @staticmethod
    def _migrate(db: sqlite3.Connection) -> None:
        # IMMEDIATE: two workers opening one file migrate one after the other.
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            current = db.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] or 0
            for version, migration in enumerate(MIGRATIONS[current:], start=current + 1):
                for statement in statements(migration.sqlite):
                    db.execute(statement)
                db.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    async def close(self) -> None:
        def disconnect() -> None:
            if self._db is not None:
                self._db.close()
                self._db = None

        await asyncio.get_running_loop().run_in_executor(self._executor, disconnect)
        self._executor.shutdown(wait=True)

    def _ticket(self, db: sqlite3.Connection, ticket_id: int, full: bool) -> Ticket | None:
        row = db.execute(sql.SELECT_TICKET, (ticket_id,)).fetchone()
        if row is None:
            return None
        if not full:
            return sql.ticket_from_row(row)
        events = db.execute(sql.SELECT_EVENTS, (ticket_id,)).fetchall()
        notes = db.execute(sql.SELECT_NOTES, (ticket_id,)).fetchall()
        return sql.ticket_from_row(row, sql.events_from_rows(events), sql.notes_from_rows(notes))

    def _post(
        self,
        db: sqlite3.Connection,
        ticket_id: int,
        event: str,
        extra: dict[str, Any] | None = None,
        from_helpdesk: bool = False,
    ) -> None:
        ticket = self._ticket(db, ticket_id, full=False)
        if ticket is not None:
            payload = outbox.payload(event, ticket, extra)
            for consumer in outbox.consumers_of(event, self._consumers, from_helpdesk):
                db.execute(sql.INSERT_OUTBOX, (ticket_id, event, payload, time.time(), consumer))

    async def create(self, start: TicketStart) -> int:
        def insert(db: sqlite3.Connection) -> int:
            ticket_id = int(db.execute(sql.INSERT_TICKET, sql.insert_params(start)).fetchone()[0])
            if self._outbox:
                self._post(db, ticket_id, outbox.CREATED)
            return ticket_id

        return await self._run(insert)

    async def finish(self, ticket_id: int, end: TicketEnd) -> None:
        def update(db: sqlite3.Connection) -> None:
            db.execute(sql.FINISH_TICKET, sql.finish_params(ticket_id, end))
            db.executemany(sql.UPSERT_EVENT, sql.event_rows(ticket_id, end))
            if self._outbox:
                self._post(db, ticket_id, outbox.CLOSED)

        await self._run(update)

    async def append_event(self, ticket_id: int, event: TicketEvent) -> None:
        detail = json.dumps(event.detail)
        params = (ticket_id, event.at, event.kind, detail, ticket_id)

        def insert(db: sqlite3.Connection) -> None:
            db.execute(sql.APPEND_EVENT, params)
            if event.kind in sql.COUNT_APPENDED:
                db.execute(sql.COUNT_APPENDED[event.kind], (ticket_id,))
            if self._outbox and event.kind == outbox.ATTEMPT_EVENT_KIND:
                self._post(db, ticket_id, outbox.CALLBACK_ATTEMPT, {"attempt": event.detail})

        await self._run(insert)

    async def get(self, ticket_id: int) -> Ticket | None:
        return await self._run(lambda db: self._ticket(db, ticket_id, full=True))

    async def search(self, query: TicketQuery) -> list[Ticket]:
        statement, params = sql.search_sql(query)

        def select(db: sqlite3.Connection) -> list[Ticket]:
            return [sql.ticket_from_row(row) for row in db.execute(statement, params)]

        return await self._run(select)

    async def count(self, query: TicketQuery) -> int:
        statement, params = sql.count_sql(query)
        return await self._run(lambda db: int(db.execute(statement, params).fetchone()[0]))

    async def update(self, ticket_id: int, update: TicketUpdate) -> Ticket | None:
        def write(db: sqlite3.Connection) -> Ticket | None:
            before = self._ticket(db, ticket_id, full=False)
            if before is None:
                return None
            for statement, params in sql.update_statements(ticket_id, update):
                db.execute(statement, params)
            resolved = update.work_status is WorkStatus.RESOLVED
            if self._outbox and resolved and before.work_status is not WorkStatus.RESOLVED:
                self._post(db, ticket_id, outbox.RESOLVED, None, update.from_helpdesk)
            return self._ticket(db, ticket_id, full=True)

        return await self._run(write)

    async def queue_history(self, since: float, until: float) -> list[IntervalCalls]:
        statement, params = history_query(DIALECT, since, until)
        return await self._run(lambda db: history_rows(db.execute(statement, params).fetchall()))

    async def stats(self, since: float, until: float) -> TicketStats:
        queries = stats_queries(DIALECT, since, until)

        def read(db: sqlite3.Connection) -> TicketStats:
            db.execute("BEGIN")  # one snapshot for every figure
            results = [db.execute(q, params).fetchall() for q, params in queries]
            return assemble(since, until, results)

        return await self._run(read)

    async def outbox_pending(
        self, limit: int, consumer: str = outbox.WEBHOOK
    ) -> list[OutboxMessage]:
        def select(db: sqlite3.Connection) -> list[OutboxMessage]:
            params = (consumer, limit)
            rows: list[tuple[Any, ...]] = db.execute(sql.SELECT_OUTBOX, params).fetchall()
            return [OutboxMessage(*row) for row in rows]

        return await self._run(select)

    async def outbox_delivered(self, message_id: int) -> None:
        await self._run(lambda db: db.execute(sql.DELETE_OUTBOX, (message_id,)))

    async def outbox_failed(self, message_id: int, error: str, give_up: bool) -> None:
        if give_up:
            params: tuple[Any, ...] = (error, time.time(), message_id)
            await self._run(lambda db: db.execute(sql.OUTBOX_DEAD, params))
        else:
            await self._run(lambda db: db.execute(sql.OUTBOX_FAILED, (error, message_id)))

    async def set_external(self, ticket_id: int, external_id: str, url: str | None) -> None:
        params = (external_id, url, ticket_id)
        await self._run(lambda db: db.execute(sql.SET_EXTERNAL, params))

    async def forget(self, spec: Forget) -> Forgotten:
        def read(db: sqlite3.Connection) -> list[list[tuple[Any, ...]]]:
            return [db.execute(q, params).fetchall() for q, params in forgetting.reads(spec)]

        batches, forgotten = forgetting.writes(spec, await self._run(read))

        def write(db: sqlite3.Connection) -> None:
            for statement, rows in batches:
                db.executemany(statement, rows)

        await self._run(write)
        return forgotten

    async def add_audit(self, entry: AuditEntry) -> None:
        params = audit.insert_params(entry)
        await self._run(lambda db: db.execute(audit.INSERT_AUDIT, params))

    async def audit_entries(self, query: AuditQuery) -> list[AuditEntry]:
        statement, params = audit.select_sql(query)
        rows = await self._run(lambda db: db.execute(statement, params).fetchall())
        return audit.entries_from_rows(rows)
