"""Live calls of every worker, shared through Redis.

Best effort by design: when Redis is unreachable a call goes on, the registry
logs once per outage, and this worker's own calls are still reported.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import asdict, dataclass, field
from typing import Any, cast

import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline
from redis.exceptions import RedisError

from ivr.state import keys

log = logging.getLogger(__name__)

# A worker that dies leaves its entries behind; they expire unless refreshed.
ENTRY_TTL_SECONDS = 4 * 3600
# After a failure, calls stop waiting on Redis for this long (one try per window),
# so an unreachable server costs a call at most one timeout, not one per step.
OUTAGE_BACKOFF_SECONDS = 5.0
REFRESH_INTERVAL_SECONDS = 2.0  # well inside the orphan check's two looks
MAX_PATH_STEPS = 50  # the latest nodes a call entered, kept on its entry (a menu may loop)


@dataclass
class LiveCall:
    call_id: str
    worker_id: str
    ticket_id: int
    caller_number: str
    called_number: str
    plan: str
    started_at: float
    node: str = ""
    path: list[tuple[str, float]] = field(default_factory=list)  # (node, entered at), in order


class LiveCallRegistry:
    def __init__(self, client: aioredis.Redis | None, prefix: str, worker_id: str) -> None:
        self._client = client
        self._prefix = prefix
        self._worker_id = worker_id
        self._local: dict[str, LiveCall] = {}
        self._stored_at: dict[str, float] = {}  # call id -> when its entry was last written
        self._redis_ok = True
        self._skip_until = 0.0

    def _usable(self) -> aioredis.Redis | None:
        """The client, unless Redis failed within the last backoff window."""
        return self._client if time.monotonic() >= self._skip_until else None

    async def add(self, call: LiveCall) -> None:
        self._local[call.call_id] = call
        await self._store(call)

    async def update_node(self, call_id: str, node: str) -> None:
        """Only the node field: a call enters several nodes a minute, and the refresh
        writes the whole entry again if Redis lost it meanwhile."""
        call = self._local.get(call_id)
        if call is None:
            return
        call.node = node
        call.path.append((node, time.time()))
        del call.path[:-MAX_PATH_STEPS]
        client = self._usable()
        if client is None:
            return
        key = keys.live_call(self._prefix, call_id)
        try:
            async with client.pipeline(transaction=False) as pipe:
                pipe.hset(key, mapping={"node": node, "path": json.dumps(call.path)})
                pipe.expire(key, ENTRY_TTL_SECONDS)  # never an entry without one
                await pipe.execute()
            self._mark(True)
        except (RedisError, OSError) as exc:
            self._mark(False, exc)

    async def remove(self, call_id: str) -> None:
        self._local.pop(call_id, None)
        self._stored_at.pop(call_id, None)
        client = self._usable()
        if client is None:
            return
        try:
            async with client.pipeline(transaction=True) as pipe:
                pipe.delete(keys.live_call(self._prefix, call_id))
                pipe.zrem(keys.live_calls_index(self._prefix), call_id)
                await pipe.execute()
            self._mark(True)
        except (RedisError, OSError) as exc:
            self._mark(False, exc)

    async def refresh(self) -> None:
        """Store again this worker's calls that Redis lost (a restart without
        persistence) or missed (an outage), and those whose entry would expire."""
        client = self._usable()
        if client is None or not self._local:
            return
        calls = list(self._local.values())
        try:
            scores = await client.zmscore(
                keys.live_calls_index(self._prefix), [call.call_id for call in calls]
            )
            renew_before = time.monotonic() - ENTRY_TTL_SECONDS / 2
            stored = [
                call
                for call, score in zip(calls, scores, strict=True)
                if score is None or self._stored_at.get(call.call_id, 0.0) < renew_before
            ]
            async with client.pipeline(transaction=False) as pipe:
                for call in stored:
                    self._queue_store(pipe, call)
                self._queue_registered(pipe)
                await pipe.execute()
            self._mark(True)
        except (RedisError, OSError) as exc:
            self._mark(False, exc)
            return
        for call in stored:
            if call.call_id not in self._local:  # ended meanwhile: do not leave it behind
                await self.remove(call.call_id)

    async def refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(REFRESH_INTERVAL_SECONDS)
            await self.refresh()

    async def _store(self, call: LiveCall) -> None:
        client = self._usable()
        if client is None:
            return
        try:
            async with client.pipeline(transaction=True) as pipe:
                self._queue_store(pipe, call)
                self._queue_registered(pipe)
                await pipe.execute()
            self._mark(True)
        except (RedisError, OSError) as exc:
            self._mark(False, exc)

    def _queue_store(self, pipe: Pipeline, call: LiveCall) -> None:
        self._stored_at[call.call_id] = time.monotonic()
        key = keys.live_call(self._prefix, call.call_id)
        pipe.hset(
            key,
            mapping={k: json.dumps(v) if k == "path" else str(v) for k, v in asdict(call).items()},
        )
        pipe.expire(key, ENTRY_TTL_SECONDS)
        pipe.zadd(keys.live_calls_index(self._prefix), {call.call_id: call.started_at})

    def _queue_registered(self, pipe: Pipeline) -> None:
        """This worker among those with live calls (where the sweeper looks first)."""
        pipe.sadd(keys.live_call_workers(self._prefix), self._worker_id)

    def _mark(self, ok: bool, exc: Exception | None = None) -> None:
        if not ok:
            self._skip_until = time.monotonic() + OUTAGE_BACKOFF_SECONDS
        if ok and not self._redis_ok:
            log.info("Redis is back; live calls are shared again")
        elif not ok and self._redis_ok:
            log.warning("Redis unreachable, live calls not shared: %s", exc)
        self._redis_ok = ok

    async def get(self, call_id: str) -> dict[str, Any] | None:
        """One live call of any worker with its ``path`` (the nodes it entered, ``{node,
        at}``), or None when it is not live; this worker's own when Redis is away."""
        client = self._usable()
        if client is not None:
            try:
                row = await client.hgetall(keys.live_call(self._prefix, call_id))
                self._mark(True)
                return _decode(cast(dict[str, str], row), with_path=True) if row else None
            except (RedisError, OSError) as exc:
                self._mark(False, exc)
        call = self._local.get(call_id)
        return None if call is None else _local_row(call, with_path=True)

    async def list_all(self) -> tuple[list[dict[str, Any]], bool]:
        """(live calls of all workers, complete). Incomplete means only this worker's.
        Without their paths (see :meth:`get`): a dashboard reads this every second."""
        client = self._usable()
        if client is not None:
            try:
                index = keys.live_calls_index(self._prefix)
                ids: list[str] = [str(i) for i in await client.zrange(index, 0, -1)]
                async with client.pipeline(transaction=False) as pipe:
                    for call_id in ids:
                        pipe.hgetall(keys.live_call(self._prefix, call_id))
                    rows = await pipe.execute()
                self._mark(True)
                stale = [cid for cid, row in zip(ids, rows, strict=True) if not row]
                if stale:
                    await client.zrem(index, *stale)
                return [_decode(row) for row in rows if row], True
            except (RedisError, OSError) as exc:
                self._mark(False, exc)
        return [_local_row(call) for call in self._local.values()], False

    def local_count(self) -> int:
        return len(self._local)


def _steps(path: list[Any]) -> list[dict[str, Any]]:
    return [{"node": str(node), "at": float(at)} for node, at in path]


def _local_row(call: LiveCall, with_path: bool = False) -> dict[str, Any]:
    row = asdict(call)
    del row["path"]
    return {**row, "path": _steps(call.path)} if with_path else row


def _decode(row: dict[str, str], with_path: bool = False) -> dict[str, Any]:
    """A call's Redis hash as the API shows it; ``with_path``: ``path``, a list of
    ``{node, at}``."""
    decoded: dict[str, Any] = dict(row)
    path = decoded.pop("path", None)
    if with_path:
        try:
            decoded["path"] = _steps(json.loads(path or "[]"))
        except (ValueError, TypeError):
            decoded["path"] = []  # an entry written before paths were kept
    decoded["ticket_id"] = int(row.get("ticket_id", 0) or 0)
    decoded["started_at"] = float(row.get("started_at", 0) or 0)
    decoded["duration_seconds"] = round(time.time() - decoded["started_at"], 1)
    return decoded
