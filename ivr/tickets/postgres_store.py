"""Tickets in PostgreSQL through psycopg 3 (async, a small connection pool).

The statements are the shared ones of :mod:`ivr.tickets.sql`; only the
placeholders change (``?`` becomes ``%s``). psycopg types stay in this module.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from functools import lru_cache
from typing import Any, TypeVar
from urllib.parse import urlsplit

import psycopg
from psycopg_pool import AsyncConnectionPool

from ivr.exceptions import TicketStoreError, TicketStoreUnreachable
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
Connection = psycopg.AsyncConnection[tuple[Any, ...]]

DIALECT = sql.Dialect(
    name="postgresql",
    bucket_15min="CAST(FLOOR(started_at / 900) AS BIGINT)",  # CAST alone would round
)
POOL_SIZE = 8
CONNECT_TIMEOUT_SECONDS = 10.0
MIGRATION_LOCK = 7_000_001  # pg_advisory_xact_lock key: workers migrate one at a time


@lru_cache(maxsize=256)
def _pg(statement: str) -> str:
    return statement.replace("%", "%%").replace("?", "%s")


# Server replies that mean "not now" rather than "not like this".
_NOT_NOW = (
    "the database system is starting up",
    "the database system is shutting down",
    "the database system is in recovery mode",
    "too many clients",
)


def _unreachable(exc: psycopg.Error) -> bool:
    """Whether connecting failed for want of a server (refused, timed out, starting),
    not because it refused us (wrong database, role or password: a FATAL reply)."""
    text = str(exc)
    return "FATAL:" not in text or any(reason in text for reason in _NOT_NOW)


def _where(url: str) -> str:
    """The database named without its password, for error messages."""
    parts = urlsplit(url)
    return f"postgresql://{parts.hostname or 'localhost'}:{parts.port or 5432}{parts.path}"


class PostgresTicketStore:
    def __init__(
        self, url: str, webhook_outbox: bool = False, helpdesk_outbox: bool = False
    ) -> None:
        self._url = url
        self._consumers = outbox.consumers(webhook_outbox, helpdesk_outbox)
        self._outbox = bool(self._consumers)
        self._pool: AsyncConnectionPool[Connection] | None = None

    async def _run(self, work: Callable[[Connection], Awaitable[T]]) -> T:
        """``work`` in one transaction on a pooled connection."""
        if self._pool is None:
            raise TicketStoreError("ticket store is not open")
        try:
            async with self._pool.connection() as conn, conn.transaction():
                return await work(conn)
        except (psycopg.Error, TimeoutError) as exc:
            raise TicketStoreError(f"ticket database {_where(self._url)}: {exc}") from exc

    async def open(self) -> None:
        # One direct connection first: a wrong host, database or role fails at
        # once with the server's reason, where the pool would retry until its timeout.
        try:
            first = await psycopg.AsyncConnection.connect(
                self._url, autocommit=True, connect_timeout=int(CONNECT_TIMEOUT_SECONDS)
            )
            async with first, first.transaction():
                await self._migrate(first)
        except psycopg.Error as exc:
            error = TicketStoreUnreachable if _unreachable(exc) else TicketStoreError
            raise error(f"cannot open ticket database {_where(self._url)}: {exc}") from exc
        pool: AsyncConnectionPool[Connection] = AsyncConnectionPool(
            self._url,
            min_size=1,
            max_size=POOL_SIZE,
            open=False,
            timeout=CONNECT_TIMEOUT_SECONDS,
            kwargs={"autocommit": True},  # transactions are explicit (conn.transaction())
            # A connection the server dropped (a restart) is replaced, not handed out.
            check=AsyncConnectionPool.check_connection,
        )
        try:
            await pool.open(wait=True, timeout=CONNECT_TIMEOUT_SECONDS)
        except (psycopg.Error, TimeoutError) as exc:  # PoolTimeout is a psycopg.Error
            await pool.close()
            raise TicketStoreUnreachable(
                f"cannot open ticket database {_where(self._url)}: {exc}"
            ) from exc
        self._pool = pool

    @staticmethod
    async def _migrate(conn: Connection) -> None:
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        await conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        row = await (await conn.execute("SELECT MAX(version) FROM schema_version")).fetchone()
        current = (row[0] if row else None) or 0
        for version, migration in enumerate(MIGRATIONS[current:], start=current + 1):
            for statement in statements(migration.postgres):
                await conn.execute(statement)  # no parameters: '%' is taken as written
            await conn.execute("INSERT INTO schema_version (version) VALUES (%s)", (version,))

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    @staticmethod
    async def _all(
        conn: Connection, statement: str, params: Sequence[Any]
    ) -> list[tuple[Any, ...]]:
        cursor = await conn.execute(_pg(statement), params)
        return await cursor.fetchall()

    async def _ticket(self, conn: Connection, ticket_id: int, full: bool) -> Ticket | None:
        rows = await self._all(conn, sql.SELECT_TICKET, (ticket_id,))
        if not rows:
            return None
        if not full:
            return sql.ticket_from_row(rows[0])
        events = await self._all(conn, sql.SELECT_EVENTS, (ticket_id,))
        notes = await self._all(conn, sql.SELECT_NOTES, (ticket_id,))
        return sql.ticket_from_row(
            rows[0], sql.events_from_rows(events), sql.notes_from_rows(notes)
        )

    async def _post(
        self,
        conn: Connection,
        ticket_id: int,
        event: str,
        extra: dict[str, Any] | None = None,
        from_helpdesk: bool = False,
    ) -> None:
        ticket = await self._ticket(conn, ticket_id, full=False)
        if ticket is not None:
            payload = outbox.payload(event, ticket, extra)
            for consumer in outbox.consumers_of(event, self._consumers, from_helpdesk):
                params = (ticket_id, event, payload, time.time(), consumer)
                await conn.execute(_pg(sql.INSERT_OUTBOX), params)

    async def create(self, start: TicketStart) -> int:
        async def insert(conn: Connection) -> int:
            rows = await self._all(conn, sql.INSERT_TICKET, sql.insert_params(start))
            ticket_id = int(rows[0][0])
            if self._outbox:
                await self._post(conn, ticket_id, outbox.CREATED)
            return ticket_id

        return await self._run(insert)

    async def finish(self, ticket_id: int, end: TicketEnd) -> None:
        async def update(conn: Connection) -> None:
            await conn.execute(_pg(sql.FINISH_TICKET), sql.finish_params(ticket_id, end))
            events = sql.event_rows(ticket_id, end)
            if events:
                async with conn.cursor() as cursor:
                    await cursor.executemany(_pg(sql.UPSERT_EVENT), events)
            if self._outbox:
                await self._post(conn, ticket_id, outbox.CLOSED)

        await self._run(update)

    async def append_event(self, ticket_id: int, event: TicketEvent) -> None:
        params = (ticket_id, event.at, event.kind, json.dumps(event.detail), ticket_id)

        async def insert(conn: Connection) -> None:
            await conn.execute(_pg(sql.APPEND_EVENT), params)
            if event.kind in sql.COUNT_APPENDED:
                await conn.execute(_pg(sql.COUNT_APPENDED[event.kind]), (ticket_id,))
            if self._outbox and event.kind == outbox.ATTEMPT_EVENT_KIND:
                extra = {"attempt": event.detail}
                await self._post(conn, ticket_id, outbox.CALLBACK_ATTEMPT, extra)

        await self._run(insert)

    async def get(self, ticket_id: int) -> Ticket | None:
        return await self._run(lambda conn: self._ticket(conn, ticket_id, full=True))

    async def search(self, query: TicketQuery) -> list[Ticket]:
        statement, params = sql.search_sql(query)

        async def select(conn: Connection) -> list[Ticket]:
            return [sql.ticket_from_row(row) for row in await self._all(conn, statement, params)]

        return await self._run(select)

    async def count(self, query: TicketQuery) -> int:
        statement, params = sql.count_sql(query)

        async def select(conn: Connection) -> int:
            return int((await self._all(conn, statement, params))[0][0])

        return await self._run(select)

    async def update(self, ticket_id: int, update: TicketUpdate) -> Ticket | None:
        async def write(conn: Connection) -> Ticket | None:
            # FOR UPDATE: two agents resolving at once post one "resolved" message.
            locked = await self._all(
                conn, "SELECT work_status FROM tickets WHERE id=? FOR UPDATE", (ticket_id,)
            )
            if not locked:
                return None
            was_resolved = locked[0][0] == WorkStatus.RESOLVED.value
            for statement, params in sql.update_statements(ticket_id, update):
                await conn.execute(_pg(statement), params)
            resolved = update.work_status is WorkStatus.RESOLVED
            if self._outbox and resolved and not was_resolved:
                await self._post(conn, ticket_id, outbox.RESOLVED, None, update.from_helpdesk)
            return await self._ticket(conn, ticket_id, full=True)

        return await self._run(write)

    async def queue_history(self, since: float, until: float) -> list[IntervalCalls]:
        statement, params = history_query(DIALECT, since, until)

        async def select(conn: Connection) -> list[IntervalCalls]:
            return history_rows(await self._all(conn, statement, params))

        return await self._run(select)

    async def stats(self, since: float, until: float) -> TicketStats:
        queries = stats_queries(DIALECT, since, until)

        async def read(conn: Connection) -> list[list[tuple[Any, ...]]]:
            # One snapshot for every figure.
            await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            return [await self._all(conn, q, params) for q, params in queries]

        results = await self._run(read)
        # Grouping utterances is CPU work: off the event loop.
        return await asyncio.to_thread(assemble, since, until, results)

    async def outbox_pending(
        self, limit: int, consumer: str = outbox.WEBHOOK
    ) -> list[OutboxMessage]:
        async def select(conn: Connection) -> list[OutboxMessage]:
            rows = await self._all(conn, sql.SELECT_OUTBOX, (consumer, limit))
            return [OutboxMessage(*row) for row in rows]

        return await self._run(select)

    async def set_external(self, ticket_id: int, external_id: str, url: str | None) -> None:
        async def write(conn: Connection) -> None:
            await conn.execute(_pg(sql.SET_EXTERNAL), (external_id, url, ticket_id))

        await self._run(write)

    async def outbox_delivered(self, message_id: int) -> None:
        async def delete(conn: Connection) -> None:
            await conn.execute(_pg(sql.DELETE_OUTBOX), (message_id,))

        await self._run(delete)

    async def outbox_failed(self, message_id: int, error: str, give_up: bool) -> None:
        async def mark(conn: Connection) -> None:
            if give_up:
                await conn.execute(_pg(sql.OUTBOX_DEAD), (error, time.time(), message_id))
            else:
                await conn.execute(_pg(sql.OUTBOX_FAILED), (error, message_id))

        await self._run(mark)

    async def forget(self, spec: Forget) -> Forgotten:
        async def read(conn: Connection) -> list[list[tuple[Any, ...]]]:
            return [await self._all(conn, q, params) for q, params in forgetting.reads(spec)]

        batches, forgotten = forgetting.writes(spec, await self._run(read))

        async def write(conn: Connection) -> None:
            async with conn.cursor() as cursor:
                for statement, rows in batches:
                    await cursor.executemany(_pg(statement), rows)

        await self._run(write)
        return forgotten

    async def add_audit(self, entry: AuditEntry) -> None:
        async def insert(conn: Connection) -> None:
            await conn.execute(_pg(audit.INSERT_AUDIT), audit.insert_params(entry))

        await self._run(insert)

    async def audit_entries(self, query: AuditQuery) -> list[AuditEntry]:
        statement, params = audit.select_sql(query)
        rows = await self._run(lambda conn: self._all(conn, statement, params))
        return audit.entries_from_rows(rows)
