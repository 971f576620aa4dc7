"""Worker heartbeats in Redis, and the sweeper that closes a dead worker's calls.

Every worker refreshes a key with a short TTL every second. A worker whose key
has expired is dead (killed, its host gone, cut off from Redis): every worker
runs a sweeper that finds live calls registered by a dead worker, takes each
one (a ZREM from the live-call index: exactly one sweeper wins a call), and
closes its ticket as ``failed`` with the reason. A worker that starts again
under the same id first sweeps the calls its previous run left behind.

Workers also publish their API address (``keys.workers``, kept after they
stop), so any node can fetch a recording from the node that has it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from ivr.config import HostPort
from ivr.media.recording import recording_path
from ivr.state import keys
from ivr.tickets.model import Disposition, TicketEnd, TicketEvent
from ivr.tickets.store import TicketStore

log = logging.getLogger(__name__)

BEAT_INTERVAL_SECONDS = 1.0
# A worker missing this long is dead: ten beats, so a worker whose event loop
# stalls a few seconds under a burst of new calls is not (3 s was: a sweeper failed
# a live worker's calls).
HEARTBEAT_TTL_SECONDS = 10
SWEEP_INTERVAL_SECONDS = 1.0
WORKER_LOST = "worker_lost"
WAV_HEADER_BYTES = 44


def advertised_api(listen: HostPort) -> str:
    """The API address other nodes use: ``http.listen``, or this host's name on a wildcard."""
    host = socket.gethostname() if listen.host in ("0.0.0.0", "::", "") else listen.host
    return f"http://{host}:{listen.port}"


@dataclass(frozen=True)
class WorkerInfo:
    worker_id: str
    api: str  # e.g. http://10.0.0.5:8080
    alive: bool


class Heartbeat:
    """This worker's heartbeat; ``run`` until cancelled, ``stop`` on a clean exit."""

    def __init__(self, client: aioredis.Redis, prefix: str, worker_id: str, api: str) -> None:
        self._client = client
        self._prefix = prefix
        self._worker_id = worker_id
        self._api = api
        self._failing = False

    async def announce(self) -> None:
        """Publish the API address and beat once (before any call is taken)."""
        info = {"api": self._api, "pid": os.getpid(), "started_at": time.time()}
        try:
            await self._client.hset(keys.workers(self._prefix), self._worker_id, json.dumps(info))
        except (RedisError, OSError) as exc:
            log.warning("cannot publish worker %s in Redis: %s", self._worker_id, exc)
        await self.beat()

    async def beat(self) -> None:
        key = keys.worker_heartbeat(self._prefix, self._worker_id)
        try:
            await self._client.set(key, str(time.time()), ex=HEARTBEAT_TTL_SECONDS)
        except (RedisError, OSError) as exc:
            if not self._failing:
                log.warning("heartbeat not written (other nodes may sweep our calls): %s", exc)
            self._failing = True
            return
        if self._failing:
            log.info("heartbeat written again")
        self._failing = False

    async def run(self) -> None:
        while True:
            await asyncio.sleep(BEAT_INTERVAL_SECONDS)
            await self.beat()

    async def stop(self) -> None:
        """A clean exit: no heartbeat left to wait out (every call is closed by now)."""
        try:
            await self._client.delete(keys.worker_heartbeat(self._prefix, self._worker_id))
        except (RedisError, OSError):
            pass  # it expires on its own


async def known_workers(client: aioredis.Redis, prefix: str) -> list[WorkerInfo]:
    """Every worker that ever announced itself, with its API and whether it beats now."""
    raw = {str(k): str(v) for k, v in (await client.hgetall(keys.workers(prefix))).items()}
    names = sorted(raw)
    async with client.pipeline(transaction=False) as pipe:
        for name in names:
            pipe.exists(keys.worker_heartbeat(prefix, name))
        alive = await pipe.execute()
    return [
        WorkerInfo(name, str(json.loads(raw[name]).get("api", "")), bool(beating))
        for name, beating in zip(names, alive, strict=True)
    ]


