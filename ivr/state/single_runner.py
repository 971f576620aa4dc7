"""One worker of the cluster runs a job at a time, elected by a lease in Redis.

:meth:`SingleRunner.run` waits for the lease (``SET NX PX``), runs the job while it
holds it, renews it every third of its length (only while it is still ours, in
Lua), and cancels the job the moment the lease is lost or could not be renewed
before it ran out, so two workers never run it at once for longer than a renewal
takes to fail. A worker that dies leaves the lease to expire; another takes it.
With Redis away nobody runs the job: for the help desk's delivery (the job's
purpose today) waiting is safe, doubling an RT ticket is not.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Coroutine
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from ivr.state import keys

log = logging.getLogger(__name__)

# KEYS[1]: the lease; ARGV[1]: our token, ARGV[2]: its length (ms). 1 when renewed.
RENEW = """
local lease_key = KEYS[1]
if redis.call('GET', lease_key) == ARGV[1] then
    return redis.call('PEXPIRE', lease_key, ARGV[2])
end
return 0
"""
# KEYS[1]: the lease; ARGV[1]: our token. Given back only while it is ours.
RELEASE = """
local lease_key = KEYS[1]
if redis.call('GET', lease_key) == ARGV[1] then
    return redis.call('DEL', lease_key)
end
return 0
"""


class SingleRunner:
    def __init__(
        self,
        client: aioredis.Redis,
        prefix: str,
        job: str,
        worker_id: str,
        lease_seconds: float = 15.0,
    ) -> None:
        self._client = client
        self._key = keys.single_runner(prefix, job)
        self._job = job
        self._token = f"{worker_id}/{uuid.uuid4().hex[:8]}"
        self._lease_ms = int(lease_seconds * 1000)
        self._renew = client.register_script(RENEW)
        self._release = client.register_script(RELEASE)
        self.holding = False

    async def run(self, job: Callable[[], Coroutine[Any, Any, Any]]) -> None:
        """Run ``job`` whenever this worker holds the lease; until cancelled."""
        while True:
            if await self._acquire():
                log.info("%s: this worker runs it now", self._job)
                await self._hold(job)
            await asyncio.sleep(self._lease_ms / 3000)

    async def _acquire(self) -> bool:
        try:
            return bool(await self._client.set(self._key, self._token, nx=True, px=self._lease_ms))
        except (RedisError, OSError):
            return False

    async def _hold(self, job: Callable[[], Coroutine[Any, Any, Any]]) -> None:
        self.holding = True
        task = asyncio.create_task(job(), name=self._job)
        renewed_at = time.monotonic()
        try:
            while not task.done():
                await asyncio.wait({task}, timeout=self._lease_ms / 3000)
                if task.done():
                    break
                try:
                    if not await self._renew(keys=[self._key], args=[self._token, self._lease_ms]):
                        log.warning("%s: the lease went to another worker; stopped here", self._job)
                        break
                    renewed_at = time.monotonic()
                except (RedisError, OSError) as exc:
                    if time.monotonic() - renewed_at > self._lease_ms / 1000 * 2 / 3:
                        log.warning(
                            "%s: lease not renewed (Redis: %s); stopped here", self._job, exc
                        )
                        break
        finally:
            self.holding = False
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
            except Exception:  # the job's own failure: logged, the lease given back
                log.exception("%s failed", self._job)
            with contextlib.suppress(RedisError, OSError):
                await self._release(keys=[self._key], args=[self._token])
