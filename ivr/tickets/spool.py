"""A local journal that keeps every ticket write while the database is away.

:class:`SpooledTicketStore` wraps a :class:`~ivr.tickets.store.TicketStore`.
What a call or the dispatcher writes (``create``, ``finish``, ``append_event``,
``add_audit``) is never lost to a database outage: when the database refuses,
the write is appended to a journal file (one JSON line, fsynced) and counts as
done. :meth:`SpooledTicketStore.run` replays the journal in order once the
database answers again; every replayed step is idempotent, so a crash in the
middle replays the rest on the next start without doubling anything:

- a ticket created while the database was away gets a *provisional* id (a
  negative number) at once; the replay creates the real row (unless a row of
  that call is already there) and later writes to the provisional id go to it;
- a closing is an update (writing it twice changes nothing);
- an event or an audit row is skipped when an identical one is already stored.

While the database is away, every other method (searches, stats, an agent's
ticket update) raises :class:`TicketStoreError` at once, which the API answers
with 503, and :attr:`SpooledTicketStore.state` says ``unreachable``.

Files, under ``directory``: ``<worker>.jsonl`` (the journal), ``<worker>.state.json``
(how far the replay got, provisional -> real ids), ``<worker>.rejected`` (JSON
lines the database refused for ``REJECT_AFTER_SECONDS`` while answering reads: bad
data, not an outage; kept for a person to look at).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Coroutine
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypeVar

from ivr.exceptions import TicketStoreError, TicketStoreUnreachable
from ivr.tickets.audit import AuditEntry, AuditQuery
from ivr.tickets.forgetting import Forget, Forgotten
from ivr.tickets.history import IntervalCalls
from ivr.tickets.model import (
    Disposition,
    Handling,
    Ticket,
    TicketEnd,
    TicketEvent,
    TicketQuery,
    TicketStart,
    TicketUpdate,
)
from ivr.tickets.outbox import WEBHOOK, OutboxMessage
from ivr.tickets.stats import TicketStats
from ivr.tickets.store import TicketStore

log = logging.getLogger(__name__)

T = TypeVar("T")
Pending = Coroutine[Any, Any, T]  # not awaited when the database is known to be away
RETRY_SECONDS = 1.0  # how often an unreachable database is tried again
# A spooled write the database keeps refusing while it answers reads (bad data, not
# an outage) is set aside after this long, so it does not hold up every later write.
REJECT_AFTER_SECONDS = 600.0
# A call waits no longer than this for a ticket write (the ticket's creation comes
# before the answer); past it the write is spooled. The replay finds a row the
# database made after all, so nothing is doubled.
DIRECT_WRITE_SECONDS = 3.0


class SpooledTicketStore:
    def __init__(self, store: TicketStore, directory: Path, worker_id: str) -> None:
        self._store = store
        self._journal_path = directory / f"{worker_id}.jsonl"
        self._state_path = directory / f"{worker_id}.state.json"
        self._rejected_path = directory / f"{worker_id}.rejected"
        self._directory = directory
        self._pending: list[dict[str, Any]] = []
        self._done = 0  # the last journal seq replayed
        self._real_ids: dict[int, int] = {}  # provisional -> real ticket id
        self._last_provisional = 0
        self._down_since: float | None = None  # writes go to the journal since then
        self._unreachable_since: float | None = None  # reads fail at once since then
        self._head_failing_since: float | None = None
        self._opened = False  # the database was opened (else the replay opens it)
        self._lock = asyncio.Lock()  # one writer of the journal and the state at a time
        self._wake = asyncio.Event()

    @property
    def state(self) -> str:
        """``ok``, or why ticket writes are being spooled (for health)."""
        if self._unreachable_since is not None:
            since = time.strftime("%H:%M:%S", time.localtime(self._unreachable_since))
            return f"unreachable since {since}, {self.spooled} writes spooled"
        if self._pending:
            return f"{self.spooled} spooled writes being replayed"
        return "ok"

    @property
    def spooled(self) -> int:
        """Writes waiting in the journal for the database."""
        return len(self._pending)

    async def open(self) -> None:
        """Open the journal and the database. A database that does not answer is not
        an error: calls are taken and their writes spooled until it does (the replay
        opens it). Raises TicketStoreError when it answers and refuses us."""
        self._directory.mkdir(parents=True, exist_ok=True)
        self._load()
        try:
            await self._store.open()
            self._opened = True
        except TicketStoreUnreachable as exc:
            self._went_away(exc)
        if self._pending:
            log.warning("%d ticket writes spooled by a previous run; replaying", self.spooled)
            self._wake.set()

    async def close(self) -> None:
        if self._pending:
            log.warning(
                "%d ticket writes still spooled in %s (replayed at the next start)",
                self.spooled,
                self._journal_path,
            )
        await self._store.close()

    # -- writes that are never lost ------------------------------------------------

    async def create(self, start: TicketStart) -> int:
        if self._down_since is None:
            try:
                return await _soon(self._store.create(start))
            except TicketStoreError as exc:
                self._went_away(exc)
        async with self._lock:
            self._last_provisional -= 1
            provisional = self._last_provisional
            await self._append({"op": "create", "ticket": provisional, "start": asdict(start)})
        return provisional

    async def finish(self, ticket_id: int, end: TicketEnd) -> None:
        data = asdict(end)
        data["disposition"] = end.disposition.value
        await self._write(ticket_id, {"op": "finish", "end": data})

    async def append_event(self, ticket_id: int, event: TicketEvent) -> None:
        await self._write(ticket_id, {"op": "event", "event": asdict(event)})

    async def add_audit(self, entry: AuditEntry) -> None:
        if self._down_since is None and not self._pending:
            try:
                await _soon(self._store.add_audit(entry))
                return
            except TicketStoreError as exc:
                self._went_away(exc)
        async with self._lock:
            await self._append({"op": "audit", "entry": asdict(entry)})

    async def _write(self, ticket_id: int, entry: dict[str, Any]) -> None:
        """Straight to the database when it answers and nothing waits before this write."""
        ticket_id = self._real_ids.get(ticket_id, ticket_id)
        if self._down_since is None and not self._pending and ticket_id > 0:
            try:
                await _soon(self._apply({**entry, "ticket": ticket_id}, direct=True))
                return
            except TicketStoreError as exc:
                self._went_away(exc)
        async with self._lock:
            await self._append({**entry, "ticket": ticket_id})

    # -- everything else: the database or a clear error -----------------------------

    async def _read(self, work: Pending[T]) -> T:
        """``work`` on the database; at once a clear error while it is known to be away."""
        if self._unreachable_since is not None:
            work.close()
            raise TicketStoreError(f"ticket database {self.state}; try again when it is back")
        try:
            return await work
        except TicketStoreError:
            # The replay's probe clears this at once when the database answers.
            self._unreachable_since = self._unreachable_since or time.time()
            self._wake.set()
            raise

    async def get(self, ticket_id: int) -> Ticket | None:
        return await self._read(self._store.get(self._real_ids.get(ticket_id, ticket_id)))

    async def search(self, query: TicketQuery) -> list[Ticket]:
        return await self._read(self._store.search(query))

    async def count(self, query: TicketQuery) -> int:
        return await self._read(self._store.count(query))

    async def update(self, ticket_id: int, update: TicketUpdate) -> Ticket | None:
        return await self._read(
            self._store.update(self._real_ids.get(ticket_id, ticket_id), update)
        )

    async def queue_history(self, since: float, until: float) -> list[IntervalCalls]:
        return await self._read(self._store.queue_history(since, until))

    async def stats(self, since: float, until: float) -> TicketStats:
        return await self._read(self._store.stats(since, until))

    async def outbox_pending(self, limit: int, consumer: str = WEBHOOK) -> list[OutboxMessage]:
        return await self._read(self._store.outbox_pending(limit, consumer))

    async def set_external(self, ticket_id: int, external_id: str, url: str | None) -> None:
        await self._read(self._store.set_external(ticket_id, external_id, url))

    async def outbox_delivered(self, message_id: int) -> None:
        await self._read(self._store.outbox_delivered(message_id))

    async def outbox_failed(self, message_id: int, error: str, give_up: bool) -> None:
        await self._read(self._store.outbox_failed(message_id, error, give_up))

    async def forget(self, spec: Forget) -> Forgotten:
        return await self._read(self._store.forget(spec))

    async def audit_entries(self, query: AuditQuery) -> list[AuditEntry]:
        return await self._read(self._store.audit_entries(query))

    # -- the replay -------------------------------------------------------------------

    async def run(self) -> None:
        """Replay the journal whenever there is something in it; until cancelled."""
        while True:
            if not self._pending and self._unreachable_since is None:
                self._wake.clear()
                await self._wake.wait()
            try:
                if not self._opened:
                    await self._store.open()
                    self._opened = True
                await self._store.count(TicketQuery(limit=1))  # answers again?
            except TicketStoreError:
                self._unreachable_since = self._unreachable_since or time.time()
                await asyncio.sleep(RETRY_SECONDS)
                continue
            if self._unreachable_since is not None:
                log.info("ticket database answers again; %d writes to replay", self.spooled)
                self._unreachable_since = None
            if not await self._replay():
                await asyncio.sleep(RETRY_SECONDS)

    async def _replay(self) -> bool:
        """Replay in order; False when a write failed (tried again later)."""
        while self._pending:
            entry = self._pending[0]
            try:
                await self._apply(entry, direct=False)
            except TicketStoreError as exc:
                self._head_failing_since = self._head_failing_since or time.time()
                if time.time() - self._head_failing_since < REJECT_AFTER_SECONDS:
                    log.warning("spooled ticket write not replayed yet: %s", exc)
                    return False
                # Refused for this long while the database answers: it never will be taken.
                log.error("spooled ticket write refused, set aside: %s (%s)", exc, entry)
                await asyncio.to_thread(
                    _append_line, self._rejected_path, {**entry, "error": str(exc)}
                )
            self._head_failing_since = None
            async with self._lock:
                self._pending.pop(0)
                self._done = int(entry["seq"])
                if not self._pending:
                    self._journal_path.unlink(missing_ok=True)
                    self._done = 0
                self._save_state()
        if self._down_since is not None:
            log.info("ticket writes replayed; the database is in step again")
        self._down_since = None
        return True

    async def _apply(self, entry: dict[str, Any], direct: bool) -> None:
        """One write; ``direct`` writes are new, so there is nothing to look for first."""
        op = entry["op"]
        if op == "create":
            start = TicketStart(**entry["start"])
            real = None if direct else await self._existing(start)
            if real is None:
                real = await self._store.create(start)
            self._real_ids[int(entry["ticket"])] = real
            return
        if op == "audit":
            audit = AuditEntry(**entry["entry"])
            if direct or not await self._audit_exists(audit):
                await self._store.add_audit(audit)
            return
        ticket_id = int(entry["ticket"])
        ticket_id = self._real_ids.get(ticket_id, ticket_id)
        if op == "finish":
            await self._store.finish(ticket_id, _end(entry["end"]))
        elif op == "event":
            event = TicketEvent(**entry["event"])
            if direct or not await self._event_exists(ticket_id, event):
                await self._store.append_event(ticket_id, event)
        else:
            raise TicketStoreError(f"unknown spooled write {op!r}")

    async def _existing(self, start: TicketStart) -> int | None:
        """The ticket of ``start``'s call when an earlier replay created it already."""
        query = TicketQuery(since=start.started_at, until=start.started_at + 0.001, limit=500)
        for ticket in await self._store.search(query):
            if ticket.start.call_id == start.call_id:
                return ticket.id
        return None

    async def _event_exists(self, ticket_id: int, event: TicketEvent) -> bool:
        ticket = await self._store.get(ticket_id)
        stored = ticket.events if ticket is not None else ()
        return any(e.kind == event.kind and abs(e.at - event.at) < 1e-3 for e in stored)

    async def _audit_exists(self, audit: AuditEntry) -> bool:
        query = AuditQuery(since=audit.at, until=audit.at + 0.001, action=audit.action)
        return any(e.actor == audit.actor for e in await self._store.audit_entries(query))

    # -- files ------------------------------------------------------------------------

    def _went_away(self, exc: TicketStoreError) -> None:
        self._unreachable_since = self._unreachable_since or time.time()
        if self._down_since is None:
            self._down_since = time.time()
            log.error("ticket database away, ticket writes are spooled locally: %s", exc)
        self._wake.set()

    async def _append(self, entry: dict[str, Any]) -> None:
        seq = int(self._pending[-1]["seq"]) + 1 if self._pending else self._done + 1
        entry = {"seq": seq, **entry}
        await asyncio.to_thread(_append_line, self._journal_path, entry)
        self._pending.append(entry)
        self._save_state()
        self._wake.set()

    def _load(self) -> None:
        if self._state_path.exists():
            state = json.loads(self._state_path.read_text())
            self._done = int(state["done"])
            self._real_ids = {int(k): int(v) for k, v in state["real_ids"].items()}
            self._last_provisional = int(state["last_provisional"])
        if self._journal_path.exists():
            text = self._journal_path.read_text()
            if text and not text.endswith("\n"):
                # A crash in the middle of an append (never acknowledged): cut it off, so
                # the next append starts on a line of its own.
                text = text[: text.rfind("\n") + 1]
                log.error("torn last line of %s dropped", self._journal_path)
                self._journal_path.write_text(text)
            for line in text.splitlines():
                entry = json.loads(line)
                if int(entry["seq"]) > self._done:
                    self._pending.append(entry)
                if entry["op"] == "create":
                    self._last_provisional = min(self._last_provisional, int(entry["ticket"]))

    def _save_state(self) -> None:
        state = {
            "done": self._done,
            "real_ids": {str(k): v for k, v in self._real_ids.items()},
            "last_provisional": self._last_provisional,
        }
        temporary = self._state_path.with_suffix(".tmp")
        with temporary.open("w") as out:
            json.dump(state, out)
            out.flush()
            os.fsync(out.fileno())
        temporary.replace(self._state_path)


async def _soon(work: Pending[T]) -> T:
    try:
        return await asyncio.wait_for(work, DIRECT_WRITE_SECONDS)
    except TimeoutError as exc:
        raise TicketStoreError(f"no answer within {DIRECT_WRITE_SECONDS:.0f} s") from exc


def _append_line(path: Path, entry: dict[str, Any]) -> None:
    with path.open("a") as out:
        out.write(json.dumps(entry) + "\n")
        out.flush()
        os.fsync(out.fileno())


def _end(data: dict[str, Any]) -> TicketEnd:
    return TicketEnd(
        **{
            **data,
            "disposition": Disposition(data["disposition"]),
            "nodes": tuple(data["nodes"]),
            "events": tuple(TicketEvent(**e) for e in data["events"]),
            "handling": Handling(**data["handling"]),
        }
    )