class Sweeper:
    """Closes live calls of dead workers: their tickets become ``failed``."""

    def __init__(
        self,
        client: aioredis.Redis,
        prefix: str,
        tickets: TicketStore,
        worker_id: str,
        recordings_dir: Path,
    ) -> None:
        self._client = client
        self._prefix = prefix
        self._tickets = tickets
        self._worker_id = worker_id
        self._recordings_dir = recordings_dir

    async def run(self) -> None:
        quiet_until = 0.0
        while True:
            await asyncio.sleep(SWEEP_INTERVAL_SECONDS)
            if time.monotonic() < quiet_until:
                continue
            try:
                await self.sweep()
            except (RedisError, OSError) as exc:
                # Every heartbeat lapsed in the outage: once Redis is back, give the
                # live workers time to beat again before any is taken for dead.
                quiet_until = time.monotonic() + 2 * HEARTBEAT_TTL_SECONDS
                log.debug("sweep skipped, Redis unreachable: %s", exc)
            except Exception:  # e.g. the ticket store down; sweep again later
                log.exception("sweep failed")

    async def close_leftovers(self) -> None:
        """Close calls still registered under this worker's id: a previous run of it
        died with them (call before taking calls). Never raises."""
        try:
            closed = await self.sweep(leftovers_of=self._worker_id)
        except (RedisError, OSError) as exc:
            log.warning("could not look for calls a previous run left live: %s", exc)
            return
        if closed:
            log.warning("closed %d calls a previous run of this worker left live", closed)

    async def sweep(self, leftovers_of: str | None = None) -> int:
        """Close the calls of dead workers (or, with ``leftovers_of``, that worker's
        calls, alive or not: for a worker starting again under its old id).
        Returns how many calls this sweeper closed."""
        client, prefix = self._client, self._prefix
        if leftovers_of is None:
            # Each second on every worker: look at the calls themselves only when a
            # worker that registered calls has no heartbeat (reading every live call
            # each time was a third of a loaded worker's event loop).
            registered = await client.smembers(keys.live_call_workers(prefix))
            lapsed = await self._dead(str(w) for w in registered) - {self._worker_id}
            if not lapsed:
                return 0
        call_ids = [str(c) for c in await client.zrange(keys.live_calls_index(prefix), 0, -1)]
        closed = 0
        if call_ids:
            closed = await self._close_calls_of_dead(call_ids, leftovers_of)
        if leftovers_of is None:
            # Their calls are closed: a worker still dead is looked at no more (one
            # that comes back registers itself again with its next call or refresh).
            still_dead = await self._dead(lapsed)
            if still_dead:
                await client.srem(keys.live_call_workers(prefix), *still_dead)
        return closed

    async def _close_calls_of_dead(self, call_ids: list[str], leftovers_of: str | None) -> int:
        client, prefix = self._client, self._prefix
        index = keys.live_calls_index(prefix)
        async with client.pipeline(transaction=False) as pipe:
            for call_id in call_ids:
                pipe.hgetall(keys.live_call(prefix, call_id))
            rows: list[dict[str, str]] = await pipe.execute()
        calls = {cid: row for cid, row in zip(call_ids, rows, strict=True) if row}
        owners = {row.get("worker_id", "") for row in calls.values()}
        if leftovers_of is not None:
            dead = {leftovers_of} & owners
        else:
            # Never this worker: after a Redis outage its own key may not be back yet.
            dead = await self._dead(owners) - {self._worker_id}
        closed = 0
        for call_id, row in calls.items():
            if row.get("worker_id", "") not in dead:
                continue
            # Exactly one sweeper removes the entry from the index, and closes the call.
            if await client.zrem(index, call_id) != 1:
                continue
            await client.delete(keys.live_call(prefix, call_id))
            await self._close_ticket(call_id, row)
            closed += 1
        return closed

    async def _dead(self, owners: Iterable[str]) -> set[str]:
        names = sorted(o for o in owners if o)
        async with self._client.pipeline(transaction=False) as pipe:
            for name in names:
                pipe.exists(keys.worker_heartbeat(self._prefix, name))
            beating = await pipe.execute()
        return {name for name, alive in zip(names, beating, strict=True) if not alive}

    async def _close_ticket(self, call_id: str, row: dict[str, str]) -> None:
        worker = row.get("worker_id", "?")
        ticket_id = int(row.get("ticket_id", "0") or 0)
        reason = f"worker {worker} stopped during the call (no heartbeat); call lost"
        log.warning("call %s (ticket %d): %s", call_id, ticket_id, reason)
        ticket = await self._tickets.get(ticket_id) if ticket_id else None
        if ticket is None or ticket.disposition is not Disposition.LIVE:
            return  # its worker closed it just before dying
        now = time.time()
        node = row.get("node", "")
        # The recording is valid up to the moment the worker died; it is on this
        # node's disk when the dead worker shared it (a worker of the same node).
        recording = recording_path(self._recordings_dir, ticket_id, ticket.start.started_at)
        await self._tickets.finish(
            ticket_id,
            TicketEnd(
                answered_at=ticket.answered_at or ticket.start.started_at,
                ended_at=now,
                disposition=Disposition.FAILED,
                end_reason=reason,
                nodes=(node,) if node else (),
                keys="",
                recording_path=str(recording) if _has_audio(recording) else None,
                events=(
                    TicketEvent(now, WORKER_LOST, {"worker": worker, "swept_by": self._worker_id}),
                ),
            ),
        )


def _has_audio(path: Path) -> bool:
    """A WAV with a header and audio (less than a second flushed leaves an empty file)."""
    try:
        return path.stat().st_size > WAV_HEADER_BYTES
    except OSError:
        return False
